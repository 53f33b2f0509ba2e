"""Autograding round trips for every assignment found in solutions/.

For each assignment, in a throw-away course directory: the solution autogrades
to full marks, the released notebook to zero, every mutant (a wrong solution
under tests/mutants/) loses points (a gaming one "caught by the review" is
flagged instead), and the committed release equals a fresh
``nbgrader generate_assignment``.

The solution, the blank release, every gaming mutant (points without the work:
they patch modules and helpers, so they need a kernel of their own) and one
plausible mutant are graded in one run of the course's own parallel pipeline
(``python -m course_utils.grader autograde --workers 2``, nbgrader inside,
every kernel in its sandbox), mutants in the grader's mutation-testing mode:
each stops at its first failed test cell, which is all "loses points" needs.
The other plausible mutants run in one process per assignment
(``tests/mutant_runner.py``: a fresh IPython namespace each, the instructor's
test cells, the autograde budget), which costs a second or two per mutant
instead of a sandboxed kernel's imports; the plausible mutant graded both ways
checks that the two agree. Scores are read from the gradebook: ``nbgrader
validate`` exits 0 even when tests fail.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

import nbgrader_harness as H

import mutant_runner as R

ASSIGNMENTS = H.discover_assignments()
MUTANTS = {a: H.load_mutants(a) for a in ASSIGNMENTS}
PLAUSIBLE = {a: [m.name for m in MUTANTS[a] if not R.is_gaming(m)] for a in ASSIGNMENTS}
# graded through the pipeline: every gaming mutant, and the first plausible one (checked against the runner)
PIPELINE = {a: [m.name for m in MUTANTS[a] if R.is_gaming(m)] + PLAUSIBLE[a][:1] for a in ASSIGNMENTS}
PIPELINE_CASES = [(a, name) for a in ASSIGNMENTS for name in PIPELINE[a]]
PLAUSIBLE_CASES = [(a, name) for a in ASSIGNMENTS for name in PLAUSIBLE[a]]

pytestmark = pytest.mark.grading


def test_assignments_are_discovered():
    assert ASSIGNMENTS, "no assignment found in solutions/<id>/<id>.ipynb"


class _PerAssignment(dict):
    """Results computed on first use, one assignment at a time (``-k a03`` grades only a03)."""

    def __init__(self, compute):
        super().__init__()
        self._compute = compute

    def __missing__(self, assignment):
        self[assignment] = self._compute(assignment)
        return self[assignment]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde solution, blank release, gaming mutants and one plausible mutant, once per assignment."""
    return _PerAssignment(lambda a: H.grade_all(a, tmp_path_factory.mktemp(a), mutants=PIPELINE[a]))


@pytest.fixture(scope="module")
def run_in_process(tmp_path_factory):
    """The plausible mutants of each assignment, each run until the first hidden test it fails."""
    import subprocess
    import sys

    def run(assignment):
        out = tmp_path_factory.mktemp(f"runner-{assignment}") / "results.json"
        done = subprocess.run([sys.executable, str(H.ROOT / "tests" / "mutant_runner.py"), assignment, "--json", str(out)],
                              capture_output=True, text=True, timeout=3600, cwd=H.ROOT)
        assert done.returncode == 0 and out.exists(), f"{assignment}: the mutant runner failed:\n{done.stderr[-3000:]}"
        return json.loads(out.read_text())

    return _PerAssignment(run)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_has_five_mutants_two_of_them_gaming(assignment):
    assert len(MUTANTS[assignment]) >= 5, f"{assignment}: ship at least five mutants in tests/mutants/{assignment}/"
    gaming = len(MUTANTS[assignment]) - len(PLAUSIBLE[assignment])
    assert gaming >= 2, f"{assignment}: ship at least two gaming mutants (first line '# Mutant: gaming attempt, ...')"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(graded, assignment):
    score, max_score = graded[assignment][1]["solution"]
    assert max_score > 0
    assert score == max_score, f"{assignment}: the solution scores {score} of {max_score}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_value_left_by_a_test_cell_never_becomes_its_score(graded, assignment):
    """Check functions may return values (a03's return accuracies and records); the grader drops a test cell's
    value, which nbgrader would otherwise take as the cell's score (a fraction of its points, or more)."""
    course = graded[assignment][0]
    nb = nbformat.read(course.grading / "autograded" / "solution" / assignment / f"{assignment}.ipynb", as_version=4)
    valued = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.cell_type == "code"
              and (c.metadata.get("nbgrader") or {}).get("grade") and not c.metadata["nbgrader"].get("solution")
              and any(o.get("output_type") == "execute_result" for o in c.get("outputs", []))]
    assert not valued, f"{assignment}: these test cells kept a value (nbgrader takes a number as the score): {valued}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero(graded, assignment):
    score, _ = graded[assignment][1]["blank"]
    assert score == 0, f"{assignment}: the unanswered release already scores {score}"


REVIEWED = "caught by the review"  # in a mutant's description: it keeps its points in the first grading and is flagged


@pytest.mark.parametrize("assignment,mutant", PIPELINE_CASES)
def test_gaming_mutant_loses_points_in_the_pipeline(graded, assignment, mutant):
    """Every gaming mutant loses points; one that runs the course's reference when its cell runs (outside the
    run-time guard's watch) is flagged instead, for the review regrade without its forbidden import
    (``--no-review`` here: the regrade itself is tested in tests/test_grader_audit.py and measured in the README)."""
    score, max_score = graded[assignment][1][f"mutant-{mutant}"]
    description = next(m.description for m in MUTANTS[assignment] if m.name == mutant)
    if REVIEWED in description:
        course = graded[assignment][0]
        record = json.loads((course.grading / "logs" / assignment / "status.json").read_text())[f"mutant-{mutant}"]
        assert record["status"] == "flagged" and "flagged code" in record.get("reason", ""), record
        assert record.get("limits") or record.get("findings"), record
    else:
        assert score < max_score, f"{assignment}: mutant {mutant!r} still earns full marks ({score}/{max_score})"


@pytest.mark.parametrize("assignment,mutant", PLAUSIBLE_CASES)
def test_plausible_mutant_fails_a_hidden_test(run_in_process, assignment, mutant):
    record = run_in_process[assignment][mutant]
    assert record["failed_test"], f"{assignment}: mutant {mutant!r} passes every test"


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if PLAUSIBLE[a]])
def test_runner_and_pipeline_agree_on_the_mutant_graded_both_ways(graded, run_in_process, assignment):
    mutant = PLAUSIBLE[assignment][0]
    course = graded[assignment][0]
    path = course.grading / "autograded" / f"mutant-{mutant}" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    failed = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.cell_type == "code"
              and (c.metadata.get("nbgrader") or {}).get("grade") and not c.metadata["nbgrader"].get("solution")
              and any(o.get("output_type") == "error" and o.get("ename") != "NotRun" for o in c.get("outputs", []))]
    assert failed and failed[0] == run_in_process[assignment][mutant]["failed_test"], (mutant, failed)


def _error_names(nb) -> list[tuple[bool, list[str]]]:
    """For each non-empty code cell: whether it is a test cell, and the names of the errors in its outputs."""
    def is_test(cell) -> bool:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        return bool(meta.get("grade")) and not meta.get("solution")

    return [(is_test(c), [o.get("ename", "") for o in c.get("outputs", []) if o.get("output_type") == "error"])
            for c in nb.cells if c.cell_type == "code" and c.source.strip()]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_mutants_stop_at_their_first_failed_test_and_the_solution_runs_in_full(graded, assignment):
    course = graded[assignment][0]
    notebook = f"{assignment}.ipynb"
    solution = nbformat.read(course.grading / "autograded" / "solution" / assignment / notebook, as_version=4)
    assert not any(names for _, names in _error_names(solution)), f"{assignment}: the solution's run has errors"
    for mutant in MUTANTS[assignment]:
        if mutant.name not in PIPELINE[assignment]:
            continue
        path = course.grading / "autograded" / f"mutant-{mutant.name}" / assignment / notebook
        errors = _error_names(nbformat.read(path, as_version=4))
        first = next((i for i, (test, names) in enumerate(errors) if test and names), None)
        if first is None:
            continue  # a mutant that fails no test cell loses nothing: test_mutant_loses_points reports it
        after = [names for _, names in errors[first + 1:]]
        assert all(names == ["NotRun"] for names in after), (mutant.name, after[:3])


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
