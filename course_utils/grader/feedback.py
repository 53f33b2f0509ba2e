"""Feedback without hidden tests, a leak check for it, and grade export.

nbgrader's feedback shows every test cell as it ran, hidden tests included, and
a failing test's traceback quotes the lines around the failure. Here the
feedback keeps the score of every test and its failure message and drops the
rest: :class:`HideHiddenTests` runs inside ``nbgrader generate_feedback``
(``nbgrader_config.py`` registers it), and :func:`find_leaks` checks the HTML it
wrote against the hidden tests stored in the gradebook before anything is sent.
"""

from __future__ import annotations

import csv
import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade, is_solution

from course_utils.grader.course import Course, nbgrader_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")
HIDDEN_NOTE = "# (hidden tests: not shown)"


class HideHiddenTests(ClearHiddenTests):
    """For feedback: remove hidden-test source from test cells and cut their tracebacks to the failure message."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        if not self._remove_hidden_test_region(cell):
            return cell, resources
        cell.source = cell.source.rstrip("\n") + f"\n\n{HIDDEN_NOTE}"
        for output in cell.get("outputs", []):
            if output.output_type == "error":  # a traceback quotes the lines around the failing one
                output.traceback = [f"\x1b[0;31m{output.ename}\x1b[0m: {ANSI.sub('', output.evalue)}"]
        return cell, resources


class _Text(HTMLParser):
    """The text a browser would show, without tags (syntax highlighting splits code into many spans)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(errors="replace"))
    return html.unescape("".join(parser.parts))


def hidden_lines(course: Course, assignment: str, min_length: int = 20) -> set[str]:
    """Distinctive lines of the hidden tests of ``assignment``, read from the gradebook."""
    begin, end = ClearHiddenTests.begin_test_delimeter.default_value, ClearHiddenTests.end_test_delimeter.default_value
    lines: set[str] = set()
    with course.gradebook() as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            for cell in notebook.source_cells:
                for block in re.findall(rf"{begin}(.*?){end}", cell.source or "", flags=re.S):
                    lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= min_length}
    return lines


def find_leaks(course: Course, assignment: str) -> dict[Path, list[str]]:
    """Feedback files of ``assignment`` that show any hidden-test line, with the lines they show."""
    secret = hidden_lines(course, assignment)
    leaks = {}
    for path in sorted(course.feedback.glob(f"*/{assignment}/*.html")):
        text = html_text(path)
        shown = sorted(line for line in secret if line in text)
        if shown or "BEGIN HIDDEN TESTS" in text:
            leaks[path] = shown or ["### BEGIN HIDDEN TESTS"]
    return leaks


def generate_feedback(course: Course, assignment: str, students: list[str] | None = None) -> dict[Path, list[str]]:
    """Run ``nbgrader generate_feedback``, then quarantine every feedback file that shows hidden tests."""
    for student in students or [None]:
        args = [sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force"]
        args += ["--student", student] if student else []
        result = subprocess.run(args, cwd=course.root, env=nbgrader_env(), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader generate_feedback failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    leaks = find_leaks(course, assignment)
    for path in leaks:  # never leave a leaking file where it could be sent
        quarantine = course.workspace / "feedback_withheld" / path.relative_to(course.feedback)
        quarantine.parent.mkdir(parents=True, exist_ok=True)
        path.replace(quarantine)
    return leaks


def export_grades(course: Course, to: Path) -> None:
    """Every student's total per assignment, with nbgrader's own CSV exporter."""
    to = Path(to).resolve()
    to.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(to)], cwd=course.root,
                            env=nbgrader_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader export failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def export_test_scores(course: Course, assignment: str, to: Path) -> int:
    """One row per student and autograded test: score, maximum. Returns the number of rows."""
    rows = []
    with course.gradebook() as gb:
        for submission in gb.find_assignment(assignment).submissions:
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell_type == "code" and grade.auto_score is not None:
                        rows.append([submission.student.id, assignment, notebook.name, grade.name, grade.score, grade.max_score])
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    with open(to, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "assignment", "notebook", "test", "score", "max_score"])
        writer.writerows(sorted(rows))
    return len(rows)
