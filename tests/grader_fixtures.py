"""A small nbgrader assignment for the grading pipeline's tests, and helpers to build courses and submissions.

The course's real assignments train networks; the pipeline's tests only need
notebooks that grade in seconds. ``m01_grader_check`` has what matters to the
pipeline: a released imports cell, a read-only tools cell whose helper a test
uses (like a02's), two answer cells with visible and hidden tests (hidden cases
drawn with ``fresh_rng``), and a written answer graded by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
MINI = "m01_grader_check"
NB = f"{MINI}.ipynb"


def _meta(grade_id: str, *, locked=False, solution=False, grade=False, points=0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


COLAB = ('# Colab only: install the course helpers; elsewhere this cell does nothing.\nimport sys\n\n'
         'if "google.colab" in sys.modules:\n    import subprocess\n')
IMPORTS = "import numpy as np\n\nfrom course_utils import grading as G\n"
TOOLS = ('def expected_double(x):\n'
         '    """What double(x) must return: a helper the tests use, defined in a read-only cell (like a02\'s tools)."""\n'
         '    return 2.0 * np.asarray(x, dtype=float)\n')
DOUBLE = ("def double(x):\n    \"\"\"Twice x, elementwise, as a float array.\"\"\"\n    ### BEGIN SOLUTION\n"
          "    return 2.0 * np.asarray(x, dtype=float)\n    ### END SOLUTION\n")
TEST_DOUBLE = ('from course_utils import grading as G\n\n'
               'G.check_close(G.call_student(double, [1.0, 2.0]), expected_double([1.0, 2.0]), name="double([1, 2])")\n\n'
               '### BEGIN HIDDEN TESTS\n'
               'rng_hidden_double = G.fresh_rng("test_double")\n'
               'x_hidden_double_case = rng_hidden_double.normal(size=(3, 4))\n'
               'G.check_close(G.call_student(double, x_hidden_double_case), expected_double(x_hidden_double_case), '
               'name="double on a hidden random array")\n'
               '### END HIDDEN TESTS\n')
SQUARE = ("def square(x):\n    \"\"\"x squared, elementwise, as a float array.\"\"\"\n    ### BEGIN SOLUTION\n"
          "    return np.asarray(x, dtype=float) ** 2\n    ### END SOLUTION\n")
TEST_SQUARE = ('from course_utils import grading as G\n\n'
               'G.check_close(G.call_student(square, [3.0]), [9.0], name="square([3])")\n\n'
               '### BEGIN HIDDEN TESTS\n'
               'rng_hidden_square = G.fresh_rng("test_square")\n'
               'x_hidden_square_case = rng_hidden_square.uniform(-3.0, 3.0, size=(5, 2))\n'
               'G.check_close(G.call_student(square, x_hidden_square_case), x_hidden_square_case * x_hidden_square_case, '
               'name="square on a hidden random array")\n'
               '### END HIDDEN TESTS\n')
EXPLAIN = "Why is `square` never negative?\n\n=== BEGIN MARK SCHEME ===\nA product of a number with itself.\n=== END MARK SCHEME ===\n"


def mini_source() -> nbformat.NotebookNode:
    """The instructor notebook of the mini assignment (solutions and hidden tests)."""
    cells = [
        new_markdown_cell("# A small assignment for the grader's tests\n\nTwo functions and one written answer.",
                          metadata=_meta("md_intro", locked=True)),
        new_code_cell(COLAB),
        new_code_cell(IMPORTS, metadata=_meta("imports", locked=True)),
        new_code_cell(TOOLS, metadata=_meta("tools", locked=True)),
        new_markdown_cell("## Part 1: double (2 points)\n\nReturn twice `x` as a float array.", metadata=_meta("md_double", locked=True)),
        new_code_cell(DOUBLE, metadata=_meta("double", solution=True)),
        new_code_cell(TEST_DOUBLE, metadata=_meta("test_double", locked=True, grade=True, points=2)),
        new_markdown_cell("## Part 2: square (2 points)\n\nReturn `x` squared as a float array.", metadata=_meta("md_square", locked=True)),
        new_code_cell(SQUARE, metadata=_meta("square", solution=True)),
        new_code_cell(TEST_SQUARE, metadata=_meta("test_square", locked=True, grade=True, points=2)),
        new_markdown_cell("## Part 3 (1 point, graded by hand)\n\nWhy is `square` never negative?", metadata=_meta("md_explain", locked=True)),
        new_markdown_cell("### BEGIN SOLUTION\nA real number times itself is never negative.\n### END SOLUTION\n",
                          metadata=_meta("explain", solution=True, grade=True, points=1)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata.kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.language_info = {"name": "python"}
    return nb


def grader_env(**extra: str) -> dict[str, str]:
    """Environment for the grader's commands in a test course: this Python's scripts first, the repository's
    own grading folder and gradebook out of the way."""
    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env.update(extra)
    return env


def make_course(root: Path, env: dict[str, str] | None = None) -> Path:
    """A course folder with the repository's nbgrader_config.py and the mini assignment, released; returns the release."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    source = root / "solutions" / MINI
    source.mkdir(parents=True, exist_ok=True)
    nbformat.write(mini_source(), source / NB)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", MINI, "--force"], cwd=root,
                   env=env or grader_env(), check=True, capture_output=True, timeout=600)
    return root / "assignments" / MINI / NB


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def cell_of(nb, grade_id: str):
    return next(c for c in nb.cells if meta(c).get("grade_id") == grade_id)


def answered(release: Path, **overrides: str) -> nbformat.NotebookNode:
    """The release with every answer filled in correctly, then ``overrides`` (grade_id -> source) applied."""
    nb = nbformat.read(release, as_version=4)
    answers = {"double": DOUBLE, "square": SQUARE, "explain": "A real number times itself is never negative."}
    for cell in nb.cells:
        grade_id = meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = "\n".join(line for line in answers[grade_id].splitlines() if "### " not in line) + "\n"
        if grade_id in overrides:
            cell.source = overrides.pop(grade_id)
    assert not overrides, overrides
    return nb


def with_cell(nb: nbformat.NotebookNode, source: str, after: str | None = "imports") -> nbformat.NotebookNode:
    """``nb`` with a student's extra code cell after the cell ``after`` (None: at the end)."""
    cell = new_code_cell(source)
    if after is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(nb.cells.index(cell_of(nb, after)) + 1, cell)
    return nb


def hidden_lines(min_length: int = 20) -> set[str]:
    """Distinctive lines of the mini assignment's hidden tests."""
    lines = set()
    for source in (TEST_DOUBLE, TEST_SQUARE):
        block = source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= min_length}
    return lines


def grader(root: Path, *args: str, timeout: float = 1200, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``python -m course_utils.grader`` in the course; exit status and everything it printed."""
    result = subprocess.run([sys.executable, "-m", "course_utils.grader", *args], cwd=root, env=env or grader_env(),
                            capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout + result.stderr
