"""The grader's command line: wrong folders, unknown assignments and missing files give one error line, not a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import nbgrader_harness as H
from course_utils.grader.course import nbgrader_env


def env() -> dict[str, str]:
    return nbgrader_env({k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}})


def run(cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils.grader", *args], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def course(tmp_path):
    shutil.copy(H.ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(H.ASSIGNMENTS, tmp_path / "assignments")
    shutil.copytree(H.SOLUTIONS / "a01_neural_net_from_scratch", tmp_path / "solutions" / "a01_neural_net_from_scratch")
    return tmp_path


def assert_one_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_outside_a_course_folder(tmp_path):
    assert_one_error(run(tmp_path, "intake", "a01_neural_net_from_scratch", "."), "no nbgrader_config.py")


def test_unknown_assignment(course):
    assert_one_error(run(course, "intake", "no_such_assignment", "."), "no released notebook", "generate_assignment")
    for command in (["autograde", "no_such_assignment"], ["feedback", "no_such_assignment"],
                    ["export", "no_such_assignment", "--to", "grades.csv"]):
        assert_one_error(run(course, *command), "has no assignment no_such_assignment", "generate_assignment")
    assert not (course / "grades.csv").exists()


def test_missing_source_folder(course):
    assert_one_error(run(course, "intake", "a01_neural_net_from_scratch", "no/such/folder"), "no such file or folder")


@pytest.mark.grading
def test_feedback_before_autograding(course):
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "a01_neural_net_from_scratch", "--force",
                    "--CourseDirectory.release_directory=released_here"],
                   cwd=course, env=env(), check=True, capture_output=True, timeout=600)
    assert_one_error(run(course, "feedback", "a01_neural_net_from_scratch"), "autograde")
