"""The website's configuration: the workflow that publishes it, its address, the theme pins and overrides, the TOC."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import nbformat
import yaml

import nbtools
from site_build import toc_files

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


def _pinned(name: str) -> str:
    for line in (nbtools.ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.split("==")[1].strip()
    raise AssertionError(f"{name} is not pinned in requirements.txt")


def test_theme_pair_is_pinned_and_installed():
    """sphinx-book-theme 1.3 with pydata-sphinx-theme 0.17 leaves the menu button dead; this pair works."""
    for name in ("sphinx-book-theme", "pydata-sphinx-theme"):
        assert metadata.version(name) == _pinned(name), f"{name}: installed {metadata.version(name)}, pinned {_pinned(name)}"


def test_icon_override_follows_the_installed_theme():
    """book/_templates/static/webpack-macros.html is the theme's own file less Font Awesome's script and font preloads."""
    import pydata_sphinx_theme

    theirs = (Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "webpack-macros.html")
    ours = (nbtools.ROOT / "book" / "_templates" / "static" / "webpack-macros.html").read_text()
    ours = ours[ours.index("-#}\n") + 4:]  # drop our explanation
    expected = [line for line in theirs.read_text().splitlines(keepends=True)
                if not ("fontawesome" in line and line.rstrip().endswith("</script>"))
                and 'rel="preload" as="font"' not in line]
    assert ours == "".join(expected), ("the theme changed: copy its static/webpack-macros.html again, "
                                       "less the Font Awesome <script> and the font preloads")
    assert any("fontawesome" in line and "</script>" in line for line in theirs.read_text().splitlines()), \
        "the theme no longer loads Font Awesome as a script: the override may be unnecessary"


def _title(page: str) -> str:
    path = nbtools.ROOT / f"{page}.md"
    if path.is_file():
        text = path.read_text()
    else:
        nb = nbformat.read(nbtools.ROOT / f"{page}.ipynb", as_version=4)
        text = next(c.source for c in nb.cells if c.cell_type == "markdown")
    return next(line for line in text.splitlines() if line.startswith("# "))[2:].strip()


def test_no_part_repeats_its_heading_as_its_entry():
    toc = yaml.safe_load((nbtools.ROOT / "_toc.yml").read_text())
    assert toc_files()
    for part in toc["parts"]:
        caption = part["caption"].lower()
        for chapter in part["chapters"]:
            title = _title(chapter["file"]).lower()
            assert not (title.startswith(caption) or caption.startswith(title)), \
                f"the entry {title!r} repeats its part's heading {part['caption']!r} in the menu"


def test_the_published_build_executes_every_chapter():
    # The test build renders chapters executed by the executed_chapters fixture; the real build executes them.
    execute = config()["execute"]
    assert execute["execute_notebooks"] == "cache" and execute["cache"] == "_build/.jupyter_cache"
    assert execute["allow_errors"] is False and execute["timeout"] >= 300
    assert "assignments/*/*.ipynb" in execute["exclude_patterns"]
