"""How many CPU threads should PyTorch use in the course? Chapters and grading runs timed per thread count.

Each notebook runs top to bottom in a fresh kernel, once per thread count and
repeat, interleaved (1, 2, 1, 2, ...) so that a change in the machine's load
hits every setting alike. The thread count reaches the kernel through
``COURSE_THREADS``, the override of ``course_utils.runtime.thread_policy``.

* chapters: ``book/NN_*.ipynb`` at the CPU budget (``--budget cpu``, the
  default) or the test budget (``--budget fast``);
* grading runs: each ``solutions/<id>/<id>.ipynb`` executed as nbgrader's
  autograde executes it (``NBGRADER_EXECUTION=autograde``: fast budget, hidden
  tests included, answer cells without nbgrader's solution markers). Lines
  that set the thread count inside a notebook are left out of the copy that
  runs, so the policy under test decides.

For every run the script records the wall time, the CPU seconds the kernel
used, and the load the rest of the machine put on the CPUs meanwhile (from
``/proc/stat``: busy cores minus this run's own), so a result says what it was
measured under. ``--load N`` adds N busy-looping processes for the whole
measurement, a controlled extra load on top of whatever else is running.

    python bench/threads.py                                   # chapters 01-04 and a01-a03, 1 and 2 threads
    python bench/threads.py --what chapters --threads 1 2 4 --repeats 3
    python bench/threads.py --what grading --load 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# Runs one notebook in a fresh kernel; argv: notebook path, "as a graded submission" flag. A graded submission
# is the instructor's notebook as autograde sees it: the answer cells without nbgrader's solution markers (as in
# tests/nbgrader_harness.build_submission), and without lines that set the thread count.
RUNNER = r"""
import re, sys, nbformat
from nbclient import NotebookClient
path, graded = sys.argv[1], sys.argv[2] == "1"
nb = nbformat.read(path, as_version=4)
marker = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
if graded:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(line for line in cell.source.splitlines()
                                    if "set_num_threads(" not in line and not marker.match(line))
NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=graded,
               resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}).execute()
failed = sum(out.output_type == "error" for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
print("FAILED_CELLS", failed)
"""


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies summed over all CPUs, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0.0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _spin() -> None:
    while True:
        pass


def run_notebook(path: Path, threads: int, env_extra: dict[str, str], drop_thread_lines: bool) -> dict:
    """Execute one notebook in a subprocess; wall time, its CPU seconds and the others' load meanwhile."""
    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_FAST", "NBGRADER_EXECUTION", "COURSE_THREADS"}}
    env.update(env_extra, COURSE_THREADS=str(threads), MPLBACKEND="module://matplotlib_inline.backend_inline", PYDEVD_DISABLE_FILE_VALIDATION="1")
    n_cpus = os.cpu_count() or 1
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, total_before = cpu_times()
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RUNNER, str(path), "1" if drop_thread_lines else "0"],
                            env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    busy_after, total_after = cpu_times()
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    machine_busy_cores = (busy_after - busy_before) / max(total_after - total_before, 1.0) * n_cpus
    if result.returncode != 0:
        raise RuntimeError(f"{path.name} with {threads} thread(s) failed:\n{result.stderr[-3000:]}")
    failed = int(result.stdout.split("FAILED_CELLS")[-1])
    return {
        "failed_cells": failed,  # graded runs continue past a failing test cell, as autograde does
        "wall_s": round(wall, 2),
        "cpu_s": round(own_cpu, 2),
        "machine_busy_cores": round(machine_busy_cores, 2),
        "others_busy_cores": round(max(machine_busy_cores - own_cpu / wall, 0.0), 2),
        "loadavg_1min_before": round(load_before, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", nargs="+", default=["chapters", "grading"], choices=["chapters", "grading"])
    parser.add_argument("--chapters", nargs="+", default=["01", "02", "03", "04"], help="chapter numbers")
    parser.add_argument("--assignments", nargs="+", default=None, help="assignment ids (default: every one in solutions/)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget", choices=["cpu", "fast"], default="cpu", help="run budget of the chapters")
    parser.add_argument("--load", type=int, default=0, help="extra busy-looping processes during the measurement")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    items: list[tuple[str, Path, dict[str, str], bool]] = []
    if "chapters" in args.what:
        chapter_env = {"COURSE_FAST": "1"} if args.budget == "fast" else {}
        for number in args.chapters:
            (path,) = sorted((ROOT / "book").glob(f"{number}_*.ipynb"))
            items.append((f"chapter {path.stem} ({args.budget} budget)", path, chapter_env, False))
    if "grading" in args.what:
        ids = args.assignments or sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
        for assignment in ids:
            path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
            items.append((f"grading run {assignment}", path, {"NBGRADER_EXECUTION": "autograde"}, True))

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.load)]
    for spinner in spinners:
        spinner.start()
    runs: dict[str, dict[str, list[dict]]] = {name: {str(t): [] for t in args.threads} for name, *_ in items}
    try:
        for repeat in range(args.repeats):
            for name, path, env_extra, drop in items:
                for threads in args.threads:
                    record = run_notebook(path, threads, env_extra, drop)
                    runs[name][str(threads)].append(record)
                    print(f"[{repeat + 1}/{args.repeats}] {name:48s} {threads} thread(s): {record['wall_s']:7.1f} s wall, "
                          f"{record['cpu_s']:6.1f} s CPU, others busy {record['others_busy_cores']:.2f} cores"
                          + (f", {record['failed_cells']} failing cell(s)" if record["failed_cells"] else ""), flush=True)
    finally:
        for spinner in spinners:
            spinner.terminate()

    summary = {}
    print(f"\n{'notebook':48s} " + " ".join(f"{f'{t} thread(s)':>16s}" for t in args.threads) + "   others busy (cores)")
    for name in runs:
        medians = {t: statistics.median(r["wall_s"] for r in records) for t, records in runs[name].items()}
        others = [r["others_busy_cores"] for records in runs[name].values() for r in records]
        summary[name] = {"median_wall_s": medians, "others_busy_cores_range": [min(others), max(others)]}
        print(f"{name:48s} " + " ".join(f"{medians[str(t)]:14.1f} s" for t in args.threads)
              + f"   {min(others):.2f}-{max(others):.2f}")

    out = args.out or RESULTS / f"threads_{time.strftime('%Y%m%d_%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "argv": sys.argv[1:], "cpus": os.cpu_count(), "extra_load_processes": args.load, "budget": args.budget,
        "platform": platform.platform(), "python": platform.python_version(),
        "started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "summary": summary, "runs": runs,
    }, indent=1))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
