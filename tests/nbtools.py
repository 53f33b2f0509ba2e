"""Notebook maintenance shared by the tests and the Makefile.

``python tests/nbtools.py sync``   rewrite every notebook's Colab set-up cell
                                   from _config.yml and strip outputs.
``python tests/nbtools.py check``  exit 1 if a notebook is out of sync or has outputs.
``python tests/nbtools.py fix-math [FILE...]``
                                   put a blank line before and after every ``$$`` block.
``python tests/nbtools.py fold-solutions [FILE...]``
                                   turn ``{admonition} Solution`` blocks into HTML
                                   ``<details>`` that stay folded on the website, in
                                   JupyterLab and in Colab.
``python tests/nbtools.py check-markdown``
                                   exit 1 on display math the website garbles or a
                                   solution that is not folded (notebooks and pages).

``fix-math`` and ``fold-solutions`` change only markdown cells (or ``.md`` pages),
default to the chapters and pages under book/, and do nothing on a second run.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("book", "solutions", "assignments")

SETUP_TEMPLATE = '''\
# Colab only: install the course helpers (course_utils); elsewhere this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+{url}@{branch}"], check=True)'''


def repository() -> tuple[str, str]:
    """The repository URL and branch from _config.yml (the one place they are set)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def setup_cell_source() -> str:
    """The exact source of the first code cell of every course notebook."""
    url, branch = repository()
    return SETUP_TEMPLATE.format(url=url, branch=branch)


def course_notebooks(dirs=NOTEBOOK_DIRS) -> list[Path]:
    """All committed notebooks under book/, solutions/ and assignments/."""
    found = []
    for folder in dirs:
        for path in sorted((ROOT / folder).rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in path.parts:
                found.append(path)
    return found


def first_code_cell(nb: nbformat.NotebookNode):
    return next((cell for cell in nb.cells if cell.cell_type == "code"), None)


def has_outputs(nb: nbformat.NotebookNode) -> bool:
    return any(cell.get("outputs") or cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code")


def strip_outputs(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("execution", None)


def sync(path: Path) -> bool:
    """Set the Colab cell and strip outputs in ``path``; return True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    cell = first_code_cell(nb)
    if cell is None:
        raise ValueError(f"{path}: has no code cell for the Colab set-up")
    cell.source = setup_cell_source()
    strip_outputs(nb)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after)
        return True
    return False


def problems(path: Path) -> list[str]:
    """What is wrong with a committed notebook (empty when it is clean)."""
    nb = nbformat.read(path, as_version=4)
    found = []
    if has_outputs(nb):
        found.append("has outputs or execution counts")
    cell = first_code_cell(nb)
    if cell is None or cell.source != setup_cell_source():
        found.append("first code cell is not the Colab set-up cell (run `make sync-notebooks`)")
    return found


# ------------------------------------------------------------------ markdown
# A markdown fence: ``` or ~~~ (code, unless its info string is a MyST directive) or ::: (a directive).
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
SOLUTION_TITLE = re.compile(r"^(solution|answer)s?\b", re.IGNORECASE)
FOLDING_DIRECTIVES = ("admonition", "dropdown", "toggle", "note", "tip", "hint")


def _fence_kind(info: str, fence: str) -> str:
    """'code' for a fence whose content is code, 'directive' for a MyST directive (whose content is markdown)."""
    info = info.strip()
    if fence.startswith(":") or (info.startswith("{") and not info.startswith(("{code", "{literalinclude"))):
        return "directive"
    return "code"


def _markdown_lines(lines: list[str]):
    """Yield (index, line, in_code, event) for every line; event is "open", "close" or "" for fence lines."""
    stack: list[str] = []  # open fences
    kinds: list[str] = []
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        in_code = "code" in kinds
        if m:
            fence, info = m["fence"], m["info"]
            if stack and fence[0] == stack[-1][0] and len(fence) >= len(stack[-1]) and not info.strip():
                stack.pop()
                kinds.pop()
                yield i, line, True, "close"
                continue
            if not in_code:
                stack.append(fence)
                kinds.append(_fence_kind(info, fence))
                yield i, line, True, "open"
                continue
        yield i, line, in_code, ""


def _math_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) line indices of every ``$$`` display block outside code."""
    blocks, start = [], None
    for i, line, in_code, _ in _markdown_lines(lines):
        if in_code:
            continue
        s = line.strip()
        if start is None and s.startswith("$$"):
            if len(s) > 2 and s.endswith("$$"):  # $$ ... $$ on one line
                blocks.append((i, i))
            else:
                start = i
        elif start is not None and s.endswith("$$"):
            blocks.append((start, i))
            start = None
    return blocks


def math_problems(text: str) -> list[str]:
    """Display math without a blank line before or after it (the website then shows stray $ signs)."""
    lines = text.splitlines()
    found = []
    for first, last in _math_blocks(lines):
        if first > 0 and lines[first - 1].strip():
            found.append(f"$$ block right under a line of text (line {first + 1}: {lines[first - 1].strip()[:60]!r})")
        if last + 1 < len(lines) and lines[last + 1].strip():
            found.append(f"text right after a $$ block (line {last + 2}: {lines[last + 1].strip()[:60]!r})")
    return found


def fix_math(text: str) -> str:
    """``text`` with a blank line before and after every ``$$`` block."""
    lines = text.splitlines()
    blocks = _math_blocks(lines)
    before = {first for first, _ in blocks if first > 0 and lines[first - 1].strip()}
    after = {last for _, last in blocks if last + 1 < len(lines) and lines[last + 1].strip()}
    out = []
    for i, line in enumerate(lines):
        if i in before:
            out.append("")
        out.append(line)
        if i in after:
            out.append("")
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _solution_directives(lines: list[str]):
    """Yield (open line, close line, title) of every directive fence titled "Solution" (or "Answer")."""
    stack: list[tuple[int, str]] = []  # (line, title or "") of every open fence
    for i, line, _, event in _markdown_lines(lines):
        if event == "close":
            start, title = stack.pop()
            if title:
                yield start, i, title
        elif event == "open":
            directive = re.match(r"\{(?P<name>[\w-]+)\}\s*(?P<title>.*)", FENCE.match(line)["info"].strip())
            title = ""
            if directive and directive["name"] in FOLDING_DIRECTIVES and SOLUTION_TITLE.match(directive["title"]):
                title = directive["title"].strip()
            stack.append((i, title))


DETAILS_OPEN = re.compile(r"^\s*<details(?P<attrs>[^>]*)>\s*$")
SUMMARY = re.compile(r"^\s*<summary>.*</summary>\s*$")


def solution_problems(text: str) -> list[str]:
    """Solutions shown open somewhere: admonitions (raw text in JupyterLab and Colab), ``<details open>``, bad forms."""
    lines = text.splitlines()
    found = [f"solution admonition at line {start + 1} ({title!r}) is not folded in JupyterLab or Colab: "
             "use <details> (python tests/nbtools.py fold-solutions)" for start, _, title in _solution_directives(lines)]
    for i, line, in_code, _ in _markdown_lines(lines):
        m = DETAILS_OPEN.match(line)
        if in_code or not m:
            continue
        if "open" in m["attrs"].split():
            found.append(f"<details open> at line {i + 1}: a solution must start folded")
        if i + 1 >= len(lines) or not SUMMARY.match(lines[i + 1]):
            found.append(f"<details> at line {i + 1} is not followed by a <summary>...</summary> line")
        elif i + 2 < len(lines) and lines[i + 2].strip():
            found.append(f"no blank line after the <summary> line {i + 2} (the markdown inside would show raw)")
    for i, line in enumerate(lines):
        if line.strip() == "</details>" and i > 0 and lines[i - 1].strip():
            found.append(f"no blank line before </details> at line {i + 1}")
    return found


def fold_solutions(text: str) -> str:
    """``text`` with every solution admonition rewritten as a folded HTML ``<details>`` block."""
    lines = text.splitlines()
    while found := list(_solution_directives(lines)):
        start, end, title = max(found)  # the last one opened holds no other solution
        body = lines[start + 1 : end]
        while body and re.match(r"^\s*:[\w-]+:", body[0]):  # directive options such as :class: dropdown
            body = body[1:]
        while body and not body[0].strip():
            body = body[1:]
        while body and not body[-1].strip():
            body = body[:-1]
        lines[start : end + 1] = ["<details>", f"<summary>{html.escape(title)}</summary>", "", *body, "", "</details>"]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


PAGE_DIRS = ("book",)


def markdown_files(args: list[str], dirs=PAGE_DIRS) -> list[Path]:
    """The files named on the command line, or every notebook and .md page under ``dirs``."""
    if args:
        return [Path(a).resolve() for a in args]
    found = []
    for folder in dirs:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".ipynb", ".md"} and ".ipynb_checkpoints" not in path.parts:
                found.append(path)
    return found


def rewrite_markdown(path: Path, fix) -> bool:
    """Apply ``fix`` (text -> text) to the markdown of a notebook or page; return True if the file changed."""
    if path.suffix == ".md":
        before = path.read_text()
        after = fix(before)
    else:
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = fix(cell.source)
        after = nbformat.writes(nb)
    if after != before:
        path.write_text(after)
        return True
    return False


def markdown_problems(path: Path) -> list[str]:
    """Garbled display math and unfolded solutions in a notebook's markdown cells or a page."""
    if path.suffix == ".md":
        parts = [("", path.read_text())]
    else:
        nb = nbformat.read(path, as_version=4)
        parts = [(f"cell {i}: ", c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    return [where + msg for where, text in parts for msg in math_problems(text) + solution_problems(text)]


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command in {"fix-math", "fold-solutions"}:
        fix = fix_math if command == "fix-math" else (lambda text: fix_math(fold_solutions(text)))
        for path in markdown_files(argv[2:]):
            if rewrite_markdown(path, fix):
                print(f"updated {path.relative_to(ROOT)}")
        return 0
    if command == "check-markdown":
        paths = markdown_files(argv[2:]) or []
        if not argv[2:]:
            paths += course_notebooks(("solutions", "assignments"))
        bad = [f"{p.relative_to(ROOT)}: {msg}" for p in paths for msg in markdown_problems(p)]
        print("\n".join(bad) or "all display math and solutions are fine")
        return 1 if bad else 0
    if command == "sync":
        for path in course_notebooks(("book", "solutions")):
            if sync(path):
                print(f"updated {path.relative_to(ROOT)}")
        return 0
    if command == "check":
        bad = [f"{p.relative_to(ROOT)}: {msg}" for p in course_notebooks() for msg in problems(p)]
        print("\n".join(bad) or "all notebooks clean")
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))


def exec_as_cell(source: str, namespace: dict, name: str) -> None:
    """Run ``source`` in ``namespace`` as IPython runs a notebook cell: its lines registered with ``linecache``.

    A kernel keeps every cell's source, so the grader can read a student's code; a bare ``exec`` keeps none, which the
    copy checks treat as code made from a string.
    """
    import linecache

    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
