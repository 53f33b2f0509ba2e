"""Helpers and reference implementations for the open deep-learning course.

One module per idea; each is the reference for a chapter:
``runtime`` (device, seeds, run budgets, CPU threads), ``data`` (datasets and
loaders), ``train`` (fit/evaluate loops, early stopping), ``augment`` (batch
image augmentation), ``plot`` (figures), ``widgets`` (interactive explorers),
``activations`` and ``numpy_nn`` (from-scratch NumPy references), ``metrics``
and ``search`` (evaluation metrics, grid/random/Bayesian search and
cross-validation splits, from scratch; ``search_worker`` runs Optuna trials of a
shared study), ``grading`` (helpers for assignment tests), ``grader`` (the
instructors' grading pipeline).

The runtime helpers are importable from the package itself
(``from course_utils import budget``). They are loaded on first use, so that
code which needs no PyTorch (the grading pipeline, NumPy-only assignments'
tests) does not pay for importing it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["budget", "get_device", "is_fast", "run_mode", "seed_everything"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("course_utils.runtime"), name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
