"""Committed notebooks are stored clean: no outputs, the generated Colab set-up cell first."""

import pytest

import nbtools

NOTEBOOKS = nbtools.course_notebooks()


def test_there_are_notebooks():
    assert any(p.parent.name == "book" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(nbtools.ROOT)))
def test_notebook_is_clean(path):
    assert nbtools.problems(path) == []


def test_setup_cell_uses_the_configured_repository():
    url, branch = nbtools.repository()
    source = nbtools.setup_cell_source()
    assert f"git+{url}@{branch}" in source
    assert source.count("http") == 1  # the URL is not written anywhere else in the cell


MARKDOWN = nbtools.markdown_files([]) + nbtools.course_notebooks(("solutions", "assignments"))


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(nbtools.ROOT)))
def test_display_math_renders_and_solutions_are_folded(path):
    """A $$ block needs a blank line before and after it; a solution is a folded <details> block."""
    assert nbtools.markdown_problems(path) == [], "fix with: python tests/nbtools.py fix-math; python tests/nbtools.py fold-solutions"
