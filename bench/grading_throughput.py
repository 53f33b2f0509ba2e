"""Grading throughput: plain ``nbgrader autograde`` vs the parallel pipeline, sandboxed and not, on the same submissions.

Builds synthetic submissions of assignment a01 (correct answers, plausible
wrong ones from ``tests/mutants/``, and broken notebooks: unanswered, a syntax
error, an exception at import), copies them into three identical throw-away
courses, and grades one with ``nbgrader autograde <a01> --force`` (one student
after another; each kernel in the sandbox, as ``nbgrader_config.py`` sets it
up), one with ``python -m course_utils.grader autograde <a01> --workers N``
(each kernel in its bubblewrap sandbox) and one with the same command and
``--unsandboxed``. All wall-clock times include starting the command. Prints
submissions per minute for each, the parallel speed-up and what the sandbox
costs, checks that the three gradebooks hold the same scores, and writes JSON to
``bench/results/``.

    python bench/grading_throughput.py                      # 12 submissions, one worker per core
    python bench/grading_throughput.py --submissions 24 --workers 3 --repeats 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import nbgrader_harness as H  # noqa: E402

from course_utils.grader.course import load_course, nbgrader_env  # noqa: E402

ASSIGNMENT = "a01_neural_net_from_scratch"


def broken_variants(release: Path) -> list[nbformat.NotebookNode]:
    """Submissions that earn (almost) nothing: unanswered, a syntax error, a crash at the top."""
    blank = nbformat.read(release, as_version=4)
    syntax = H.build_submission(ASSIGNMENT, {"relu": "def relu(z)\n    return z\n"}, release=release)
    crash = H.build_submission(ASSIGNMENT, release=release)
    crash.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('I broke my notebook')"))
    return [blank, syntax, crash]


def build_submissions(count: int, release: Path) -> dict[str, nbformat.NotebookNode]:
    """``count`` students cycling through correct, partly wrong and broken notebooks."""
    mutants = itertools.cycle(H.load_mutants(ASSIGNMENT))
    broken = itertools.cycle(broken_variants(release))
    submissions = {}
    for i in range(count):
        kind = ("correct", "partly_wrong", "broken")[i % 3]
        if kind == "correct":
            nb = H.build_submission(ASSIGNMENT, release=release)
        elif kind == "partly_wrong":
            nb = H.build_submission(ASSIGNMENT, next(mutants).cells, release=release)
        else:
            nb = next(broken)
        submissions[f"s{i:02d}_{kind}"] = nb
    return submissions


def make_course(folder: Path, submissions: dict[str, nbformat.NotebookNode] | None, env: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, folder / "solutions" / ASSIGNMENT)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
                   cwd=folder, env=env, check=True, capture_output=True)
    for student, nb in (submissions or {}).items():
        target = folder / "grading" / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        nbformat.write(nb, target / f"{ASSIGNMENT}.ipynb")
    return folder


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds of ``command``, and the CPU seconds of its whole process tree (kernels included)."""
    start = time.perf_counter()
    result, cpu = H.run_measured(command, timeout=7200, cwd=cwd, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, cpu


def scores(course_root: Path) -> dict[str, float]:
    course = load_course(course_root)
    with course.gradebook() as gb:
        return {s.student.id: float(s.code_score) for s in gb.find_assignment(ASSIGNMENT).submissions}


MODES = ("serial", "parallel", "unsandboxed")


def run_once(tmp: Path, submissions: dict, workers: int, env: dict[str, str], repeat: int) -> dict:
    """Grade the submissions once each way, in fresh courses; return the timings and whether the scores agree."""
    courses = {name: make_course(tmp / name, submissions, env) for name in MODES}
    pipeline = [sys.executable, "-m", "course_utils.grader", "autograde", ASSIGNMENT, "--workers", str(workers)]
    commands = {"serial": [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                "parallel": pipeline, "unsandboxed": pipeline + ["--unsandboxed"]}
    run = {"load_average_before": os.getloadavg()[0]}
    order = list(MODES[repeat % len(MODES):] + MODES[:repeat % len(MODES)])  # each goes first in turn
    for name in order:
        seconds, cpu = timed(commands[name], courses[name], env)
        run[name] = {"seconds": seconds, "per_minute": 60 * len(submissions) / seconds, "cpu_seconds": cpu}
    run["load_average_after"] = os.getloadavg()[0]
    run["order"] = order
    run["ratio"] = run["serial"]["seconds"] / run["parallel"]["seconds"]
    run["sandbox_cost"] = run["parallel"]["seconds"] / run["unsandboxed"]["seconds"]
    run["sandbox_cpu_cost"] = run["parallel"]["cpu_seconds"] / max(run["unsandboxed"]["cpu_seconds"], 1e-9)
    graded = {name: scores(courses[name]) for name in MODES}
    run["same_scores"] = graded["serial"] == graded["parallel"] == graded["unsandboxed"]
    run["scores"] = graded["parallel"]
    for course in courses.values():
        shutil.rmtree(course)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=1, help="measure this many times, alternating which goes first")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grading_throughput.json")
    args = parser.parse_args()

    env = nbgrader_env({k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}})
    os.environ.pop("COURSE_GRADING_DIR", None)
    os.environ.pop("COURSE_GRADEBOOK_URL", None)
    runs = []
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        release = make_course(tmp / "release", None, env) / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        submissions = build_submissions(args.submissions, release)
        n = len(submissions)
        kinds = {k: sum(s.endswith(k) for s in submissions) for k in ("correct", "partly_wrong", "broken")}
        print(f"{n} submissions of {ASSIGNMENT} ({kinds}), {os.cpu_count()} CPU cores, {args.workers} workers")
        for repeat in range(args.repeats):
            run = run_once(tmp, submissions, args.workers, env, repeat)
            runs.append(run)
            print(f"run {repeat + 1} (order {', '.join(run['order'])}; 1-minute load average "
                  f"{run['load_average_before']:.1f} before, {run['load_average_after']:.1f} after)")
            labels = {"serial": "nbgrader autograde (serial, sandboxed)",
                      "parallel": f"course_utils.grader, {args.workers} workers, sandboxed",
                      "unsandboxed": f"course_utils.grader, {args.workers} workers, --unsandboxed"}
            for name in MODES:
                print(f"  {labels[name]:<48} {run[name]['seconds']:6.1f} s  {run[name]['per_minute']:5.1f} "
                      f"submissions/min  ({run[name]['cpu_seconds']:.0f} CPU s)")
            print(f"  speed-up of the pipeline: {run['ratio']:.2f}x; the sandbox costs {run['sandbox_cost']:.2f}x the "
                  f"unsandboxed time ({run['sandbox_cpu_cost']:.2f}x its CPU); same scores in all gradebooks: "
                  f"{run['same_scores']}")

    summary = {
        "assignment": ASSIGNMENT, "submissions": n, "kinds": kinds, "workers": args.workers, "cpu_count": os.cpu_count(),
        "serial_command": "nbgrader autograde --force",
        "parallel_command": f"python -m course_utils.grader autograde --workers {args.workers}",
        "unsandboxed_command": f"python -m course_utils.grader autograde --workers {args.workers} --unsandboxed",
        "runs": runs, "median_ratio": statistics.median(r["ratio"] for r in runs),
        "median_sandbox_cost": statistics.median(r["sandbox_cost"] for r in runs),
        "same_scores": all(r["same_scores"] for r in runs),
        "platform": platform.platform(), "python": platform.python_version(),
    }
    if len(runs) > 1:
        print(f"median over {len(runs)} runs: speed-up {summary['median_ratio']:.2f}x, sandbox cost "
              f"{summary['median_sandbox_cost']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"written to {args.out}")
    return 0 if summary["same_scores"] else 1


if __name__ == "__main__":
    sys.exit(main())
