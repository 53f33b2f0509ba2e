"""Run the instructor guide's commands as written, on a folder of raw submissions made here."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import nbgrader_harness as H
from course_utils.grader.feedback import html_text

GUIDE = H.ROOT / "book" / "instructors.md"
ASSIGNMENT = "a01_neural_net_from_scratch"

pytestmark = pytest.mark.grading


def guide_commands() -> list[str]:
    """The guide's ```bash blocks, in order, except those marked '(not run by the tests)'."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return [b for b in blocks if "(not run by the tests)" not in b]


def test_guide_has_runnable_commands():
    text = "\n".join(guide_commands())
    assert "nbgrader generate_assignment" in text
    for step in ("intake", "autograde", "feedback", "export"):
        assert f"python -m course_utils.grader {step}" in text


def _colab_download(nb) -> str:
    """The notebook as Colab saves it: extra metadata, including widget state nbconvert cannot read."""
    data = json.loads(nbformat.writes(nb))
    data["metadata"]["colab"] = {"provenance": []}
    data["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"m1": {"model_name": "HBoxModel"}}}
    return json.dumps(data)


def _hidden_test_lines() -> set[str]:
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    lines = set()
    for cell in nb.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, flags=re.S):
            lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 25}
    return lines


@pytest.mark.skipif(ASSIGNMENT not in H.discover_assignments(), reason="needs assignment a01")
def test_guide_takes_raw_submissions_to_grades_and_feedback(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(H.ROOT / "nbgrader_config.py", course)
    shutil.copytree(H.SOLUTIONS, course / "solutions")
    shutil.copytree(H.ASSIGNMENTS, course / "assignments")
    incoming = course / "grading" / "incoming" / ASSIGNMENT
    (incoming / "ada").mkdir(parents=True)
    (incoming / "ada" / f"Copy of {ASSIGNMENT}.ipynb").write_text(_colab_download(H.build_submission(ASSIGNMENT)))
    blank = nbformat.read(H.ASSIGNMENTS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    with zipfile.ZipFile(incoming / "lms_export.zip", "w") as zf:  # Canvas-style names
        zf.writestr(f"bob_101_201_{ASSIGNMENT} (1).ipynb", nbformat.writes(blank))
        zf.writestr(f"carol_102_202_{ASSIGNMENT}.ipynb", '{"cells": [')  # a broken download

    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MPLBACKEND"] = "Agg"
    output = ""
    for block in guide_commands():
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=course, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"guide command failed:\n{block}\n{result.stdout}\n{result.stderr}"
        output += result.stdout

    assert re.search(r"REJECTED\s+carol_102\s+.*unreadable notebook JSON", output), output
    with open(course / "grading" / "grades.csv") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert sorted(rows) == ["ada", "bob_101"]  # Canvas's user id is kept in the student id
    assert float(rows["ada"]["score"]) == float(rows["ada"]["max_score"]) - _manual_points() > 0
    assert float(rows["bob_101"]["score"]) == 0
    assert rows["ada"]["status"] == rows["bob_101"]["status"] == "graded"
    hidden = _hidden_test_lines()
    for student in ("ada", "bob_101"):
        autograded = course / "grading" / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert nbformat.read(autograded, as_version=4).metadata["course_grader"]["sandboxed"] is True
        feedback = course / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        text = html_text(feedback)
        assert "Score" in text
        assert not [line for line in hidden if line in text], f"{feedback} shows hidden tests"
    assert (course / "grading" / "test_scores.csv").is_file()


def _manual_points() -> float:
    """Points of manually graded answers (not awarded until a person grades them)."""
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    total = 0.0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("solution"):
            total += float(meta.get("points", 0))
    return total
