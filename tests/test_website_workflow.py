"""The GitHub Actions workflow that publishes the website, and where the intro page says it lives."""

from __future__ import annotations

import re

import yaml

import nbtools

WORKFLOW = nbtools.ROOT / ".github" / "workflows" / "website.yml"


def config() -> dict:
    return yaml.safe_load((nbtools.ROOT / "_config.yml").read_text())


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_workflow_builds_with_make_book_and_deploys_to_pages():
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` key as True
    _, branch = nbtools.repository()
    assert branch in triggers["push"]["branches"], "the site must be rebuilt on every push to the published branch"
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"

    build = flow["jobs"]["build"]["steps"]
    runs = [step["run"].strip() for step in build if "run" in step]
    assert runs == ["make book"], f"the build must be exactly `make book` (what the README and the tests use), got {runs}"
    uses = [step.get("uses", "") for step in build]
    assert any(u.startswith("actions/checkout@") for u in uses)
    upload = next(step for step in build if step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert uses.index(upload["uses"]) > next(i for i, s in enumerate(build) if s.get("run", "").strip() == "make book")

    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert any(step.get("uses", "").startswith("actions/deploy-pages@") for step in deploy["steps"])


def test_site_address_matches_the_repository():
    url, _ = nbtools.repository()
    owner, name = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", url).groups()
    assert config()["html"]["baseurl"] == f"https://{owner.lower()}.github.io/{name}/", "GitHub Pages serves the site there"


def test_intro_says_where_the_site_and_the_repository_live():
    intro = (nbtools.ROOT / "book" / "intro.md").read_text()
    url, _ = nbtools.repository()
    assert config()["html"]["baseurl"] in intro
    assert url in intro
