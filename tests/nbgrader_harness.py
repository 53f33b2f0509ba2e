"""Drive the course's grading pipeline the way an instructor does, in a throw-away course directory.

Used by the assignment tests and runnable by hand:

    python tests/nbgrader_harness.py a01_neural_net_from_scratch

prints the autograded score of the solution, the blank release and every mutant, and what each notebook
cost to grade. All of them are graded in one run of the course's own parallel pipeline
(``python -m course_utils.grader autograde --workers 2``, every kernel in its sandbox), not one
``nbgrader autograde`` after another.

A *mutant* (``tests/mutants/<assignment>/<name>.py``) is a plausible wrong
solution. Its file replaces whole solution cells, addressed by ``grade_id``::

    # Mutant: softmax without the max shift
    # %% grade_id=softmax
    def softmax(z): ...
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
ASSIGNMENTS = ROOT / "assignments"
MUTANTS = ROOT / "tests" / "mutants"

WORKERS = 2  # the 2-core machine the course's test budget is measured on
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
SECTION = re.compile(r"^# %% grade_id=(\S+)\s*$", re.M)


def discover_assignments() -> list[str]:
    """Every ``solutions/<id>/<id>.ipynb``: the assignments the tests cover."""
    if not SOLUTIONS.is_dir():
        return []
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())


@dataclass
class Mutant:
    name: str
    description: str
    cells: dict[str, str]  # grade_id -> replacement source


def load_mutants(assignment: str) -> list[Mutant]:
    """Parse every mutant file of ``assignment``."""
    mutants = []
    for path in sorted((MUTANTS / assignment).glob("*.py")):
        text = path.read_text()
        first = text.splitlines()[0] if text else ""
        if not first.startswith("# Mutant:"):
            raise ValueError(f"{path}: first line must be '# Mutant: <what is wrong>'")
        parts = SECTION.split(text)
        cells = {parts[i]: parts[i + 1].strip("\n") + "\n" for i in range(1, len(parts), 2)}
        if not cells:
            raise ValueError(f"{path}: no '# %% grade_id=...' section")
        mutants.append(Mutant(path.stem, first[len("# Mutant:"):].strip(), cells))
    return mutants


def _nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def strip_solution_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKERS.match(line))


def build_submission(assignment: str, overrides: dict[str, str] | None = None, release: Path | None = None):
    """A student's notebook: the release with every answer cell filled from the solution, then ``overrides`` applied."""
    overrides = dict(overrides or {})
    solution = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    released = nbformat.read(release or ASSIGNMENTS / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {_nbgrader_meta(c)["grade_id"]: c.source for c in solution.cells if _nbgrader_meta(c).get("solution")}
    for cell in released.cells:
        grade_id = _nbgrader_meta(cell).get("grade_id")
        if grade_id in overrides:
            cell.source = overrides.pop(grade_id)
        elif grade_id in answers:
            cell.source = strip_solution_markers(answers[grade_id])
    if overrides:
        raise KeyError(f"{assignment}: no answer cells with grade_id {sorted(overrides)}")
    return released


def run_measured(command: list[str], timeout: float, **popen: object) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``command``; return its result and the CPU seconds of its whole process tree.

    Sampled from /proc (psutil) four times a second: the kernels a grader starts are not always waited for by
    their parent, so the operating system's own accounting of children misses them.
    """
    import threading

    import psutil

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    seen: dict[tuple[int, float], float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                root = psutil.Process(process.pid)
                family = [root, *root.children(recursive=True)]
            except psutil.Error:
                family = []
            for member in family:
                try:
                    with member.oneshot():
                        key, times = (member.pid, member.create_time()), member.cpu_times()
                    seen[key] = max(seen.get(key, 0.0), times.user + times.system)
                except psutil.Error:
                    pass
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), sum(seen.values())


class Course:
    """A temporary nbgrader course: the repository's config and sources, a private gradebook."""

    def __init__(self, root: Path, assignments: list[str]):
        self.root = Path(root)
        self.grading = self.root / "grading"
        self.grading.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbgrader_config.py", self.root / "nbgrader_config.py")
        for assignment in assignments:
            shutil.copytree(SOLUTIONS / assignment, self.root / "solutions" / assignment, dirs_exist_ok=True)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["COURSE_GRADING_DIR"] = str(self.grading)
        env.pop("COURSE_GRADEBOOK_URL", None)
        env.setdefault("MPLBACKEND", "Agg")
        # nbgrader runs `alembic` as a program when it creates a gradebook
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def nbgrader(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run one nbgrader command in the course directory; raise with its log on failure."""
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def generate(self, assignment: str) -> Path:
        self.nbgrader("generate_assignment", assignment, "--force")
        return self.root / "assignments" / assignment / f"{assignment}.ipynb"

    def submit(self, student: str, assignment: str, nb) -> Path:
        folder = self.grading / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}.ipynb"
        nbformat.write(nb, path)
        return path

    def autograde(self, assignment: str, workers: int = WORKERS, timeout: float = 3600) -> subprocess.CompletedProcess:
        """Grade every submission of ``assignment`` in one run of the course's parallel pipeline (sandboxed).

        Exit status 1 only says that some submission was not graded (a mutant that kills its kernel, say):
        its partial score is in the gradebook all the same. Anything else is an error. The CPU seconds of the
        whole run (grader, workers, sandboxed kernels) are left in ``self.cpu_seconds``.
        """
        result, self.cpu_seconds = run_measured(
            [sys.executable, "-m", "course_utils.grader", "autograde", assignment, "--workers", str(workers),
             "--force", "--no-review"], cwd=self.root, env=self.env(), timeout=timeout)
        if result.returncode not in (0, 1) or "Traceback" in result.stderr:
            raise RuntimeError(f"autograde {assignment} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def seconds(self, assignment: str) -> dict[str, float]:
        """Wall-clock seconds each student's notebook took to grade (in its worker), from the pipeline's status."""
        path = self.grading / "logs" / assignment / "status.json"
        status = json.loads(path.read_text()) if path.exists() else {}
        return {student: float(record.get("seconds") or 0.0) for student, record in status.items()}

    def scores(self, assignment: str) -> dict[str, tuple[float, float]]:
        """Autograded (code) score and its maximum for every student of ``assignment``."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.grading / 'gradebook.db'}") as gb:
            max_score = gb.find_assignment(assignment).max_code_score
            return {
                sub.student.id: (float(sub.code_score), float(max_score))
                for sub in gb.find_assignment(assignment).submissions
            }


def grade_all(assignment: str, workdir: Path, workers: int = WORKERS) -> tuple[Course, dict[str, tuple[float, float]]]:
    """Generate, submit solution/blank/mutants, grade them all in one parallel run, return scores by student.

    The course's ``timings`` attribute records the run: seconds to generate the release, to grade everything
    (wall clock, and CPU seconds of all processes), and each notebook's seconds in its worker.
    """
    course = Course(workdir, [assignment])
    start = time.perf_counter()
    release = course.generate(assignment)
    generated = time.perf_counter() - start
    course.submit("solution", assignment, build_submission(assignment, release=release))
    course.submit("blank", assignment, nbformat.read(release, as_version=4))
    for mutant in load_mutants(assignment):
        course.submit(f"mutant-{mutant.name}", assignment, build_submission(assignment, mutant.cells, release=release))
    start = time.perf_counter()
    course.autograde(assignment, workers)
    graded = time.perf_counter() - start
    course.timings = {"generate_s": generated, "autograde_s": graded, "workers": workers,
                      "autograde_cpu_s": course.cpu_seconds, "notebook_s": course.seconds(assignment),
                      "load_average": os.getloadavg()[0]}
    return course, course.scores(assignment)


def main(argv: list[str]) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="Grade each assignment's solution, blank release and mutants.")
    parser.add_argument("assignments", nargs="*", help="default: every assignment in solutions/")
    parser.add_argument("--json", type=Path, help="also write the scores and timings here")
    args = parser.parse_args(argv[1:])
    summary = {}
    for assignment in args.assignments or discover_assignments():
        with tempfile.TemporaryDirectory() as tmp:
            course, scores = grade_all(assignment, Path(tmp))
        timings = course.timings
        seconds = timings["notebook_s"]
        print(f"{assignment}: {len(scores)} notebooks graded in {timings['autograde_s']:.0f} s with {timings['workers']} "
              f"workers ({timings['autograde_cpu_s']:.0f} CPU s; generating the release took {timings['generate_s']:.0f} s; "
              f"1-minute load average {os.getloadavg()[0]:.1f})")
        for student, (score, max_score) in sorted(scores.items()):
            print(f"  {student:44s} {score:5.1f} / {max_score:<5.1f} {seconds.get(student, 0.0):6.1f} s")
        summary[assignment] = {"scores": scores, **timings}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
