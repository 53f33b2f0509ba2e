"""The kernel runner nbgrader uses for this course: nbgrader's ``Execute`` with a sandbox and guards.

1. **A sandbox per notebook.** The kernel runs in a bubblewrap sandbox
   (:mod:`course_utils.grader.sandbox`): it sees a private copy of its own
   submission and the read-only runtime, nothing of the course's solutions,
   gradebook or other students, has no network, and everything it started is
   killed when its notebook is done.
2. **What the tests rely on is put back before every test cell.** Student
   code runs in the same Python process as the tests, so a student cell could
   replace ``course_utils.grading.check_close`` by a function that never fails,
   patch ``np.allclose`` or ``builtins.isinstance``, rebind ``np``, redefine a
   helper of a read-only cell, add an IPython input transformer that empties
   test cells, silence tracebacks, install import hooks or signal handlers, or
   leave a thread running that patches things again. A silent snippet
   (``kernel_guard.py``) records the pristine kernel before any notebook code
   runs, and what the released read-only cells bind; before each test cell it
   puts all of that back, reloads ``course_utils.grading`` from disk, reloads
   any other ``course_utils`` module whose functions were replaced, and refuses
   to run the test while a thread the notebook started is alive. For the test
   cell only, the names it reads get their released values; afterwards the
   student's own bindings return, so their later cells run as they wrote them.
   The record lives in the kernel, so the grader keeps a digest of it and the
   guard refuses a record that changed between its steps.
3. **Test cells leave no trace in the kernel.** They run without history (not
   in ``In``, ``_ih`` or the history database), and their source is dropped
   from the line cache IPython keeps for tracebacks once they ran.
4. **A kernel that dies** (``os._exit``, a crash, out of memory) no longer
   fails the whole submission: the cell gets an error saying so, later cells
   are marked as not run, and the tests that ran before keep their points.
5. **Huge outputs** are cut while they arrive, so a ``print`` in a loop cannot
   fill the grader's memory or the gradebook.

What the guard notices that no honest answer does (new audit hooks, frame and
garbage-collector walks, ``ctypes``, new processes, ...) and the tests it
could not run are kept in the autograded notebook's metadata
(``course_grader``), which :mod:`course_utils.grader.autograde` reports for
review. The guard lives in the same process as the student's code, so it is a
second line of defence: see the instructor guide for what is and is not
protected.
"""

from __future__ import annotations

import ast
import os
import re
import secrets
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

GUARD_SOURCE = Path(__file__).with_name("kernel_guard.py")
STEPS = ("snapshot", "locked", "test", "after")


def guard_code(step: str, names: list[str] | tuple[str, ...] = (), expected: dict | None = None,
               digest: str | None = None, student: bool = False, nonce: str = "",
               preload: list[str] | tuple[str, ...] = WATCHED) -> str:
    """The silent snippet the grader runs in the kernel for one step of the guard (see ``kernel_guard.py``).

    ``digest`` is what the previous step reported; the guard refuses to use its record when it changed.
    The step's result (a dict: ``digest``, maybe ``problem`` and ``events``) is left in
    ``__course_guard_result`` for the grader to read.
    """
    if step not in STEPS:
        raise ValueError(f"unknown guard step {step!r}")
    if step != "test":
        expected = {}  # only the test step checks the course's modules
    elif expected is None:
        expected = expected_modules()
    values = {"STEP": step, "EXPECTED": expected, "WATCHED": WATCHED, "NAMES": sorted(names), "DIGEST": digest,
              "STUDENT": bool(student), "NONCE": nonce, "PRELOAD": list(preload)}
    source = GUARD_SOURCE.read_text()
    return re.sub(r"__(STEP|EXPECTED|WATCHED|NAMES|DIGEST|STUDENT|NONCE|PRELOAD)__",
                  lambda match: repr(values[match.group(1)]), source)


def preloaded(nb: NotebookNode, package: Path = PACKAGE) -> list[str]:
    """The watched modules a notebook uses (itself, or through a course_utils module that imports them).

    The guard imports them before any of the notebook's code runs, so that what it records is pristine.
    """
    roots = {"builtins", "math", "numpy"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = _parse_cell(cell.source)
        for node in ast.walk(tree) if tree is not None else []:
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in modules:
                roots.add(name.split(".")[0])
                path = package.parent / Path(*name.split(".")).with_suffix(".py")
                if name.startswith("course_utils.") and path.is_file() and "torch" in _top_imports(path):
                    roots.add("torch")
    return [name for name in WATCHED if name.split(".")[0] in roots]


def _parse_cell(source: str) -> ast.Module | None:
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _top_imports(path: Path) -> set[str]:
    """Top-level packages a module imports at its top level."""
    tree = _parse_cell(path.read_text())
    found = set()
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


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


def bound_names(source: str) -> list[str]:
    """Names a cell binds at its top level (assignments, definitions, imports); empty when it cannot be parsed."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return sorted(names)


def _error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute, plus: a sandboxed kernel, what the tests rely on restored before each test cell,
    test cells without history, survival of a dying kernel, output caps."""

    max_stream_chars = Integer(100_000, help="Characters kept of each output stream of a cell; the rest is dropped.").tag(config=True)

    def __init__(self, *args, **kwargs):
        from course_utils.grader.sandbox import SandboxedKernelManager

        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb: NotebookNode, resources: dict, km=None):
        self._stopped: str | None = None  # why the kernel can no longer run cells
        self._stream_chars: dict[tuple[int, str], int] = {}
        self._expected = expected_modules()
        self._digest: str | None = None
        self._events: list[str] = []
        self._problems: list[str] = []
        self._sandboxed: bool | None = None
        self._preload = preloaded(nb)
        code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
        self._last_code_cell = code_cells[-1] if code_cells else -1
        try:
            nb, resources = super().preprocess(nb, resources, km=km)
        except DeadKernelError:  # the kernel died between cells or while shutting down: keep what ran
            nb, resources = self.nb, self.resources
        nb.metadata["course_grader"] = {"sandboxed": self._sandboxed, "events": list(dict.fromkeys(self._events)),
                                        "problems": list(dict.fromkeys(self._problems))}
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped}")]
            return cell, resources
        if self._sandboxed is None and self.km is not None:
            self._sandboxed = bool(getattr(self.km, "enabled", False))
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        try:
            if not (is_grade(cell) and not is_solution(cell)):
                locked = bool(meta.get("locked")) and not meta.get("solution")
                problem = run_sync(self._run_guard)("snapshot", student=not locked)
                if problem:
                    self._problems.append(problem)
                cell, resources = super().preprocess_cell(cell, resources, index)
                if locked and not self._stopped:  # a released cell: what it binds is what the tests may use
                    run_sync(self._run_guard)("locked", bound_names(cell.source))
                elif index == self._last_code_cell and not self._stopped:  # collect what the last cell did
                    run_sync(self._run_guard)("snapshot")
                return cell, resources
            problem = run_sync(self._run_guard)("test", loaded_names(cell.source))
            if problem:
                self._problems.append(problem)
                cell.outputs = [_error("GraderError", f"the grader could not restore what the tests rely on before "
                                                      f"this test, so the test was not run ({problem})")]
                return cell, resources
            self._check_assign_resources(resources)
            cell = self.execute_cell(cell, index, store_history=False)  # the test's source stays out of In and _ih
            if not self._stopped:
                run_sync(self._run_guard)("after")
            return cell, self.resources
        except DeadKernelError:
            self._stopped = "the kernel died in an earlier cell"
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell (the process exited: "
                                                      "os._exit, a crash, or running out of memory); later cells were not run"))
        except CellTimeoutError as err:
            self._stopped = "the kernel stopped responding in an earlier cell"
            cell.outputs.append(_error("CellTimeoutError", f"{str(err).splitlines()[0]}; later cells were not run"))
        return cell, resources

    async def _run_guard(self, step: str, names: list[str] | tuple[str, ...] = (), student: bool = False) -> str | None:
        """Run one step of the guard in the kernel; return why it failed, or None."""
        nonce = secrets.token_hex(8)
        code = guard_code(step, names, self._expected, self._digest, student, nonce, self._preload)
        msg_id = await ensure_async(self.kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                                                    user_expressions={"result": "__course_guard_result"}))
        reply = await self.async_wait_for_reply(msg_id)
        if reply is None:
            self._stopped = "the kernel stopped responding"
            return "no reply from the kernel"
        content = reply["content"]
        if content["status"] != "ok":
            return f"{content.get('ename')}: {content.get('evalue')}"
        value = content.get("user_expressions", {}).get("result", {})
        try:
            result = ast.literal_eval(value["data"]["text/plain"]) if value.get("status") == "ok" else None
        except (KeyError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            result = None
        if not isinstance(result, dict) or not isinstance(result.get("digest"), str) or result.get("nonce") != nonce:
            return "the guard's step did not run (something in the kernel changed the code it was sent)"
        self._digest = result["digest"]
        self._events += [str(e)[:200] for e in result.get("events", []) if isinstance(e, str)]
        return str(result["problem"])[:300] if result.get("problem") else None

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
