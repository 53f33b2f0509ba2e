"""Student code cannot switch off the checks: the in-kernel guard and call_student undo tampering. No nbgrader run."""

from __future__ import annotations

import os
import subprocess
import sys
import types

from course_utils import activations
from course_utils import grading as G

import nbgrader_harness as H


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


POISON_CHECK = '''
import numpy
from course_utils.grader.execute import guard_code

notebook = {}
exec("import numpy as np", notebook)
exec(guard_code("snapshot", nonce="a"), notebook)
first = notebook["__course_guard_result"]
assert first["nonce"] == "a" and isinstance(first["digest"], str)
exec(guard_code("test", ["np"], digest=first["digest"], nonce="b"), notebook)
second = notebook["__course_guard_result"]
assert "problem" not in second and second["nonce"] == "b", second

import sys
always = lambda *a, **k: True
numpy.all = always
sys.modules["_course_grader_state"].modules["numpy"][1]["all"] = always  # poison the record
exec(guard_code("test", ["np"], digest=second["digest"], nonce="c"), notebook)
third = notebook["__course_guard_result"]
assert "starting state was changed" in third.get("problem", ""), third
print("ok")
'''


def test_guard_refuses_a_record_the_notebook_changed():
    result = subprocess.run([sys.executable, "-c", POISON_CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_bound_names_and_preloaded_modules():
    import nbformat

    from course_utils.grader.execute import bound_names, preloaded

    assert bound_names("import numpy as np\nfrom a import b as c\nx, (y, z) = 1, (2, 3)\ndef f(): pass\nclass K: pass\n") == \
        ["K", "c", "f", "np", "x", "y", "z"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy as np\nfrom course_utils import grading")])
    assert "torch" not in preloaded(nb)  # course_utils.grading needs no PyTorch
    nb.cells.append(nbformat.v4.new_code_cell("from course_utils.runtime import budget"))
    assert "torch" in preloaded(nb)  # course_utils.runtime imports it


def test_sandbox_command_shows_the_kernel_only_the_runtime_and_its_copy(tmp_path):
    from course_utils.grader import sandbox

    command = sandbox.build_command(["python", "-m", "ipykernel_launcher", "-f", "x.json"], workdir=tmp_path / "work",
                                    runtime_dir=tmp_path / "kernel", limits={"RLIMIT_NPROC": 10}, uid=None, tmp_bytes=1000,
                                    env={"COURSE_GRADEBOOK_URL": "postgresql://grader:secret@db/x", "COURSE_FAST": "1"})
    text = " ".join(command)
    assert "--unshare-net" in command and "--unshare-pid" in command and "--die-with-parent" in command
    assert "--clearenv" in command and "secret" not in text and "COURSE_FAST" in text
    mounted = [command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind", "--ro-bind-try")]
    assert not [m for m in mounted if m.rstrip("/").endswith(("solutions", "grading", "sandbox")) or m == str(H.ROOT)]
    assert str(H.ROOT / "course_utils") in mounted
    assert command[command.index("--chdir") + 1] == sandbox.WORKDIR


def test_without_bubblewrap_grading_refuses(monkeypatch):
    from course_utils.grader import sandbox

    sandbox.sandbox_problem.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        assert "bubblewrap is not installed" in sandbox.sandbox_problem()
    finally:
        sandbox.sandbox_problem.cache_clear()


def test_bubblewrap_sandbox_works_here():
    """CI installs bubblewrap (.ci/run); the grading tests run with the sandbox on."""
    from course_utils.grader.sandbox import sandbox_problem

    problem = sandbox_problem()
    if problem and not os.environ.get("CI"):
        import pytest

        pytest.skip(problem)
    assert problem is None, problem


def test_call_student_also_undoes_patches_to_numpy_and_builtins():
    """A student's function called by a test must not patch what the test's own checks use next."""
    import builtins

    import numpy

    real_all, real_abs = numpy.all, builtins.abs

    def sneaky(z):
        numpy.all = lambda *args, **kwargs: True
        builtins.abs = lambda value: 0
        return z

    assert G.call_student(sneaky, 2) == 2
    assert numpy.all is real_all and builtins.abs is real_abs
