"""The audit: tampering and uses of what a task's limits forbid are flagged, honest answers are not. No kernels run."""

from __future__ import annotations

import sys
import types

import nbformat
import pytest

import grader_fixtures as F
import nbgrader_harness as H
from course_utils.grader.audit import assignment_limits, audit, findings, neutralised
from course_utils.grading import Limits


def release() -> nbformat.NotebookNode:
    """The mini assignment as released (answers stubbed, tests without their hidden part)."""
    nb = F.mini_source()
    for cell in nb.cells:
        meta = F.meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = cell.source.split("### BEGIN SOLUTION")[0] + "    raise NotImplementedError()\n"
        elif meta.get("grade") and not meta.get("solution"):
            cell.source = cell.source.split("### BEGIN HIDDEN TESTS")[0]
    return nb


def student(**answers: str) -> nbformat.NotebookNode:
    nb = release()
    for grade_id, source in answers.items():
        F.cell_of(nb, grade_id).source = source
    return nb


HONEST = {"double": "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)\n",
          "square": "import math\n\n\ndef square(x):\n    x = np.asarray(x, dtype=float)\n    return x * x\n"}

TAMPERING = {
    "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])": "input_transformers_cleanup",
    "import threading\nthreading.Thread(target=print).start()": "threading",
    "import sys\nsys.meta_path.insert(0, object())": "meta_path",
    "import gc\nobjs = gc.get_objects()": "gc",
    "import ctypes": "ctypes",
    "import inspect\nframe = inspect.currentframe()": "inspect",
    "try:\n    1 / 0\nexcept Exception as err:\n    f = err.__traceback__.tb_frame": "tb_frame",
    "def double(x):\n    import sys\n    return sys._getframe(1).f_back.f_locals": "f_back",
    "def double(x):\n    return double.__closure__[0].cell_contents": "__closure__",
    "def double(x):\n    return x\ndouble.__code__ = (lambda x: 2 * x).__code__": "__code__",
    "import subprocess\nsubprocess.Popen(['sleep', '1'])": "subprocess",
    "import os\npid = os.fork()": "os.fork",
    "import signal\nsignal.signal(signal.SIGALRM, print)": "signal",
    "exec('x = 1')": "exec",
    "code = compile('x = 1', 'f', 'exec')": "compile",
    "def expected_double(x):\n    return x": "rebinds `expected_double`",
    "G = None": "rebinds `G`",
    "import numpy\nnumpy.all = lambda *a, **k: True": "changes `numpy.all`",
    "import sys\nstate = sys.modules['_course_grader_state']": "grader's own state",
    "class Trap:\n    def __del__(self):\n        pass": "__del__",
}


def test_honest_answers_are_not_flagged():
    assert audit(student(**HONEST), release()) == []
    assert audit(release(), release()) == []  # the released cells (the Colab cell imports subprocess) are not the student's


@pytest.mark.parametrize("source,expected", sorted(TAMPERING.items()))
def test_each_kind_of_tampering_is_flagged(source, expected):
    found = findings(student(double=source), release())
    assert found and all(f.kind == "tamper" for f in found), source
    assert any(expected in f.text for f in found), [str(f) for f in found]


@pytest.fixture
def limited(monkeypatch):
    """An assignment whose checks module declares limits, as course_utils/checks/<id>.py does."""
    module = types.ModuleType("course_utils.checks.zz_limited")
    module.NUMPY_ONLY = Limits(modules=("torch",), rule="NumPy only.")
    module.NO_OPTIM = Limits(functions=("torch.optim.Adam", "torch._fused_*"))
    module.NO_FILES = Limits(no_files=True)
    module.not_a_limit = {"modules": ("sklearn",)}
    monkeypatch.setitem(sys.modules, "course_utils.checks.zz_limited", module)
    return "zz_limited"


def test_uses_of_what_the_limits_forbid_are_flagged_under_any_alias(limited):
    cases = {
        "import torch\n\n\ndef double(x):\n    return x": "imports `torch`",
        "import torch as T\n\n\ndef double(x):\n    return T.tensor(x)": "(= torch.tensor)",
        "from torch import optim\n\n\ndef double(x):\n    return optim.Adam": "torch",
        "def double(x):\n    return np.load('answers.npy')": "numpy.load",
        "def double(x):\n    return open('answers.txt').read()": "`open`",
    }
    for source, expected in cases.items():
        found = [f for f in findings(student(double=source), release(), limited) if f.kind == "limits"]
        assert found and any(expected in f.text for f in found), (source, [str(f) for f in found])
        assert all("forbid" in f.text for f in found)
    assert not [f for f in findings(student(**HONEST), release(), limited)]
    names = "\n".join(str(f) for f in findings(student(double="import torch as T\nT.optim.Adam"), release(), limited))
    assert "NUMPY_ONLY" in names


def test_every_limits_object_of_the_module_is_read(limited):
    forbidden = assignment_limits(limited)
    assert {m for m, *_ in forbidden.modules} == {"torch"}
    assert {f for f, *_ in forbidden.functions} == {"torch.optim.Adam", "torch._fused_*"}
    assert forbidden.match("torch._fused_adam_") and forbidden.match("numpy.load") and not forbidden.match("numpy.sum")
    assert assignment_limits("no_such_assignment") is None


def test_neutralised_copy_replaces_only_the_flagged_statements():
    source = ("import threading\n\n\ndef double(x):\n    y = 2.0 * np.asarray(x, dtype=float)\n"
              "    threading.Thread(target=print).start()\n    return y\n")
    nb = student(double=source)
    out = neutralised(nb, findings(nb, release()))
    text = F.cell_of(out, "double").source
    assert "threading" not in text and "return y" in text and "y = 2.0" in text
    assert text.count("pass  # removed by the grader's review check") == 2
    compile(text, "cell", "exec")
    assert F.cell_of(nb, "double").source == source  # the submission itself is untouched


def test_neutralised_copy_also_takes_out_what_the_limits_forbid(limited):
    """A table of answers computed with a forbidden module when the cell runs, outside the run-time guard's watch."""
    source = ("import torch as T\n\nTABLE = T.arange(10.0) * 2\n\n\ndef double(x):\n"
              "    return np.asarray(TABLE)[np.asarray(x, dtype=int)]\n")
    nb = student(double=source)
    found = findings(nb, release(), limited)
    assert {f.kind for f in found} == {"limits"}
    text = F.cell_of(neutralised(nb, found), "double").source
    assert "torch" not in text and "TABLE = " not in text and "def double" in text
    compile(text, "cell", "exec")


def test_limits_that_govern_some_cells_are_audited_in_those_cells_only():
    """a03: PyTorch is forbidden in conv_output_size, and nn.BatchNorm2d is what build_model is for."""
    import nbformat

    release_nb = nbformat.read(H.ROOT / "assignments" / "a03_cnn_98" / "a03_cnn_98.ipynb", as_version=4)
    nb = nbformat.read(H.ROOT / "assignments" / "a03_cnn_98" / "a03_cnn_98.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        if grade_id == "build_model":
            cell.source = "def build_model():\n    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU())\n"
        elif grade_id == "conv_output_size":
            cell.source = ("def conv_output_size(n, f, p=0, s=1, d=1):\n"
                           "    return torch.nn.Conv2d(1, 1, f, s, p, d)(torch.zeros(1, 1, n, n)).shape[-1]\n")
    found = [f for f in findings(nb, release_nb, "a03_cnn_98") if f.kind == "limits"]
    assert found and all(f.cell == "conv_output_size" for f in found), [str(f) for f in found]
    added = nbformat.v4.new_code_cell("import torch\nhelper = torch.nn.Conv2d")  # a cell the student added
    nb.cells.insert(5, added)
    assert any(f.cell == "5" for f in findings(nb, release_nb, "a03_cnn_98") if f.kind == "limits")
