"""`make book` clears jupyter-book's execution cache when the run budget changes (the cache is keyed by code only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbtools

VENV = Path(sys.executable).parents[1]


def book_cache(folder: Path, fast: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_FAST", "NBGRADER_EXECUTION", "COURSE_DEVICE"}}
    env["COURSE_DEVICE"] = "cpu"
    if fast:
        env["COURSE_FAST"] = "1"
    result = subprocess.run(["make", "--no-print-directory", "-C", str(folder), "-f", str(nbtools.ROOT / "Makefile"),
                             "book-cache", f"VENV={VENV}"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_execution_cache_is_cleared_when_the_budget_changes(tmp_path):
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    (cache / "outputs").write_text("filled before budgets were recorded")
    output = book_cache(tmp_path, fast=True)
    assert "clearing the execution cache filled with budget 'unknown'" in output
    assert not cache.exists()
    assert (tmp_path / "_build" / ".jupyter_cache.budget").read_text().strip() == "fast"

    cache.mkdir()
    (cache / "outputs").write_text("tiny-budget results")
    assert book_cache(tmp_path, fast=True) == ""  # same budget: the cache is kept
    assert (cache / "outputs").is_file()

    output = book_cache(tmp_path, fast=False)  # a full build after a fast one
    assert "run budget 'cpu': clearing the execution cache filled with budget 'fast'" in output
    assert not cache.exists()
