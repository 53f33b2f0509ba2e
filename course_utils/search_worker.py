"""One Optuna worker: load a study from a shared storage and run trials of an objective in it.

Start as many as you like, on one machine or on several::

    python -m course_utils.search_worker --storage sqlite:///search.db --study digits \\
        --objective my_objectives:objective --trials 10 --worker 0

``--objective`` names a function ``objective(trial) -> float`` as ``module:function`` (the module
must be importable: on ``PYTHONPATH`` or in the working directory). The storage is any URL Optuna
accepts: a SQLite file for several processes on one machine, or a database server such as
``postgresql+psycopg://user:password@host/db`` for workers on several machines. Every worker reads
the trials of all workers from the storage before it proposes the next one, so the search learns
from everybody's results; each trial records its worker in ``trial.user_attrs["worker"]``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Callable


def run_worker(storage: str, study_name: str, objective: Callable, n_trials: int, worker: int, seed: int | None = None,
               wait_for: int = 1, timeout: float = 120.0) -> None:
    """Run ``n_trials`` trials of ``objective`` in the existing study ``study_name`` of ``storage``.

    With ``wait_for`` = N > 1 the worker first waits (at most ``timeout`` seconds) until N workers
    have loaded the study, so that a demonstration's workers start their trials together instead of
    one finishing while the other still imports its libraries.
    """
    import optuna

    if "torch" in sys.modules:  # an objective that trains with PyTorch: apply the course's CPU-thread policy
        import course_utils.runtime  # noqa: F401

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    study.set_user_attr(f"worker {worker} ready", time.time())
    deadline = time.monotonic() + timeout
    while sum(key.endswith(" ready") for key in study.user_attrs) < wait_for:
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker {worker}: fewer than {wait_for} workers joined study {study_name!r} within {timeout:.0f} s")
        time.sleep(0.05)

    def tagged(trial):
        trial.set_user_attr("worker", worker)
        return objective(trial)

    study.optimize(tagged, n_trials=n_trials)


def load_objective(spec: str) -> Callable:
    """The function named ``module:function``."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"--objective must look like module:function, got {spec!r}")
    return getattr(importlib.import_module(module_name), function_name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="Optuna storage URL, e.g. sqlite:///search.db")
    parser.add_argument("--study", required=True, help="name of a study that already exists in the storage")
    parser.add_argument("--objective", required=True, help="module:function taking an Optuna trial")
    parser.add_argument("--trials", type=int, required=True, help="trials this worker runs")
    parser.add_argument("--worker", type=int, default=0, help="this worker's number (recorded with each trial)")
    parser.add_argument("--seed", type=int, default=None, help="seed of this worker's TPE sampler")
    parser.add_argument("--wait-for", type=int, default=1, help="start only when this many workers have joined")
    args = parser.parse_args(argv)
    sys.path.insert(0, "")  # the working directory, where an objective module usually sits
    run_worker(args.storage, args.study, load_objective(args.objective), args.trials, args.worker, args.seed, args.wait_for)
    return 0


if __name__ == "__main__":
    sys.exit(main())
