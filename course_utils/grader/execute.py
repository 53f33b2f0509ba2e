"""The kernel runner nbgrader uses for this course: nbgrader's ``Execute`` with three guards.

1. **Fresh helpers before every test cell.** Student code runs in the same
   Python process as the tests, so a student cell could replace
   ``course_utils.grading.check_close`` by a function that never fails, or
   patch the reference implementation a hidden test compares against. Before
   each autograded test cell a silent snippet reloads ``course_utils.grading``
   from disk and reloads (or re-imports) any other ``course_utils`` module whose
   functions or classes were replaced. Test cells import ``G`` themselves, so
   redefining ``G`` or ``check_close`` in the notebook does not reach them.
2. **A kernel that dies** (``os._exit``, a crash, out of memory) no longer
   fails the whole submission: the cell gets an error saying so, later cells
   are marked as not run, and the tests that ran before keep their points.
3. **Huge outputs** are cut while they arrive, so a ``print`` in a loop cannot
   fill the grader's memory or the gradebook.

What it cannot stop: code that patches NumPy or Python itself, or reads and
writes files with the grader's permissions. See the instructor guide.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution
from traitlets import Integer

PACKAGE = Path(__file__).resolve().parents[1]  # course_utils/

GUARD = '''
def __course_guard(expected):
    import importlib, os, sys, types

    def genuine(name):
        module = sys.modules.get(name)
        return isinstance(module, types.ModuleType) and os.path.realpath(getattr(module, "__file__", None) or "") == expected[name][0]

    def innermost(obj):
        while hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        return obj

    def tampered(name):
        module = sys.modules[name]
        for attr in expected[name][1]:
            obj = module.__dict__.get(attr)
            if getattr(obj, "__module__", None) != name or getattr(obj, "__qualname__", None) != attr:
                return True
            code = getattr(innermost(obj), "__code__", None)
            if code is not None and os.path.realpath(code.co_filename) != expected[name][0]:
                return True
        return False

    loaded = [n for n in expected if n in sys.modules or n in ("course_utils", "course_utils.grading")]
    if all(genuine(n) for n in loaded if n in sys.modules):
        for name in loaded:
            if name not in sys.modules:
                importlib.import_module(name)
            elif name == "course_utils.grading" or tampered(name):
                importlib.reload(sys.modules[name])
    else:  # a module object was swapped: start the whole package afresh
        for name in [n for n in sys.modules if n == "course_utils" or n.startswith("course_utils.")]:
            del sys.modules[name]
        for name in loaded:
            importlib.import_module(name)
    for name in loaded:
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])

__course_guard(EXPECTED)
del __course_guard
'''


def expected_modules(package: Path = PACKAGE) -> dict[str, tuple[str, list[str]]]:
    """Module name -> (real path of its file, names of its top-level functions and classes), for ``course_utils``."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if "grader" in parts:
            continue  # the grading pipeline never runs inside a student's kernel
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_text())
        defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        modules[name] = (os.path.realpath(path), defs)
    order = lambda n: (n != "course_utils", n != "course_utils.grading", n)  # noqa: E731  package, then grading first
    return {n: modules[n] for n in sorted(modules, key=order)}


def _error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute, plus: fresh course helpers before each test cell, survival of a dying kernel, output caps."""

    max_stream_chars = Integer(100_000, help="Characters kept of each output stream of a cell; the rest is dropped.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict, km=None):
        self._stopped: str | None = None  # why the kernel can no longer run cells
        self._stream_chars: dict[tuple[int, str], int] = {}
        self._guard = GUARD.replace("EXPECTED", repr(expected_modules()))
        try:
            return super().preprocess(nb, resources, km=km)
        except DeadKernelError:  # the kernel died between cells or while shutting down: keep what ran
            return self.nb, self.resources

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped}")]
            return cell, resources
        try:
            if is_grade(cell) and not is_solution(cell):
                problem = run_sync(self._run_guard)()
                if problem:
                    cell.outputs = [_error("GraderError", f"the grader could not restore the course's helper modules before "
                                                          f"this test, so the test was not run ({problem})")]
                    return cell, resources
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = "the kernel died in an earlier cell"
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell (the process exited: "
                                                      "os._exit, a crash, or running out of memory); later cells were not run"))
        except CellTimeoutError as err:
            self._stopped = "the kernel stopped responding in an earlier cell"
            cell.outputs.append(_error("CellTimeoutError", f"{str(err).splitlines()[0]}; later cells were not run"))
        return cell, resources

    async def _run_guard(self) -> str | None:
        """Restore the course's modules in the kernel; return why that failed, or None."""
        msg_id = await ensure_async(self.kc.execute(self._guard, silent=True, store_history=False, allow_stdin=False))
        reply = await self.async_wait_for_reply(msg_id)
        if reply is None:
            self._stopped = "the kernel stopped responding"
            return "no reply from the kernel"
        content = reply["content"]
        return None if content["status"] == "ok" else f"{content.get('ename')}: {content.get('evalue')}"

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_stream_chars`` of each stream (stdout, stderr) of a cell."""
        if msg["msg_type"] == "stream" and self.max_stream_chars >= 0:
            key = (cell_index, msg["content"]["name"])
            used = self._stream_chars.get(key, 0)
            text = msg["content"]["text"]
            self._stream_chars[key] = used + len(text)
            if used >= self.max_stream_chars:
                return None
            if used + len(text) > self.max_stream_chars:
                msg["content"]["text"] = text[: self.max_stream_chars - used] + "\n... output truncated by the grader ...\n"
        return super().output(outs, msg, display_id, cell_index)
