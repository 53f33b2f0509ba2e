"""Where a notebook runs and how much work it should do there.

Every chapter and assignment asks this module three questions:
which device to use, how to make runs repeatable, and how big a run to make.
Run sizes come in three budgets:

* ``fast``: tests and autograding (``COURSE_FAST=1`` or nbgrader's
  ``NBGRADER_EXECUTION``): tiny settings, seconds per notebook.
* ``cpu``: the default without a GPU: about a minute per chapter.
* ``gpu``: the default with CUDA: the full settings.

It also owns the CPU thread policy (:func:`apply_thread_policy`), applied once
when this module is first imported, so every chapter and graded notebook runs
with the same number of PyTorch threads and none sets it itself.
"""

from __future__ import annotations

import os
import random
import sys
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

FAST_ENV = "COURSE_FAST"
DEVICE_ENV = "COURSE_DEVICE"
NBGRADER_ENV = "NBGRADER_EXECUTION"
THREADS_ENV = "COURSE_THREADS"
_TRUE = {"1", "true", "yes", "on"}


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def in_nbgrader() -> bool:
    """True while nbgrader validates or autogrades a notebook."""
    return bool(os.environ.get(NBGRADER_ENV))


def is_fast() -> bool:
    """True when the tiny test/grading budget is requested."""
    return os.environ.get(FAST_ENV, "").strip().lower() in _TRUE or in_nbgrader()


def get_device(prefer: str | None = None) -> torch.device:
    """Pick CUDA, then Apple MPS, then CPU; ``prefer`` or ``COURSE_DEVICE`` override."""
    wanted = (prefer or os.environ.get(DEVICE_ENV, "")).strip().lower()
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {wanted!r} requested but CUDA is not available")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"device {wanted!r} requested but Apple MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def run_mode(device: torch.device | str | None = None) -> str:
    """The budget in force: ``"fast"``, ``"gpu"`` or ``"cpu"``."""
    if is_fast():
        return "fast"
    device = torch.device(device) if device is not None else get_device()
    return "gpu" if device.type == "cuda" else "cpu"


def budget(fast: T, cpu: T, gpu: T | None = None, device: torch.device | str | None = None) -> T:
    """Choose a setting for the current budget, e.g. ``epochs = budget(fast=1, cpu=5, gpu=20)``.

    ``gpu`` defaults to the CPU setting; MPS uses the CPU setting too.
    """
    mode = run_mode(device)
    if mode == "fast":
        return fast
    if mode == "gpu" and gpu is not None:
        return gpu
    return cpu


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a NumPy generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def describe() -> str:
    """One line saying where this notebook runs and which budget applies."""
    device = get_device()
    where = "Colab" if in_colab() else "local"
    return (f"device={device.type} budget={run_mode(device)} cpu_threads={torch.get_num_threads()} "
            f"torch={torch.__version__} ({where})")


# ------------------------------------------------------------- CPU threads
def thread_policy() -> int | None:
    """How many CPU threads PyTorch should use here; ``None`` keeps PyTorch's own default.

    ``COURSE_THREADS=N`` overrides the policy (``COURSE_THREADS=torch`` keeps
    PyTorch's default, one thread per core). Without it: one thread.
    PyTorch's OpenMP threads spin while they wait for work, and the course's
    networks are small, so on a machine with few cores, or one shared with
    other programs (a grader running several kernels at once, Colab's two
    virtual cores), more threads mostly take CPU time from each other. On the
    shared 2-core machine the course is tested on, one thread was the fastest
    setting for every chapter and grading run measured, by up to an order of
    magnitude (``bench/threads.py``; the numbers are in the README). On a free
    machine with many cores, the larger trainings may gain from more threads:
    measure, and set ``COURSE_THREADS``.
    """
    wanted = os.environ.get(THREADS_ENV, "").strip().lower()
    if wanted in {"torch", "default"}:
        return None
    if wanted:
        try:
            threads = int(wanted)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"{THREADS_ENV}={wanted!r}: expected a whole number of threads >= 1, or 'torch' for PyTorch's default")
        return threads
    return 1


def apply_thread_policy(threads: int | None = None) -> int:
    """Set PyTorch's CPU threads to ``threads`` (default: :func:`thread_policy`) and return the number in force."""
    if threads is None:
        threads = thread_policy()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


apply_thread_policy()  # once, when a notebook first imports the course helpers
