"""Run an assignment's plausible mutants in one process, each until the first hidden test it fails.

    python tests/mutant_runner.py a01_neural_net_from_scratch [--json out.json] [mutant ...]

Grading a notebook through the pipeline costs a fresh sandboxed kernel that imports PyTorch, scikit-learn and
matplotlib again (about 10 CPU seconds before the first cell of the assignment runs). A plausible wrong answer
does not need that isolation to show that it loses points: here every mutant runs in a fresh namespace of one
IPython shell, in the order autograde runs the cells, with the instructor's test cells (hidden tests included)
and ``NBGRADER_EXECUTION=autograde``, in a scratch copy of the assignment's folder. A test cell that raises is
a test the mutant fails, as it is for nbgrader; a cell that runs past ``--timeout`` seconds counts as failed,
as autograde's cell timeout would.

Gaming mutants (those whose first line says "gaming") patch modules or the grader's helpers, which a shared
process would carry from one mutant to the next: they are graded only through the real pipeline
(``tests/test_assignments.py``), like the solution and the blank release.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbgrader_harness as H  # noqa: E402

CELL_TIMEOUT = 300  # seconds; nbgrader_config.py gives autograde's cells the same kind of limit


def is_gaming(mutant: H.Mutant) -> bool:
    return "gaming" in mutant.description.lower()


def graded_notebook(assignment: str, overrides: dict[str, str]):
    """The notebook autograde runs for a student whose answers are the solution's with ``overrides`` applied:
    locked and test cells from the instructor's notebook (hidden tests included), answer cells without markers."""
    solution = nbformat.read(H.SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    overrides = dict(overrides)
    for cell in solution.cells:
        meta = H._nbgrader_meta(cell)
        if meta.get("solution"):
            cell.source = overrides.pop(meta["grade_id"], None) or H.strip_solution_markers(cell.source)
    if overrides:
        raise KeyError(f"{assignment}: no answer cells with grade_id {sorted(overrides)}")
    return solution


def _is_test(cell) -> bool:
    meta = H._nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


class _CellTimeout(Exception):
    pass


def run_mutant(shell, assignment: str, mutant: H.Mutant, timeout: float = CELL_TIMEOUT) -> dict:
    """Run one mutant; return the first test cell it fails (``failed_test``, None when it passes them all)."""
    nb = graded_notebook(assignment, mutant.cells)
    workdir = Path(tempfile.mkdtemp(prefix=f"mutant-{mutant.name}-"))
    for path in (H.SOLUTIONS / assignment).iterdir():  # the assignment's other files, as autograde copies them
        if path.name != f"{assignment}.ipynb" and not path.name.startswith("."):
            (shutil.copytree if path.is_dir() else shutil.copy)(path, workdir / path.name)
    here = os.getcwd()
    shell.reset(new_session=False)
    shell.run_cell("import matplotlib; matplotlib.use('Agg')", store_history=False)
    start = time.perf_counter()
    record = {"failed_test": None, "error": None}

    def expire(signum, frame):
        raise _CellTimeout(f"cell ran past {timeout:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        os.chdir(workdir)
        for cell in nb.cells:
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            signal.alarm(int(timeout))
            try:
                result = shell.run_cell(cell.source, store_history=False)
                error = result.error_in_exec or result.error_before_exec
            except _CellTimeout as err:
                error = err
            finally:
                signal.alarm(0)
            if error is not None and _is_test(cell):
                record = {"failed_test": H._nbgrader_meta(cell)["grade_id"],
                          "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]}
                break
    finally:
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
        shutil.rmtree(workdir, ignore_errors=True)
        import matplotlib.pyplot as plt

        plt.close("all")
        if "torch" in sys.modules:  # process-wide settings a notebook may change, back to PyTorch's defaults
            torch = sys.modules["torch"]
            torch.set_default_dtype(torch.float32)
            torch.set_grad_enabled(True)
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("mutants", nargs="*", help="default: every plausible (non-gaming) mutant")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT)
    args = parser.parse_args(argv[1:])
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ["MPLBACKEND"] = "Agg"
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    mutants = [m for m in H.load_mutants(args.assignment) if not is_gaming(m)]
    if args.mutants:
        mutants = [m for m in mutants if m.name in args.mutants]
    results = {}
    for mutant in mutants:
        results[mutant.name] = run_mutant(shell, args.assignment, mutant, args.timeout)
        caught = results[mutant.name]["failed_test"]
        print(f"{mutant.name:44s} {'fails ' + caught if caught else 'PASSES EVERY TEST'} "
              f"({results[mutant.name]['seconds']:.1f} s)", file=sys.__stderr__, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
