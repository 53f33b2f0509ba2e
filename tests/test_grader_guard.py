"""Student code cannot switch off the checks: the in-kernel guard and call_student undo tampering. No nbgrader run."""

from __future__ import annotations

import subprocess
import sys
import types

from course_utils import activations
from course_utils import grading as G


def test_call_student_undoes_what_the_student_function_patched():
    real_check_close, real_relu = G.check_close, activations.relu

    def sneaky(z):
        G.check_close = lambda *args, **kwargs: None
        activations.relu = lambda value: value
        G.abs = lambda value: 0  # a new global that would shadow a builtin inside the module
        sys.modules["course_utils.grading"] = types.ModuleType("fake")
        return z

    assert G.call_student(sneaky, 3) == 3
    assert G.check_close is real_check_close and activations.relu is real_relu
    assert not hasattr(G, "abs") and sys.modules["course_utils.grading"] is G


GUARD_CHECK = '''
import sys, types
import course_utils.grading as g
import course_utils.activations as act
from course_utils.grader.execute import guard_code

test_step = guard_code("test")
patched_close, patched_relu = (lambda *a, **k: None), (lambda z: z)
g.check_close, act.relu = patched_close, patched_relu
exec(test_step, {})
assert g.check_close is not patched_close and g.check_close.__module__ == "course_utils.grading"
assert act.relu is not patched_relu and act.relu.__module__ == "course_utils.activations"

sys.modules["course_utils.grading"] = types.ModuleType("course_utils.grading")  # a fake module object
sys.modules["course_utils"].grading = sys.modules["course_utils.grading"]
exec(test_step, {})
from course_utils import grading as fresh, activations as fresh_act
assert fresh is sys.modules["course_utils.grading"] and fresh.check_close.__module__ == "course_utils.grading"
try:  # the reference guard still holds across the re-import
    fresh.call_student(lambda z: fresh_act.relu(z), 1.0)
except AssertionError as err:
    assert "reference implementation" in str(err)
else:
    raise SystemExit("the reference implementation was not blocked")
print("ok")
'''

NUMPY_AND_BUILTINS_CHECK = '''
import builtins
import numpy
import numpy.testing
from course_utils.grader.execute import guard_code

real = {"all": numpy.all, "allclose": numpy.allclose, "assert_allclose": numpy.testing.assert_allclose,
        "isinstance": builtins.isinstance, "abs": builtins.abs}
snapshot, test, after = guard_code("snapshot"), guard_code("test", ["np", "abs", "answer"]), guard_code("after")
notebook = {}
exec("import numpy as np", notebook)  # the released imports cell
exec(snapshot, notebook)  # before the student's first cell

# the student's cell: patch NumPy and builtins, rebind np, hide a builtin behind a global
fake_np = type(numpy)("numpy")
fake_np.array_equal = lambda *args, **kwargs: True
numpy.all = numpy.allclose = numpy.testing.assert_allclose = lambda *args, **kwargs: True
builtins.isinstance = lambda *args: True
notebook["np"], notebook["abs"], notebook["answer"] = fake_np, (lambda x: 0), 42

exec(test, notebook)
assert numpy.all is real["all"] and numpy.allclose is real["allclose"]
assert numpy.testing.assert_allclose is real["assert_allclose"] and builtins.isinstance is real["isinstance"]
assert notebook["np"] is numpy and "abs" not in notebook and notebook["answer"] == 42
exec("result = (np.allclose([1.0], [2.0]), abs(-3), isinstance(1, str))", notebook)  # the test cell
assert notebook["result"] == (False, 3, False), notebook["result"]

exec(after, notebook)  # the student's later cells see their own names again
assert notebook["np"] is fake_np and notebook["abs"](5) == 0 and notebook["answer"] == 42
assert numpy.all is real["all"]  # patches to NumPy and builtins stay undone
print("ok")
'''


def test_guard_restores_the_course_modules_in_the_kernel():
    result = subprocess.run([sys.executable, "-c", GUARD_CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_guard_restores_numpy_builtins_and_module_names_for_the_test_cell_only():
    result = subprocess.run([sys.executable, "-c", NUMPY_AND_BUILTINS_CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_loaded_names_reads_what_a_test_cell_uses():
    from course_utils.grader.execute import loaded_names

    assert loaded_names("%matplotlib inline\nx = np.abs(isinstance(a, int))\nprint(x)") == ["a", "int", "isinstance", "np", "print", "x"]
    assert loaded_names("def broken(:\n") == []
