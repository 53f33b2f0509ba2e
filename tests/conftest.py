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


def pytest_collection_modifyitems(config, items):
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
