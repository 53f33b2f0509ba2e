"""Notebook maintenance shared by the tests and the Makefile.

``python tests/nbtools.py sync``   rewrite every notebook's Colab set-up cell
                                   from _config.yml and strip outputs.
``python tests/nbtools.py check``  exit 1 if a notebook is out of sync or has outputs.
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
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
