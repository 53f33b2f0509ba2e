"""The bad-input suite: every case is graded or rejected with a clear message, and no other student's grade is lost.

One course is built once for the module: a folder of raw submissions goes
through intake, parallel autograding (two workers, nbgrader's default SQLite
gradebook), feedback and export, exactly as an instructor runs them. The
infinite-loop case needs a short cell timeout, so this run uses 30 s.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

import nbgrader_harness as H
from course_utils.grader.course import load_course, nbgrader_env
from course_utils.grader.feedback import html_text

A = "a01_neural_net_from_scratch"
NB = f"{A}.ipynb"
CELL_TIMEOUT = 30
pytestmark = [pytest.mark.grading, pytest.mark.skipif(A not in H.discover_assignments(), reason="needs assignment a01")]

TAMPER = '''import types
import course_utils.grading as grading_module
from course_utils import activations, numpy_nn
for helper in ["check_close", "check_true", "check_shape", "check_finite", "check_at_least"]:
    setattr(grading_module, helper, lambda *args, **kwargs: None)
grading_module.call_student = lambda func, *args, **kwargs: None
activations.relu = lambda z: None  # the reference a hidden test compares against
G = types.SimpleNamespace(check_close=lambda *a, **k: None, call_student=lambda *a, **k: None)
def check_close(*args, **kwargs):
    pass
'''

NUMPY_TAMPER = '''

import numpy
numpy.all = lambda *args, **kwargs: True  # check_close compares with np.all
numpy.isfinite = lambda x: numpy.ones(numpy.shape(x), dtype=bool)  # check_finite looks for NaN with np.isfinite
abs = lambda value: 0  # the visible test checks abs(row sum - 1)
'''


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_of(nb, grade_id: str):
    return next(c for c in nb.cells if meta(c).get("grade_id") == grade_id)


def solution(release: Path, mutant: str | None = None):
    cells = next(m for m in H.load_mutants(A) if m.name == mutant).cells if mutant else None
    return H.build_submission(A, cells, release=release)


def raw_submissions(release: Path, raw: Path) -> None:
    """One folder per case, as the files would arrive."""
    def put(relative: str, nb_or_text, mtime: float | None = None) -> None:
        path = raw / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))
        if mtime:
            os.utime(path, (mtime, mtime))

    put(f"ada/Copy of {NB}", solution(release))  # the reference student, renamed by Colab

    nb = solution(release)
    nb.cells.remove(cell_of(nb, "test_relu"))
    put(f"deleted_test/{NB}", nb)

    nb = solution(release, "relu_grad_one_at_zero")
    cell_of(nb, "test_relu").source = "# I made this test pass\n"
    put(f"edited_test/{NB}", nb)

    nb = solution(release)
    answer = cell_of(nb, "relu")
    answer.cell_type = "markdown"
    answer.pop("outputs", None)
    answer.pop("execution_count", None)
    put(f"markdown_answer/{NB}", nb)

    nb = solution(release)
    cell_of(nb, "softmax").source = "while True:\n    pass\n\n" + cell_of(nb, "softmax").source
    put(f"infinite_loop/{NB}", nb)

    nb = solution(release)
    cell_of(nb, "softmax").source += "\n\nimport os\nos._exit(1)\n"
    put(f"kernel_dies/{NB}", nb)

    nb = solution(release)
    cell_of(nb, "relu").source += "\n\nfor i in range(300_000):\n    print('debug line', i)\n"
    put(f"huge_output/{NB}", nb)

    nb = solution(release)
    cell_of(nb, "relu").source = ("import warnings\n\n" + cell_of(nb, "relu").source.replace(
        '    """ReLU, elementwise: max(0, z). Returns a new float array shaped like z."""\n',
        '    """ReLU, elementwise: max(0, z). Returns a new float array shaped like z."""\n'
        '    warnings.warn("relu: this call is deprecated", DeprecationWarning, stacklevel=2)\n'
        '    warnings.warn("relu: float64 input expected", UserWarning, stacklevel=2)\n'))
    put(f"library_warnings/{NB}", nb)

    nb = nbformat.read(release, as_version=4)  # nothing answered, helpers patched
    nb.cells.insert(3, nbformat.v4.new_code_cell(TAMPER))
    put(f"tampers/{NB}", nb)

    nb = solution(release, "softmax_no_max_shift")  # overflows on huge logits, then hides it by patching NumPy
    cell_of(nb, "softmax").source += NUMPY_TAMPER
    put(f"tampers_numpy/{NB}", nb)

    put(f"duplicate/{NB}", nbformat.read(release, as_version=4), mtime=1_700_000_000)
    put(f"duplicate/{A} (1).ipynb", solution(release), mtime=1_700_000_900)

    put(f"malformed_json/{NB}", nbformat.writes(solution(release))[:5000])
    put("missing_notebook/answers.pdf", "%PDF-1.4 not a notebook")


def grader(root: Path, *args: str) -> tuple[int, str]:
    env = nbgrader_env({k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}})
    result = subprocess.run([sys.executable, "-m", "course_utils.grader", *args], cwd=root, env=env,
                            capture_output=True, text=True, timeout=1200)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    shutil.copy(H.ROOT / "nbgrader_config.py", root)
    shutil.copytree(H.SOLUTIONS / A, root / "solutions" / A)
    env = nbgrader_env({k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}})
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"], cwd=root, env=env,
                   check=True, capture_output=True, timeout=600)
    release = root / "assignments" / A / NB
    raw_submissions(release, root / "raw")
    out = {"root": root, "release": release}
    out["intake"] = grader(root, "intake", A, "raw")
    out["autograde"] = grader(root, "autograde", A, "--workers", "2", "--timeout", str(CELL_TIMEOUT))
    out["feedback"] = grader(root, "feedback", A)
    out["export"] = grader(root, "export", A, "--to", "grading/grades.csv", "--tests", "grading/tests.csv")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("COURSE_GRADING_DIR", raising=False)
        patch.delenv("COURSE_GRADEBOOK_URL", raising=False)
        course = load_course(root)
    with course.gradebook() as gb:
        out["scores"] = {s.student.id: float(s.code_score) for s in gb.find_assignment(A).submissions}
        out["tests"] = {(s.student.id, g.name): float(g.score) for s in gb.find_assignment(A).submissions
                        for n in s.notebooks for g in n.grades}
        out["max"] = float(gb.find_assignment(A).max_code_score)
    out["course"] = course
    return out


def graded_line(graded, student: str) -> str:
    return next(line for line in graded["autograde"][1].splitlines() if re.match(rf"\w+\s+{student}\s", line))


def autograded(graded, student: str):
    return nbformat.read(graded["root"] / "grading" / "autograded" / student / A / NB, as_version=4)


def test_pipeline_commands_succeed(graded):
    for step in ("intake", "autograde", "feedback", "export"):
        code, output = graded[step]
        assert code == 0, f"{step} failed:\n{output}"


def test_every_gradable_case_is_graded_and_the_others_are_not(graded):
    assert sorted(graded["scores"]) == sorted([
        "ada", "deleted_test", "edited_test", "markdown_answer", "infinite_loop", "kernel_dies",
        "huge_output", "library_warnings", "tampers", "tampers_numpy", "duplicate"])
    assert "failed" not in graded["autograde"][1]


def test_reference_student_keeps_full_marks(graded):
    lost = {test: score for (student, test), score in graded["tests"].items() if student == "ada"}
    errors = [cell.outputs for cell in autograded(graded, "ada").cells
              if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    assert graded["scores"]["ada"] == graded["max"] > 0, (lost, errors)


def test_malformed_json_is_rejected_naming_the_student(graded):
    lines = [line for line in graded["intake"][1].splitlines() if line.startswith("REJECTED") and "malformed_json" in line]
    assert len(lines) == 1 and "unreadable notebook JSON" in lines[0]


def test_missing_notebook_is_reported(graded):
    output = graded["intake"][1]
    assert re.search(r"REJECTED\s+missing_notebook\s+.*answers\.pdf: not a notebook \(\.pdf\)", output)
    assert re.search(rf"MISSING\s+missing_notebook\s+no gradable {A}\.ipynb", output)


def test_colab_renamed_file_is_graded(graded):
    assert re.search(r"ACCEPTED\s+ada\s+.*renamed from 'Copy of", graded["intake"][1])
    assert (graded["root"] / "grading" / "submitted" / "ada" / A / NB).is_file()


def test_duplicate_submissions_keep_the_newest(graded):
    assert re.search(r"DUPLICATE\s+duplicate\s+.*set aside", graded["intake"][1])
    assert graded["scores"]["duplicate"] == graded["max"]  # the newer file is the answered one


def test_deleted_test_cell_is_put_back_and_run(graded):
    assert "test cell test_relu was missing and was put back" in graded_line(graded, "deleted_test")
    nb = autograded(graded, "deleted_test")
    assert "BEGIN HIDDEN TESTS" in cell_of(nb, "test_relu").source
    assert graded["scores"]["deleted_test"] == graded["max"]  # the answers are right, so the restored test passes


def test_edited_test_cell_is_restored_from_the_gradebook(graded):
    nb = autograded(graded, "edited_test")
    assert "I made this test pass" not in cell_of(nb, "test_relu").source
    assert "relu_grad(0)" in cell_of(nb, "test_relu").source
    assert graded["tests"][("edited_test", "test_relu")] == 0


def test_answer_turned_into_markdown_is_graded_as_code(graded):
    assert cell_of(autograded(graded, "markdown_answer"), "relu").cell_type == "code"
    assert graded["scores"]["markdown_answer"] == graded["max"]


def test_infinite_loop_times_out_and_the_rest_is_graded(graded):
    assert "timed out in cell softmax" in graded_line(graded, "infinite_loop")
    assert graded["tests"][("infinite_loop", "test_relu")] == 2
    assert graded["tests"][("infinite_loop", "test_softmax")] == 0


def test_dying_kernel_keeps_the_points_earned_before(graded):
    assert "kernel died in cell softmax" in graded_line(graded, "kernel_dies")
    assert graded["scores"]["kernel_dies"] == graded["tests"][("kernel_dies", "test_relu")] == 2


def test_huge_output_is_cut_and_graded(graded):
    assert graded["scores"]["huge_output"] == graded["max"]
    path = graded["root"] / "grading" / "autograded" / "huge_output" / A / NB
    assert path.stat().st_size < 1_000_000
    assert "output truncated" in json.dumps(cell_of(nbformat.read(path, as_version=4), "relu").outputs).lower()


def test_library_warnings_on_stderr_do_not_zero_a_test(graded):
    assert graded["scores"]["library_warnings"] == graded["max"]


def test_patched_helpers_earn_nothing(graded):
    assert graded["scores"]["tampers"] == 0
    review = [line for line in graded["intake"][1].splitlines() if line.startswith("REVIEW") and "tampers" in line]
    assert any("changes `grading_module.call_student`" in line for line in review)
    assert any("rebinds `G`" in line for line in review)


def test_patched_numpy_and_hidden_builtins_do_not_rescue_a_wrong_answer(graded):
    assert graded["tests"][("tampers_numpy", "test_softmax")] == 0
    assert graded["tests"][("tampers_numpy", "test_relu")] == 2  # the rest of the notebook still runs and scores
    review = [line for line in graded["intake"][1].splitlines() if line.startswith("REVIEW") and "tampers_numpy" in line]
    assert any("changes `numpy.all`" in line for line in review), review


def hidden_test_lines() -> set[str]:
    """Lines of the hidden tests, straight from the instructor notebook."""
    nb = nbformat.read(H.SOLUTIONS / A / NB, as_version=4)
    lines = set()
    for cell in nb.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, flags=re.S):
            lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 25}
    return lines


def test_feedback_for_every_graded_student_shows_no_hidden_test(graded):
    hidden = hidden_test_lines()
    assert hidden
    files = sorted((graded["root"] / "grading" / "feedback").glob(f"*/{A}/{A}.html"))
    assert sorted(p.parts[-3] for p in files) == sorted(graded["scores"])
    for path in files:
        text = html_text(path)
        assert "Score" in text
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{path} shows hidden tests: {leaked[:3]}"


def test_feedback_shows_score_and_failure_message_per_test(graded):
    text = html_text(graded["root"] / "grading" / "feedback" / "edited_test" / A / f"{A}.html")
    assert re.search(r"test_relu\s+Score: 0\.0 / 2\.0", text)
    assert "relu_grad(0) (we use 0 at z = 0, like PyTorch)" in text  # the failure message
    assert "hidden tests: not shown" in text
    text = html_text(graded["root"] / "grading" / "feedback" / "kernel_dies" / A / f"{A}.html")
    assert "the kernel died while running this cell" in text


def test_grades_export_to_csv(graded):
    with open(graded["root"] / "grading" / "grades.csv") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert {s: float(rows[s]["score"]) for s in rows} == graded["scores"]
    with open(graded["root"] / "grading" / "tests.csv") as fh:
        per_test = list(csv.DictReader(fh))
    assert {(r["student_id"], r["test"]) for r in per_test} <= set(graded["tests"])
    assert sum(float(r["score"]) for r in per_test if r["student_id"] == "ada") == graded["max"]


def test_a_submission_past_its_time_limit_is_stopped_with_its_kernel(graded):
    """Runs last: regrades one student with a 3-second limit; the worker and its kernel must be gone afterwards."""
    code, output = grader(graded["root"], "autograde", A, "--student", "duplicate", "--student-timeout", "3")
    assert code == 1
    assert re.search(r"failed\s+duplicate\s+.*took longer than 3 s; stopped", output), output
    leftovers = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if str(graded["root"]) in process.cwd() and process.pid != os.getpid():
                leftovers.append(process.info["cmdline"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    assert not leftovers, leftovers
