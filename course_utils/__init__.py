"""Helpers and reference implementations for the open deep-learning course.

One module per idea; each is the reference for a chapter:
``runtime`` (device, seeds, run budgets), ``data`` (datasets and loaders),
``train`` (fit/evaluate loops), ``plot`` (figures), ``widgets`` (interactive
explorers), ``activations`` and ``numpy_nn`` (from-scratch NumPy references),
``grading`` (helpers for assignment tests).
"""

from course_utils.runtime import budget, get_device, is_fast, run_mode, seed_everything

__all__ = ["budget", "get_device", "is_fast", "run_mode", "seed_everything"]
__version__ = "0.1.0"
