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
    assert G._blocked_depth == 0


GUARD_CHECK = '''
import sys, types
import course_utils.grading as g
import course_utils.activations as act
from course_utils.grader.execute import GUARD, expected_modules

guard = GUARD.replace("EXPECTED", repr(expected_modules()))
patched_close, patched_relu = (lambda *a, **k: None), (lambda z: z)
g.check_close, g._blocked_depth, act.relu = patched_close, -100, patched_relu
exec(guard, {})
assert g.check_close is not patched_close and g.check_close.__module__ == "course_utils.grading"
assert g._blocked_depth == 0
assert act.relu is not patched_relu and act.relu.__module__ == "course_utils.activations"

sys.modules["course_utils.grading"] = types.ModuleType("course_utils.grading")  # a fake module object
sys.modules["course_utils"].grading = sys.modules["course_utils.grading"]
exec(guard, {})
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


def test_guard_restores_the_course_modules_in_the_kernel():
    result = subprocess.run([sys.executable, "-c", GUARD_CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
