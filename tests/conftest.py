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


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A dataset cache private to this test session (the user's cache is never touched)."""
    return tmp_path_factory.mktemp("data")


# Groups that cost most, in the order `make test` should start them: with two pytest processes
# (pytest-xdist, `--dist loadgroup`) the suite ends soonest when the long groups start first and the short
# ones fill in behind them. Measured from `--durations=0` of a full run; a group not named here starts after
# these, in collection order.
HEAVY_FIRST = ("book", "assignment-a03_cnn_98", "tests/test_grader_bad_inputs.py", "tests/test_bench.py",
               "assignment-a04_augmentation", "assignment-a08_gan", "assignment-a01_neural_net_from_scratch",
               "assignment-a07_vae", "assignment-a06_evaluation_search", "assignment-a09_stackgan",
               "assignment-a02_optimizers", "tests/test_grader_process_faults.py", "tests/test_instructor_guide.py")


def test_group(item) -> str:
    """The tests that must run in one pytest process because they share a costly fixture.

    The website and every chapter execution ("book": the ``site`` and ``executed_chapters`` session fixtures);
    one assignment's round trips (``graded`` and ``run_in_process`` compute per assignment); otherwise the
    test's file, whose module fixtures its tests share.
    """
    path = item.path.relative_to(ROOT).as_posix()
    if {"site", "executed_chapters"} & set(item.fixturenames):
        return "book"
    params = getattr(getattr(item, "callspec", None), "params", {})
    if path == "tests/test_assignments.py" and "assignment" in params:
        return f"assignment-{params['assignment']}"
    return path


def pytest_collection_modifyitems(config, items):
    groups = {item.nodeid: test_group(item) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(groups[item.nodeid], len(rank)))  # stable: collection order otherwise

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
