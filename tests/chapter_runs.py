"""Every chapter executed once per test session (fast budget), two at a time, for every test that needs it.

``tests/test_notebooks.py`` checks each executed chapter (no error, no warning on stderr, at least one
figure) and the website build (``site_build.py``) renders the same executed notebooks instead of executing
them a second time. Each chapter runs in its own process and kernel, as jupyter-book runs it: working
directory ``book/``, ``COURSE_FAST=1``, the session's private data cache.

Only the chapters some selected test needs are executed: all of them when a test uses the website, otherwise
those whose ``test_notebooks`` case is selected (``pytest tests/test_notebooks.py -k 04`` runs chapter 4
only). ``COURSE_TEST_NOTEBOOK_JOBS`` sets how many run at once (default 2: the chapters use one PyTorch
thread each, and a kernel waits on start-up and on its client part of the time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import nbtools

CHAPTERS = sorted((nbtools.ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
TIMEOUT_S = 300  # per cell, as before; a whole chapter gets 4 times that
JOBS_ENV = "COURSE_TEST_NOTEBOOK_JOBS"

# argv: source notebook, where to write it executed. Exit status 1 and the traceback on stderr when a cell fails.
RUNNER = r"""
import sys, nbformat
from nbclient import NotebookClient
source, target, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(source, as_version=4)
try:
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(__import__("pathlib").Path(source).parent)}}).execute()
finally:
    nbformat.write(nb, target)
"""

# Datasets the chapters read, cached before chapters run side by side (two first downloads or offline
# fallbacks of one dataset at once would race on the same files).
WARM_DATA = "import course_utils.data as d; d.load_mnist(train=True); d.load_mnist(train=False); d.load_cifar10(train=True)"


@dataclass
class ChapterRun:
    path: Path  # the chapter in book/
    executed: Path | None  # the executed copy (also written when a cell failed, up to the failure)
    seconds: float
    error: str  # empty when the chapter ran to the end


class ChapterRuns:
    """Executes the wanted chapters in the background on first use; :meth:`get` waits for one."""

    def __init__(self, wanted: list[Path], out: Path, env: dict[str, str], jobs: int) -> None:
        self.wanted, self.out, self.env, self.jobs = wanted, out, env, jobs
        self._futures: dict[str, Future] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _run(self, path: Path) -> ChapterRun:
        target = self.out / path.name
        start = time.perf_counter()
        try:
            result = subprocess.run([sys.executable, "-c", RUNNER, str(path), str(target), str(TIMEOUT_S)],
                                    cwd=path.parent, env=self.env, capture_output=True, text=True,
                                    timeout=4 * TIMEOUT_S)
            error = "" if result.returncode == 0 else (result.stderr[-4000:] or f"exit status {result.returncode}")
        except subprocess.TimeoutExpired:
            error = f"{path.name} did not finish within {4 * TIMEOUT_S} s"
        return ChapterRun(path, target if target.exists() else None, time.perf_counter() - start, error)

    def _start(self) -> None:
        warm = subprocess.run([sys.executable, "-c", WARM_DATA], env=self.env, capture_output=True, text=True,
                              timeout=600)
        if warm.returncode != 0:
            raise RuntimeError(f"caching the chapters' datasets failed:\n{warm.stderr[-3000:]}")
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="chapter")
        for path in self.wanted:
            self._futures[path.stem] = self._pool.submit(self._run, path)

    def get(self, path: Path) -> ChapterRun:
        if self._pool is None:
            self._start()
        if path.stem not in self._futures:  # not foreseen at collection (should not happen): run it now
            self._futures[path.stem] = self._pool.submit(self._run, path)
        return self._futures[path.stem].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _wanted(session: pytest.Session) -> list[Path]:
    items = session.items
    if any("site" in getattr(item, "fixturenames", ()) for item in items):
        return list(CHAPTERS)
    stems = {item.callspec.params["path"].stem for item in items
             if "executed_chapters" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")
             and "path" in item.callspec.params}
    return [path for path in CHAPTERS if path.stem in stems]


@pytest.fixture(scope="session")
def executed_chapters(request, tmp_path_factory, data_root) -> ChapterRuns:
    env = dict(os.environ, COURSE_FAST="1", COURSE_DATA_DIR=str(data_root),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    for name in ("NBGRADER_EXECUTION", "COURSE_DEVICE"):
        env.pop(name, None)
    jobs = max(1, int(os.environ.get(JOBS_ENV, "2")))
    runs = ChapterRuns(_wanted(request.session), tmp_path_factory.mktemp("chapters"), env, jobs)
    yield runs
    runs.close()
