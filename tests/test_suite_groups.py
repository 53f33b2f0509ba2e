"""`make test` runs in two pytest processes; tests that share a costly fixture must stay in one (conftest.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict

from conftest import ASSIGNMENT_IDS, BOOK_FILES, group_of

import nbtools


def test_each_assignment_is_a_group_of_its_own():
    assert ASSIGNMENT_IDS, "no assignment found in solutions/"
    for assignment in ASSIGNMENT_IDS:
        for nodeid in (f"tests/test_assignments.py::test_solution_gets_full_marks[{assignment}]",
                       f"tests/test_assignments.py::test_plausible_mutant_fails_a_hidden_test[{assignment}-some_mutant]"):
            assert group_of(nodeid) == f"assignment-{assignment}"
    assert group_of("tests/test_assignments.py::test_assignments_are_discovered") == "tests/test_assignments.py"


def test_the_website_and_the_chapter_runs_are_one_group():
    assert {group_of(f"{path}::test_x[param]") for path in BOOK_FILES} == {"book"}
    assert group_of("tests/test_plot.py::test_image_grid_layout") == "tests/test_plot.py"


def test_two_pytest_processes_keep_each_group_together():
    """A real run with pytest-xdist: every file's tests on one worker (pytest-xdist's own grouping by marks
    does not work with this pytest, which is why conftest.py schedules the groups itself)."""
    files = ["tests/test_plot.py", "tests/test_runtime.py", "tests/test_nbtools_markdown.py"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                             "no:cacheprovider", *files], cwd=nbtools.ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    workers = defaultdict(set)
    for worker, nodeid in re.findall(r"^\[(gw\d+)\] \[ *\d+%\] \w+ (\S+)", result.stdout, re.M):
        workers[nodeid.split("::")[0]].add(worker)
    assert set(workers) == set(files), result.stdout[-3000:]
    assert all(len(used) == 1 for used in workers.values()), dict(workers)
