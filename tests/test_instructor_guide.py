"""Run the instructor guide's commands as written, on submissions made here."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import nbgrader_harness as H

GUIDE = H.ROOT / "book" / "instructors.md"
ASSIGNMENT = "a01_neural_net_from_scratch"

pytestmark = pytest.mark.grading


def guide_commands() -> list[str]:
    """The guide's ```bash blocks, in order, except those marked '(not run by the tests)'."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return [b for b in blocks if "(not run by the tests)" not in b]


def test_guide_has_runnable_commands():
    text = "\n".join(guide_commands())
    for step in ("generate_assignment", "autograde", "generate_feedback", "export"):
        assert f"nbgrader {step}" in text


@pytest.mark.skipif(ASSIGNMENT not in H.discover_assignments(), reason="needs assignment a01")
def test_guide_takes_submissions_to_grades_and_feedback(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(H.ROOT / "nbgrader_config.py", course)
    shutil.copytree(H.SOLUTIONS, course / "solutions")
    shutil.copytree(H.ASSIGNMENTS, course / "assignments")
    submitted = course / "grading" / "submitted"
    for student, nb in {
        "ada": H.build_submission(ASSIGNMENT),
        "bob": nbformat.read(H.ASSIGNMENTS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4),
    }.items():
        (submitted / student / ASSIGNMENT).mkdir(parents=True)
        nbformat.write(nb, submitted / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")

    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MPLBACKEND"] = "Agg"
    for block in guide_commands():
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=course, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"guide command failed:\n{block}\n{result.stdout}\n{result.stderr}"

    with open(course / "grading" / "grades.csv") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert float(rows["ada"]["score"]) == float(rows["ada"]["max_score"]) - _manual_points() > 0
    assert float(rows["bob"]["score"]) == 0
    for student in ("ada", "bob"):
        assert (course / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()


def _manual_points() -> float:
    """Points of manually graded answers (not awarded until a person grades them)."""
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    total = 0.0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("solution"):
            total += float(meta.get("points", 0))
    return total
