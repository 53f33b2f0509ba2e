"""Build the website (fast budget) in a scratch copy and check what a reader gets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import nbgrader_harness as H
import nbtools

pytestmark = pytest.mark.book


def toc_files() -> list[str]:
    toc = yaml.safe_load((nbtools.ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def _cache_state() -> list[tuple[str, int]]:
    cache = nbtools.ROOT / "_build" / ".jupyter_cache"
    return sorted((str(p), p.stat().st_mtime_ns) for p in cache.rglob("*")) if cache.exists() else []


@pytest.fixture(scope="module")
def site(tmp_path_factory, data_root) -> Path:
    """Build a copy of the book so the real _build/ cache never sees fast-budget outputs."""
    cache_before = _cache_state()
    work = tmp_path_factory.mktemp("site")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(nbtools.ROOT / name, work / name)
    for folder in ("book", "assignments"):
        shutil.copytree(nbtools.ROOT / folder, work / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = dict(os.environ, COURSE_FAST="1", COURSE_DATA_DIR=str(data_root))
    env.pop("MPLBACKEND", None)
    jb = Path(sys.executable).parent / "jupyter-book"
    # run inside the copy: the execution cache path in _config.yml is relative to the working directory
    result = subprocess.run([str(jb), "build", "."], cwd=work, capture_output=True, text=True, env=env, timeout=1500)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"jupyter-book build failed:\n{log[-5000:]}"
    assert "Executing notebook failed" not in log and "Traceback" not in log, log[-5000:]
    assert _cache_state() == cache_before, "the test build wrote into the repository's execution cache"
    return work / "_build" / "html"


def test_every_toc_entry_has_a_page(site):
    missing = [f for f in toc_files() if not (site / f"{f}.html").is_file()]
    assert not missing, f"no page built for {missing}"


def test_every_notebook_page_has_a_colab_button(site):
    url, branch = nbtools.repository()
    repo_path = url.split("github.com/")[1]
    notebooks = [f for f in toc_files() if (nbtools.ROOT / f"{f}.ipynb").is_file()]
    assert len(notebooks) >= 3
    for f in notebooks:
        html = (site / f"{f}.html").read_text()
        expected = f"colab.research.google.com/github/{repo_path}/blob/{branch}/{f}.ipynb"
        assert expected in html, f"{f}.html has no Colab launch button ({expected})"


def test_no_executed_cell_errors(site):
    for f in toc_files():
        html = (site / f"{f}.html").read_text()
        assert "output traceback" not in html and "output error" not in html, f"{f}.html shows an error"


def test_chapters_show_figures(site):
    for f in toc_files():
        if re.match(r"book/\d\d_", f):
            assert "<img" in (site / f"{f}.html").read_text(), f"{f}.html has no figure"


def test_site_leaks_no_solution(site):
    assert not (site / "solutions").exists()
    secrets = set()
    for assignment in H.discover_assignments():
        nb = (H.SOLUTIONS / assignment / f"{assignment}.ipynb").read_text()
        secrets.update(re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)", nb))
        from test_assignments import solution_lines

        secrets.update(solution_lines(assignment))
    from bs4 import BeautifulSoup

    pages = [p for p in site.rglob("*") if p.suffix in {".html", ".ipynb", ".md", ".txt", ".py"}]
    assert pages
    for page in pages:
        raw = page.read_text(errors="ignore")
        text = BeautifulSoup(raw, "html.parser").get_text() if page.suffix == ".html" else raw
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text, f"{page} contains {marker}"
        for secret in secrets:
            assert secret not in text, f"{page} contains the solution line {secret!r}"
