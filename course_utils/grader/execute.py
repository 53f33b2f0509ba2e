"""The kernel runner nbgrader uses for this course: nbgrader's ``Execute`` with three guards.

1. **What the tests rely on is put back before every test cell.** Student code
   runs in the same Python process as the tests, so a student cell could
   replace ``course_utils.grading.check_close`` by a function that never
   fails, patch ``np.allclose`` or ``builtins.isinstance``, rebind ``np``, or
   define a global ``abs`` that hides the builtin. A silent snippet (the
   ``GUARD`` below) records the builtins, the NumPy and PyTorch namespaces the
   tests use and the notebook's module names (``np``, ``torch``, ...) as the
   released cells left them. Before each autograded test cell it puts them
   back, reloads ``course_utils.grading`` from disk and reloads (or
   re-imports) any other ``course_utils`` module whose functions were
   replaced; for that one cell, notebook globals that hide a builtin or a
   module the test uses step aside, and afterwards the student's own bindings
   return, so their later cells run as they wrote them.
2. **A kernel that dies** (``os._exit``, a crash, out of memory) no longer
   fails the whole submission: the cell gets an error saying so, later cells
   are marked as not run, and the tests that ran before keep their points.
3. **Huge outputs** are cut while they arrive, so a ``print`` in a loop cannot
   fill the grader's memory or the gradebook.

What it cannot stop: code that attacks the guard itself (its record lives in
the kernel too), patches modules it does not watch or C extensions, or reads
and writes files with the grader's permissions. See the instructor guide.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution
from traitlets import Integer

PACKAGE = Path(__file__).resolve().parents[1]  # course_utils/

# Modules whose functions tests and helpers call; a student's changes to them are undone before each test.
WATCHED = ("builtins", "math", "numpy", "numpy.linalg", "numpy.testing", "torch", "torch.nn", "torch.nn.functional",
           "torch.testing")

GUARD = """
def __course_guard(step, user, expected, watched, names):
    import sys
    import types

    state = sys.modules.get("_course_grader_state")
    if state is None:
        state = types.ModuleType("_course_grader_state")
        state.modules, state.bindings, state.swapped = {}, {}, {}
        sys.modules["_course_grader_state"] = state

    # Builtins first, with dict operations only: the rest of this function uses them.
    if "builtins" in state.modules:
        module, saved = state.modules["builtins"]
        sys.modules["builtins"] = module
        for key, value in saved.items():
            if (key[:1] != "_" or key[:2] == "__") and module.__dict__.get(key, state) is not value:
                module.__dict__[key] = value

    def is_module(value):
        try:
            return types.ModuleType in value.__class__.__mro__
        except Exception:
            return False

    # Remember the pristine state the first time it is seen: the watched modules' names, and the names
    # that earlier cells bound to modules (np, torch, F, ...).
    for name in watched:
        module = sys.modules.get(name)
        if name not in state.modules and module is not None and is_module(module):
            state.modules[name] = (module, dict(vars(module)))
    for key, value in list(user.items()):
        if not key.startswith("_") and key not in state.bindings and is_module(value):
            state.bindings[key] = value
    if step == "snapshot":
        return
    if step == "after":  # give the student's own bindings back after the test cell
        for key, value in state.swapped.items():
            if value is state:
                user.pop(key, None)
            else:
                user[key] = value
        state.swapped = {}
        return

    # step == "test": undo changes to the watched modules ...
    for name, (module, saved) in state.modules.items():
        sys.modules[name] = module
        for key, value in saved.items():
            if (not key.startswith("_") or key.startswith("__")) and module.__dict__.get(key, state) is not value:
                module.__dict__[key] = value

    # ... and to the course's own modules: reload those that were patched, re-import those that were swapped
    import importlib
    import os

    def genuine(name):
        module = sys.modules.get(name)
        return is_module(module) and os.path.realpath(getattr(module, "__file__", None) or "") == expected[name][0]

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

    # For the test cell only: names it uses that the notebook bound to a module get that module back, and
    # notebook globals that hide a builtin it uses step aside. "after" returns them.
    builtin_names = state.modules["builtins"][1] if "builtins" in state.modules else {}
    for key in names:
        current = user.get(key, state)
        if key in state.bindings and current is not state.bindings[key]:
            state.swapped.setdefault(key, current)
            user[key] = state.bindings[key]
        elif key in builtin_names and current is not state and current is not builtin_names[key]:
            state.swapped.setdefault(key, current)
            del user[key]

__course_guard(@STEP@, __course_guard.__globals__, @EXPECTED@, @WATCHED@, @NAMES@)
del __course_guard
"""


def guard_code(step: str, names: list[str] | tuple[str, ...] = (), expected: dict | None = None) -> str:
    """The silent snippet the grader runs in the kernel: ``snapshot`` (before answer cells), ``test`` or ``after``."""
    if step not in ("snapshot", "test", "after"):
        raise ValueError(f"unknown guard step {step!r}")
    if step != "test":
        expected = {}  # only the test step checks the course's modules
    elif expected is None:
        expected = expected_modules()
    values = {"STEP": step, "EXPECTED": expected, "WATCHED": WATCHED, "NAMES": sorted(names)}
    return re.sub(r"@(STEP|EXPECTED|WATCHED|NAMES)@", lambda match: repr(values[match.group(1)]), GUARD)


def loaded_names(source: str) -> list[str]:
    """Names a cell reads (``np``, ``isinstance``, ...); empty when it cannot be parsed."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    return sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)})


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
    """nbgrader's Execute, plus: what the tests rely on restored before each test cell, survival of a dying kernel, output caps."""

    max_stream_chars = Integer(100_000, help="Characters kept of each output stream of a cell; the rest is dropped.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict, km=None):
        self._stopped: str | None = None  # why the kernel can no longer run cells
        self._stream_chars: dict[tuple[int, str], int] = {}
        self._expected = expected_modules()
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
            if not (is_grade(cell) and not is_solution(cell)):
                run_sync(self._run_guard)("snapshot")  # remember what released cells set up, before a student's cell
                return super().preprocess_cell(cell, resources, index)
            problem = run_sync(self._run_guard)("test", loaded_names(cell.source))
            if problem:
                cell.outputs = [_error("GraderError", f"the grader could not restore what the tests rely on before "
                                                      f"this test, so the test was not run ({problem})")]
                return cell, resources
            cell, resources = super().preprocess_cell(cell, resources, index)
            run_sync(self._run_guard)("after")
            return cell, resources
        except DeadKernelError:
            self._stopped = "the kernel died in an earlier cell"
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell (the process exited: "
                                                      "os._exit, a crash, or running out of memory); later cells were not run"))
        except CellTimeoutError as err:
            self._stopped = "the kernel stopped responding in an earlier cell"
            cell.outputs.append(_error("CellTimeoutError", f"{str(err).splitlines()[0]}; later cells were not run"))
        return cell, resources

    async def _run_guard(self, step: str, names: list[str] | tuple[str, ...] = ()) -> str | None:
        """Run one step of the guard in the kernel; return why it failed, or None."""
        code = guard_code(step, names, self._expected)
        msg_id = await ensure_async(self.kc.execute(code, silent=True, store_history=False, allow_stdin=False))
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
