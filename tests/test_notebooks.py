"""Every chapter notebook executes without error with the fast budget (COURSE_FAST=1).

The chapters are executed once per session by the ``executed_chapters`` fixture (chapter_runs.py), which the
website build reuses.
"""

from __future__ import annotations

import nbformat
import pytest

from chapter_runs import CHAPTERS

pytestmark = pytest.mark.notebooks


def test_chapters_are_named_by_number():
    assert CHAPTERS, "no book/NN_slug.ipynb chapter found"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_quietly(path, executed_chapters):
    run = executed_chapters.get(path)
    assert not run.error, f"{path.name} failed with COURSE_FAST=1:\n{run.error}"
    print(f"{path.name}: {run.seconds:.1f} s with COURSE_FAST=1 (chapters executed {executed_chapters.jobs} at a time)")
    nb = nbformat.read(run.executed, as_version=4)
    assert all(cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()), \
        f"{path.name}: some code cells were not executed"
    noisy = [
        (i, out.text[:200])
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "stream" and out.name == "stderr" and "Warning" in out.text
    ]
    assert not noisy, f"{path.name} writes warnings to stderr: {noisy[:3]}"
    figures = sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert figures > 0, f"{path.name} draws no figure"
