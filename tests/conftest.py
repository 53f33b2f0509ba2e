"""Shared pytest set-up: repository paths, offline data cache, GPU marker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # for nbtools and the grading harness

from chapter_runs import executed_chapters  # noqa: E402,F401  every chapter executed once per session
from site_build import site  # noqa: E402,F401  the website, built once for the static and the browser checks
from nbgrader_harness import discover_assignments  # noqa: E402


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A dataset cache private to this test session (the user's cache is never touched)."""
    return tmp_path_factory.mktemp("data")


# `make test` runs in two pytest processes (pytest-xdist). Tests that share a costly fixture must run in one
# of them, or both would pay for it: the website and every chapter execution (the ``site`` and
# ``executed_chapters`` session fixtures, used only in BOOK_FILES), one assignment's round trips (``graded`` and
# ``run_in_process`` compute per assignment), and a file's module fixtures. ``pytest_xdist_make_scheduler``
# below hands out whole groups; the groups that cost most start first, so the short ones fill in behind them
# (HEAVY_FIRST, from the slowest tests of a full one-process run; the others follow in collection order).
BOOK_FILES = ("tests/test_book.py", "tests/test_notebooks.py", "tests/test_site_browser.py")
ASSIGNMENT_IDS = discover_assignments()
HEAVY_FIRST = ("book", "assignment-a03_cnn_98", "tests/test_grader_bad_inputs.py", "tests/test_bench.py",
               "assignment-a04_augmentation", "assignment-a08_gan", "assignment-a01_neural_net_from_scratch",
               "assignment-a07_vae", "assignment-a06_evaluation_search", "assignment-a09_stackgan",
               "assignment-a02_optimizers", "tests/test_grader_process_faults.py", "tests/test_instructor_guide.py")


def group_of(nodeid: str) -> str:
    """The group a test runs in, from its id alone (the controlling pytest process never sees the items)."""
    path = nodeid.split("::", 1)[0]
    if path in BOOK_FILES:
        return "book"
    if path == "tests/test_assignments.py":
        for assignment in ASSIGNMENT_IDS:
            if f"[{assignment}]" in nodeid or f"[{assignment}-" in nodeid:
                return f"assignment-{assignment}"
    return path


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before pytest-xdist's own schedulers; unused without it
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class CourseGroups(LoadScopeScheduling):
        """pytest-xdist's scope scheduling with the course's groups as the scopes."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return CourseGroups(config, log) if config.getvalue("dist") == "loadgroup" else None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if {"site", "executed_chapters"} & set(item.fixturenames) and group_of(item.nodeid) != "book":
            raise pytest.UsageError(f"{item.nodeid} uses the website or the chapter runs: list its file in "
                                    "BOOK_FILES (tests/conftest.py), so that one pytest process builds them")
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))  # stable: collection order otherwise

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_fast_leak(monkeypatch):
    """Unit tests see a neutral environment unless they set the budget themselves."""
    for name in ("COURSE_FAST", "NBGRADER_EXECUTION", "COURSE_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("MPLBACKEND", "Agg")
