"""Flag student code for a person to review: tampering with the grader, and what a task's limits forbid.

The grader runs each notebook in a sandbox and restores what the tests rely on
before every test cell (:mod:`course_utils.grader.execute`), so the known
tricks earn nothing. This static scan is another layer: it points an
instructor at code that no honest answer needs, and the autograder regrades a
submission with the flagged statements (of both kinds) taken out to see whether
the grade depended on them (:func:`neutralised`). It reads the code; it never runs it.

Two kinds of finding:

* ``tamper``: rebinding names the tests use, patching modules, IPython input
  transformers and hooks, threads, import hooks (``sys.meta_path``),
  ``gc``/``ctypes``/``inspect`` tricks, frame and closure walking
  (``__traceback__``, ``tb_frame``, ``f_back``, ``f_locals``, ``__closure__``,
  ``cell_contents``, ``__code__``, ...), processes and signals
  (``subprocess``, ``os.fork``, ``signal``), ``exec``/``compile``/``eval`` of
  strings, finalizers, and the grader's own state;
* ``limits``: using what the assignment's declared limits forbid (the
  module-level :class:`course_utils.grading.Limits` of
  ``course_utils/checks/<assignment>.py``), under any alias.

Cells whose source is exactly a cell of the release (the Colab set-up cell,
instructions) are not the student's code and are skipped.
"""

from __future__ import annotations

import ast
import builtins
import fnmatch
import importlib
import re
from dataclasses import dataclass

import nbformat

from course_utils.grader.restore import nbgrader_meta

HELPERS = {"check_close", "check_shape", "check_finite", "check_true", "check_at_least", "call_student",
           "reference", "reference_blocked", "numerical_gradient", "fresh_rng", "torch_generator", "check_not_copied"}
PROTECTED_MODULES = {"course_utils", "builtins", "sys", "numpy", "importlib", "sklearn", "torch", "IPython",
                     "ipykernel", "math", "gc", "threading", "linecache", "signal", "os"}
SUSPICIOUS_CALLS = {"setattr", "delattr", "exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint",
                    "os._exit", "sys.exit", "importlib.reload", "importlib.import_module", "get_ipython",
                    "sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile", "sys.addaudithook",
                    "inspect.currentframe", "inspect.stack", "inspect.getsource", "gc.get_objects", "gc.get_referrers",
                    "gc.get_referents", "os.fork", "os.forkpty", "os.system", "os.popen", "os.kill", "os.killpg",
                    "os.setsid", "os.posix_spawn", "os.spawnl", "os.spawnv", "os.execv", "os.execve", "os.execl",
                    "os.execlp", "os.execvp", "threading.Thread", "threading.Timer", "_thread.start_new_thread",
                    "signal.signal", "signal.setitimer", "signal.alarm", "atexit.register", "weakref.finalize",
                    "types.FunctionType", "types.CodeType", "marshal.loads", "pickle.loads", "linecache.getlines"}
SUSPICIOUS_IMPORTS = {"builtins", "ctypes", "_ctypes", "gc", "inspect", "importlib", "signal", "threading", "_thread",
                      "subprocess", "multiprocessing", "concurrent", "pty", "atexit", "weakref", "marshal", "linecache",
                      "IPython", "ipykernel", "traceback", "socket", "asyncio", "sysconfig", "site", "dis", "code",
                      "codeop", "types"}
# Attributes no honest answer touches: frames, closures, code objects, IPython's machinery, import hooks.
SUSPICIOUS_ATTRIBUTES = {
    "__traceback__", "tb_frame", "tb_next", "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "f_lineno",
    "gi_frame", "gi_code", "cr_frame", "ag_frame", "__closure__", "cell_contents", "__code__", "__globals__",
    "__builtins__", "__subclasses__", "__defaults__", "__kwdefaults__", "co_consts", "co_code", "__dict__",
    "meta_path", "path_hooks", "path_importer_cache", "modules", "input_transformers_cleanup",
    "input_transformers_post", "input_transformer_manager", "ast_transformers", "events", "register_magic_function",
    "set_custom_exc", "showtraceback", "_showtraceback", "run_cell", "run_cell_async", "transform_cell",
    "run_ast_nodes", "run_code", "kernel", "shell_handlers", "do_execute", "user_ns", "displayhook", "excepthook",
    "callbacks", "_course_grader_state", "__course_guard", "__course_guard_result", "__del__", "__reduce__",
}
FINALIZERS = {"__del__"}
GRADER_NAMES = re.compile(r"_course_grader_state|__course_guard")
MAGIC = re.compile(r"^\s*[%!]")


@dataclass(frozen=True)
class Finding:
    """One construct to review: where it is and what it does."""

    kind: str  # "tamper" or "limits"
    cell: str  # the cell's grade id, or its index
    cell_index: int
    line: int  # first and last line of the statement that holds it (1-based, in the cell)
    end_line: int
    text: str

    def __str__(self) -> str:
        return f"cell {self.cell} line {self.line}: {self.text}"


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse("\n".join("" if MAGIC.match(line) else line for line in source.splitlines()))
    except SyntaxError:
        return None


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of attributes on a name, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Subscript):
        return _dotted(node.value)
    if isinstance(node, ast.Call):  # get_ipython().events -> get_ipython().events
        inner = _dotted(node.func)
        return ".".join([f"{inner}()", *reversed(parts)]) if inner else ""
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def _imports(tree: ast.AST) -> dict[str, str]:
    """Name -> what it is bound to, for the import statements in ``tree``."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _resolve(dotted: str, aliases: dict[str, str]) -> str:
    """``T.optim.Adam`` with ``T`` bound to ``torch`` -> ``torch.optim.Adam``."""
    if not dotted:
        return ""
    head, _, rest = dotted.partition(".")
    target = aliases.get(head)
    if target is None:
        return dotted
    return f"{target}.{rest}" if rest else target


def test_names(release: nbformat.NotebookNode) -> tuple[set[str], dict[str, str]]:
    """Names the tests rely on (builtins and released names the test cells read, helpers of read-only cells,
    imports), and what the imported ones are bound to."""
    names: set[str] = set()
    imported: dict[str, str] = {}
    locked_defs: set[str] = set()
    test_reads: set[str] = set()
    for cell in release.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("solution"):
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        imported.update(_imports(tree))
        reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if meta.get("grade"):
            test_reads |= reads
        else:
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    locked_defs.add(node.name)
                elif isinstance(node, ast.Assign):
                    locked_defs |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    names |= {n for n in test_reads if hasattr(builtins, n)}
    names |= test_reads & locked_defs
    return names | set(imported), imported


@dataclass(frozen=True)
class _Forbidden:
    """What one assignment's limits forbid, compiled for matching dotted names."""

    modules: tuple[tuple[str, str, tuple[str, ...]], ...]  # (module, the Limits' name, the cells it governs)
    functions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (dotted name or pattern, name, cells)
    files: tuple[tuple[str, str, tuple[str, ...]], ...]

    def match(self, dotted: str, cell: str | None = None) -> str | None:
        """What forbids ``dotted`` in the answer cell ``cell`` (a grade_id; None: any cell), or None."""
        if not dotted:
            return None

        def governs(cells: tuple[str, ...]) -> bool:
            return not cells or cell is None or cell in cells

        for module, where, cells in self.modules:
            if governs(cells) and (dotted == module or dotted.startswith(module + ".")):
                return f"{module} ({where})"
        for pattern, where, cells in self.functions:
            if governs(cells) and (fnmatch.fnmatchcase(dotted, pattern) or dotted.startswith(pattern + ".")):
                return f"{pattern} ({where})"
        for reader, where, cells in self.files:
            if governs(cells) and (dotted == reader or dotted.startswith(reader + ".")):
                return f"{reader} ({where}: no reading of files)"
        return None


def assignment_limits(assignment: str | None) -> _Forbidden | None:
    """Every module-level ``Limits`` of ``course_utils/checks/<assignment>.py``, or None when it has none."""
    if not assignment:
        return None
    try:
        from course_utils.grading import FILE_READERS, Limits

        module = importlib.import_module(f"course_utils.checks.{assignment}")
    except ImportError:
        return None
    modules, functions, files = [], [], []
    for name, value in vars(module).items():
        if not isinstance(value, Limits):
            continue
        modules += [(m, name, value.cells) for m in value.modules]
        functions += [(f, name, value.cells) for f in value.functions]
        if value.no_files:
            files += [(f, name, value.cells) for f in (*FILE_READERS, "open")]
    if not (modules or functions or files):
        return None
    return _Forbidden(tuple(modules), tuple(functions), tuple(files))


def _statement_spans(tree: ast.Module) -> dict[int, tuple[int, int]]:
    """id(node) -> (first, last line) of the innermost statement holding it."""
    spans: dict[int, tuple[int, int]] = {}

    def visit(node: ast.AST, span: tuple[int, int] | None) -> None:
        if isinstance(node, ast.stmt):
            span = (node.lineno, node.end_lineno or node.lineno)
        if span is not None:
            spans[id(node)] = span
        for child in ast.iter_child_nodes(node):
            visit(child, span)

    visit(tree, None)
    return spans


def findings(nb: nbformat.NotebookNode, release: nbformat.NotebookNode, assignment: str | None = None) -> list[Finding]:
    """Every construct to review in the cells a student may edit (cells identical to a release cell are skipped)."""
    used, imported = test_names(release)
    release_sources = {"\n".join(line.rstrip() for line in c.source.strip().splitlines()) for c in release.cells}
    aliases = dict(imported)  # name -> module, from the release and the student's own imports
    for cell in nb.cells:
        if cell.cell_type == "code" and (tree := _parse(cell.source)) is not None:
            aliases.update(_imports(tree))
    protected = used | PROTECTED_MODULES | {n for n, target in aliases.items() if target.split(".")[0] in PROTECTED_MODULES}
    forbidden = assignment_limits(assignment)
    found: dict[tuple[int, int, str], Finding] = {}
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or (meta and meta.get("locked") and not meta.get("solution")):
            continue  # locked cells are restored from the gradebook anyway
        if "\n".join(line.rstrip() for line in cell.source.strip().splitlines()) in release_sources:
            continue  # as released: not the student's code
        tree = _parse(cell.source)
        if tree is None:
            continue
        spans = _statement_spans(tree)
        inner_attributes = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        where = str(meta.get("grade_id") or index)
        cell_id = meta.get("grade_id")  # None for a cell the student added: every limit applies to it

        def add(kind: str, node: ast.AST, text: str) -> None:
            first, last = spans.get(id(node), (getattr(node, "lineno", 1), getattr(node, "end_lineno", 1) or 1))
            key = (index, first, text)
            if key not in found:
                found[key] = Finding(kind, where, index, first, last, text)

        for node in tree.body:  # names rebound at the top level shadow what the tests use
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [n for n, target in _imports(ast.Module([node], [])).items() if imported.get(n, target) != target]
            else:
                names = []
            for name in names:
                if name in used or name in HELPERS:
                    add("tamper", node, f"rebinds `{name}`, which the tests use")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for target in targets:
                    dotted = _dotted(target)
                    root = dotted.split(".")[0].removesuffix("()")
                    if isinstance(target, (ast.Attribute, ast.Subscript)) and (root in protected or root == "get_ipython"):
                        add("tamper", node, f"changes `{dotted}`")
            elif isinstance(node, ast.Call):
                name = _dotted(node.func)
                resolved = _resolve(name, aliases)
                if name in SUSPICIOUS_CALLS or resolved in SUSPICIOUS_CALLS:
                    add("tamper", node, f"calls `{name}()`")
                elif name.endswith((".register", ".append", ".insert", ".extend")) and any(
                        part in SUSPICIOUS_ATTRIBUTES for part in name.split(".")[:-1]):
                    add("tamper", node, f"calls `{name}()`")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for _, target in _imports(ast.Module([node], [])).items():
                    if target.split(".")[0] in SUSPICIOUS_IMPORTS:
                        add("tamper", node, f"imports `{target}`")
            elif isinstance(node, ast.Attribute) and "." in (name := _resolve(_dotted(node), aliases)) and \
                    name in SUSPICIOUS_CALLS and id(node) not in called:
                add("tamper", node, f"uses `{name}`")
            elif isinstance(node, ast.Attribute) and node.attr in SUSPICIOUS_ATTRIBUTES:
                if node.attr == "modules" and _dotted(node) not in ("sys.modules",):
                    continue
                if node.attr in ("events", "callbacks", "kernel", "user_ns", "displayhook", "excepthook") and not (
                        _dotted(node).split(".")[0] in ("sys", "gc") or "get_ipython()" in _dotted(node)):
                    continue
                add("tamper", node, f"uses `.{node.attr}`")
            elif isinstance(node, ast.Name) and (node.id in ("__builtins__", "get_ipython") or GRADER_NAMES.search(node.id)):
                add("tamper", node, f"uses `{node.id}`")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and GRADER_NAMES.search(node.value):
                add("tamper", node, "names the grader's own state")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FINALIZERS:
                add("tamper", node, f"defines `{node.name}` (a finalizer runs at unpredictable times, even during tests)")
            if forbidden is None:
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for _, target in _imports(ast.Module([node], [])).items():
                    if isinstance(node, ast.Import) and (hit := forbidden.match(target, cell_id)):
                        add("limits", node, f"imports `{target}`, which the task's limits forbid: {hit}")
                    elif isinstance(node, ast.ImportFrom) and ((hit := forbidden.match(target, cell_id))
                                                               or (hit := forbidden.match(node.module or "", cell_id))):
                        add("limits", node, f"imports `{target}`, which the task's limits forbid: {hit}")
            elif isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in inner_attributes:
                dotted = _dotted(node)
                resolved = _resolve(dotted, aliases)
                if resolved != dotted or isinstance(node, ast.Attribute) or dotted == "open":
                    hit = forbidden.match(resolved, cell_id)
                    if hit:
                        add("limits", node, f"uses `{dotted}`" + (f" (= {resolved})" if resolved != dotted else "")
                            + f", which the task's limits forbid: {hit}")
    return sorted(found.values(), key=lambda f: (f.cell_index, f.line, f.text))


def audit(nb: nbformat.NotebookNode, release: nbformat.NotebookNode, assignment: str | None = None) -> list[str]:
    """One line per construct to review (see :func:`findings`)."""
    return [str(f) for f in findings(nb, release, assignment)]


def neutralised(nb: nbformat.NotebookNode, found: list[Finding]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every statement that holds a finding replaced by ``pass``.

    Graded next to the submission, it shows whether the grade depended on the flagged code: tampering, or a use of
    what the task's limits forbid (a forbidden module imported in a governed cell to run the course's reference when
    the cell runs, outside the run-time guard's watch, say).
    """
    import copy

    out = copy.deepcopy(nb)
    by_cell: dict[int, list[tuple[int, int]]] = {}
    for finding in found:
        by_cell.setdefault(finding.cell_index, []).append((finding.line, finding.end_line))
    for index, spans in by_cell.items():
        cell = out.cells[index]
        lines = cell.source.splitlines()
        merged: list[tuple[int, int]] = []
        for first, last in sorted(spans):  # a statement inside a flagged one goes with it
            if merged and first <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        for first, last in reversed(merged):
            if first - 1 >= len(lines):
                continue
            indent = re.match(r"\s*", lines[first - 1]).group(0)
            lines[first - 1:last] = [f"{indent}pass  # removed by the grader's review check"]
        cell.source = "\n".join(lines) + "\n"
    return out
