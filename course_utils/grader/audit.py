"""Flag student code that tampers with what the tests rely on, for a person to review.

The autograder restores the course's helper modules before every test cell
(:mod:`course_utils.grader.execute`), so the simple tricks earn nothing. This
static scan is the second layer: it points an instructor at code that rebinds
names the tests use, patches modules, or reaches into the interpreter, which no
honest answer needs. It reads the code; it never runs it.
"""

from __future__ import annotations

import ast
import builtins
import re

import nbformat

from course_utils.grader.restore import nbgrader_meta

HELPERS = {"check_close", "check_shape", "check_finite", "check_true", "check_at_least", "call_student",
           "reference", "reference_blocked", "numerical_gradient"}
PROTECTED_MODULES = {"course_utils", "builtins", "sys", "numpy", "importlib", "sklearn", "torch"}
SUSPICIOUS_CALLS = {"setattr", "delattr", "exec", "eval", "compile", "__import__", "globals", "vars",
                    "os._exit", "sys.exit", "importlib.reload", "sys._getframe", "inspect.currentframe",
                    "gc.get_objects", "gc.get_referrers"}
SUSPICIOUS_IMPORTS = {"builtins", "ctypes", "gc", "inspect", "importlib", "signal"}
MAGIC = re.compile(r"^\s*[%!]")


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
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def _imports(tree: ast.Module) -> dict[str, str]:
    """Name -> what it is bound to, for the import statements in ``tree``."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def test_names(release: nbformat.NotebookNode) -> tuple[set[str], dict[str, str]]:
    """Names the locked cells (imports and tests) rely on, and what the imported ones are bound to."""
    names: set[str] = set()
    imported: dict[str, str] = {}
    for cell in release.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("solution"):
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        imported.update(_imports(tree))
        if meta.get("grade"):
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and hasattr(builtins, n.id)}
    return names | set(imported), imported


def audit(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """One line per suspicious construct in the cells a student may edit."""
    used, imported = test_names(release)
    aliases = dict(imported)  # name -> module, from the release and the student's own imports
    for cell in nb.cells:
        if cell.cell_type == "code" and (tree := _parse(cell.source)) is not None:
            aliases.update(_imports(tree))
    protected = used | PROTECTED_MODULES | {n for n, target in aliases.items() if target.split(".")[0] in PROTECTED_MODULES}
    findings = []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or (meta and not meta.get("solution")):
            continue  # locked cells are restored from the gradebook anyway
        tree = _parse(cell.source)
        if tree is None:
            continue
        where = f"cell {meta.get('grade_id') or index}"
        for node in tree.body:  # names rebound at the top level shadow what the tests use
            targets = []
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                targets = [t for t in targets if isinstance(t, ast.Name)]
                names = [t.id for t in targets]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [n for n, target in _imports(ast.Module([node], [])).items() if imported.get(n, target) != target]
            else:
                names = []
            for name in names:
                if name in used or name in HELPERS:
                    findings.append(f"{where} line {node.lineno}: rebinds `{name}`, which the tests use")
        for node in ast.walk(tree):
            lineno = getattr(node, "lineno", 0)
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for target in targets:
                    dotted = _dotted(target)
                    if isinstance(target, (ast.Attribute, ast.Subscript)) and dotted.split(".")[0] in protected:
                        findings.append(f"{where} line {lineno}: changes `{dotted}`")
            elif isinstance(node, ast.Call) and _dotted(node.func) in SUSPICIOUS_CALLS:
                findings.append(f"{where} line {lineno}: calls `{_dotted(node.func)}()`")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for name, target in _imports(ast.Module([node], [])).items():
                    if target.split(".")[0] in SUSPICIOUS_IMPORTS:
                        findings.append(f"{where} line {lineno}: imports `{target}`")
    return list(dict.fromkeys(findings))
