"""Autograding round trips for every assignment found in solutions/.

For each assignment, in a throw-away course directory: the solution autogrades
to full marks, the released notebook to zero, every mutant (a plausible wrong
solution under tests/mutants/) loses points, and the committed release equals a
fresh ``nbgrader generate_assignment``. The solution, the blank release and all
mutants of an assignment are graded in one run of the course's own parallel
pipeline (``python -m course_utils.grader autograde --workers 2``, nbgrader
inside, every kernel in its sandbox), so the suite grows with the number of
notebooks divided by the workers, not one nbgrader process after another.
Scores are read from the gradebook: ``nbgrader validate`` exits 0 even when
tests fail.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

import nbgrader_harness as H

ASSIGNMENTS = H.discover_assignments()
MUTANT_CASES = [(a, m.name) for a in ASSIGNMENTS for m in H.load_mutants(a)]

pytestmark = pytest.mark.grading


def test_assignments_are_discovered():
    assert ASSIGNMENTS, "no assignment found in solutions/<id>/<id>.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde solution, blank release and all mutants once per assignment."""
    results = {}
    for assignment in ASSIGNMENTS:
        course, scores = H.grade_all(assignment, tmp_path_factory.mktemp(assignment))
        results[assignment] = (course, scores)
    return results


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_has_three_mutants(assignment):
    assert len(H.load_mutants(assignment)) >= 3, f"{assignment}: ship at least three mutants in tests/mutants/{assignment}/"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(graded, assignment):
    score, max_score = graded[assignment][1]["solution"]
    assert max_score > 0
    assert score == max_score, f"{assignment}: the solution scores {score} of {max_score}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero(graded, assignment):
    score, _ = graded[assignment][1]["blank"]
    assert score == 0, f"{assignment}: the unanswered release already scores {score}"


@pytest.mark.parametrize("assignment,mutant", MUTANT_CASES)
def test_mutant_loses_points(graded, assignment, mutant):
    score, max_score = graded[assignment][1][f"mutant-{mutant}"]
    assert score < max_score, f"{assignment}: mutant {mutant!r} still earns full marks ({score}/{max_score})"


def _comparable(path):
    nb = json.loads(path.read_text())
    return [(c["cell_type"], c.get("metadata", {}).get("nbgrader"), "".join(c["source"])) for c in nb["cells"]]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_matches_fresh_generation(graded, assignment):
    course = graded[assignment][0]
    fresh = course.root / "assignments" / assignment / f"{assignment}.ipynb"
    committed = H.ASSIGNMENTS / assignment / f"{assignment}.ipynb"
    assert committed.exists(), f"{committed} is missing: run `make assignments`"
    assert _comparable(committed) == _comparable(fresh), (
        f"{committed} differs from a fresh `nbgrader generate_assignment`; run `make assignments`"
    )
    committed_files = sorted(p.name for p in committed.parent.iterdir())
    fresh_files = sorted(p.name for p in fresh.parent.iterdir())
    assert committed_files == fresh_files


def public_lines() -> set[str]:
    """Lines of the published material (course_utils and the chapters): not secrets even if a solution repeats them."""
    lines = set()
    for path in (H.ROOT / "course_utils").rglob("*.py"):
        lines.update(line.strip() for line in path.read_text().splitlines())
    for path in (H.ROOT / "book").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            lines.update(line.strip() for line in cell.source.splitlines())
    return lines


def solution_lines(assignment: str) -> set[str]:
    """Distinctive lines of solution code and hidden tests that appear nowhere in the published material."""
    nb = nbformat.read(H.SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    lines = set()
    for cell in nb.cells:
        for pattern in (r"### BEGIN SOLUTION(.*?)### END SOLUTION", r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS"):
            for block in re.findall(pattern, cell.source, flags=re.S):
                lines.update(line.strip() for line in block.splitlines() if len(line.strip()) >= 25)
    return lines - public_lines()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_leaks_no_solution_or_hidden_test(assignment):
    released = (H.ASSIGNMENTS / assignment / f"{assignment}.ipynb").read_text()
    text = "\n".join("".join(c["source"]) for c in json.loads(released)["cells"])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{assignment}: released notebook contains {marker!r}"
    leaked = sorted(line for line in solution_lines(assignment) if line in text)
    assert not leaked, f"{assignment}: released notebook contains solution or hidden-test lines: {leaked[:5]}"
