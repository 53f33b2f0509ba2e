"""The website, built once per test session (fast budget) in a scratch copy of the book.

The chapters are not executed a second time for it: the copy holds the chapters as the ``executed_chapters``
fixture (chapter_runs.py) executed them, and jupyter-book renders their outputs (``execute_notebooks: off``
in the copy's ``_config.yml``). The execution itself is what ``make book`` does; ``test_book_config``
checks its settings.
``site`` is imported into conftest.py, so the static checks (test_book.py) and
the browser checks (test_site_browser.py) share one build. To check a site you
have already built instead (say, after changing only a test), point
``COURSE_TEST_SITE`` at its ``_build/html`` folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import nbtools
from chapter_runs import CHAPTERS


def toc_files() -> list[str]:
    toc = yaml.safe_load((nbtools.ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def _cache_state() -> list[tuple[str, int]]:
    cache = nbtools.ROOT / "_build" / ".jupyter_cache"
    return sorted((str(p), p.stat().st_mtime_ns) for p in cache.rglob("*")) if cache.exists() else []


@pytest.fixture(scope="session")
def site(tmp_path_factory, data_root, executed_chapters) -> Path:
    """Build a copy of the book so the real _build/ cache never sees fast-budget outputs."""
    if os.environ.get("COURSE_TEST_SITE"):
        return Path(os.environ["COURSE_TEST_SITE"]).resolve()
    cache_before = _cache_state()
    work = tmp_path_factory.mktemp("site")
    shutil.copy(nbtools.ROOT / "_toc.yml", work / "_toc.yml")
    config = yaml.safe_load((nbtools.ROOT / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (work / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for folder in ("book", "assignments"):
        shutil.copytree(nbtools.ROOT / folder, work / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for chapter in CHAPTERS:
        run = executed_chapters.get(chapter)
        if run.error or run.executed is None:
            pytest.fail(f"{chapter.name} does not execute with COURSE_FAST=1, so the website cannot be built:\n"
                        f"{run.error[-2000:]}")
        shutil.copy(run.executed, work / "book" / chapter.name)
    env = dict(os.environ, COURSE_FAST="1", COURSE_DATA_DIR=str(data_root))
    env.pop("MPLBACKEND", None)
    jb = Path(sys.executable).parent / "jupyter-book"
    # run inside the copy: the execution cache path in _config.yml is relative to the working directory
    result = subprocess.run([str(jb), "build", "."], cwd=work, capture_output=True, text=True, env=env, timeout=1500)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"jupyter-book build failed:\n{log[-5000:]}"
    assert "Executing notebook failed" not in log and "Traceback" not in log, log[-5000:]
    assert _cache_state() == cache_before, "the test build wrote into the repository's execution cache"
    return work / "_build" / "html"
