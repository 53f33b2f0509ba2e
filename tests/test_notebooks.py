"""Every chapter notebook executes without error with the fast budget (COURSE_FAST=1)."""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from nbclient import NotebookClient

import nbtools

CHAPTERS = sorted((nbtools.ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.notebooks


def test_chapters_are_named_by_number():
    assert CHAPTERS, "no book/NN_slug.ipynb chapter found"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_quietly(path, data_root, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_root))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name}: {time.perf_counter() - start:.1f} s with COURSE_FAST=1")
    noisy = [
        (i, out.text[:200])
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "stream" and out.name == "stderr" and "Warning" in out.text
    ]
    assert not noisy, f"{path.name} writes warnings to stderr: {noisy[:3]}"
    figures = sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert figures > 0, f"{path.name} draws no figure"
