"""Check what a reader gets in the website built (fast budget) by the ``site`` fixture (site_build.py)."""

from __future__ import annotations

import re

import pytest

import nbgrader_harness as H
import nbtools
from site_build import toc_files

pytestmark = pytest.mark.book


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


def test_figures_carry_no_unused_alpha_channel(site):
    """Opaque figures are stored as RGB (course_site.py): an always-opaque alpha channel is a tenth of the bytes."""
    from PIL import Image

    images = sorted((site / "_images").glob("*.png"))
    assert images
    for path in images:
        with Image.open(path) as image:
            assert image.mode != "RGBA" or image.getchannel("A").getextrema() != (255, 255), f"{path.name} is opaque RGBA"
