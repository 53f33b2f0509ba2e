"""Grade many submissions at once, with nbgrader doing the grading.

``nbgrader autograde`` grades one student after another, and most of that time
one core waits while a kernel on the other runs a notebook. Here N worker
processes (one per core by default) each start nbgrader once and then grade
one student at a time through nbgrader's own API (``NbGraderAPI.autograde``,
what ``nbgrader autograde --student S --force`` runs).

Safety:

* the gradebook is created and checked once, before any worker starts, so
  workers never race to create tables; each worker writes only its own
  student's rows. On SQLite (one grader on one machine) nbgrader's writes are
  short and a worker that still meets "database is locked" is retried; for
  several graders or machines use PostgreSQL (``--db-url``);
* a submission that crashes nbgrader, hangs past ``student_timeout`` or kills
  its worker is reported as failed, its worker replaced, and the others go on;
* every run regrades from the submitted notebook (``--force``), so running
  again gives the same gradebook, not duplicates.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import os
import re
import sys
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable

import nbformat
import psutil

from course_utils.grader.course import Course, nbgrader_env

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
EXCEPTION_LINE = re.compile(r"^\s*[\w.]*(Error|Exception|Exit|Interrupt)\b[\w.]*: ")
RETRY_ON = ("database is locked", "could not serialize access", "deadlock detected")
NOTES = {"CellTimeoutError": "timed out in cell {cell}", "KernelDied": "kernel died in cell {cell}; later cells not run",
         "GraderError": "could not restore the helpers before cell {cell}"}


class GradingError(RuntimeError):
    """The pipeline cannot start (no gradebook entry for the assignment, for example)."""


@dataclass
class Result:
    """The outcome for one student."""

    student: str
    status: str  # graded, failed, missing
    seconds: float = 0.0
    score: float | None = None
    max_score: float | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        score = f"{self.score:g} / {self.max_score:g}" if self.score is not None else "-"
        notes = "; ".join(self.notes)
        return f"{self.status:<7} {self.student:<24} {score:>13} {self.seconds:6.0f} s  {notes}".rstrip()


def _worker_main(conn, root: str, nbgrader_args: list[str], single_thread: bool, log_path: str) -> None:
    """A worker: start nbgrader once, then autograde each (assignment, student) received until None."""
    os.chdir(root)
    os.environ.update(nbgrader_env())
    if single_thread:  # N kernels on N cores: one thread each, or they fight over the cores
        os.environ.update({name: "1" for name in THREAD_VARS})
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from nbgrader.apps import AutogradeApp, NbGraderAPI

    app = AutogradeApp()
    app.initialize(list(nbgrader_args))  # reads nbgrader_config.py like the command does
    api = NbGraderAPI(config=app.config)
    while (job := conn.recv()) is not None:
        assignment, student = job
        start = time.perf_counter()
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        except Exception:  # nbgrader reports most failures in the result; this is for the rest
            result = {"success": False, "error": traceback.format_exc()}
        conn.send({"success": bool(result.get("success")), "log": result.get("log", ""),
                   "error": result.get("error", ""), "seconds": time.perf_counter() - start})


def _context() -> mp.context.BaseContext:
    """Fork where the system has it, so workers start with nbgrader already imported; else a fresh interpreter each."""
    if "fork" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    import nbgrader.apps  # noqa: F401  imported once here, inherited by every worker (seconds each)

    import course_utils.grader.execute  # noqa: F401
    return mp.get_context("fork")


@dataclass
class _Worker:
    process: mp.Process
    conn: mp.connection.Connection
    student: str | None = None
    started: float = 0.0


def check_gradebook(course: Course, assignment: str) -> None:
    """Create the gradebook's tables if needed and make sure it knows ``assignment``."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(f"the gradebook ({course.db_url.split('@')[-1]}) has no assignment {assignment}: "
                               f"run `nbgrader generate_assignment {assignment} --force` first, with the same gradebook") from None


def _notes(course: Course, assignment: str, student: str, log: str) -> list[str]:
    """What went wrong inside a graded notebook, in a few words."""
    notes = []
    for line in log.splitlines():
        if "Missing grade cell" in line:
            notes.append(f"test cell {line.split('Missing grade cell')[1].split()[0]} was missing and was put back")
    for path in sorted(course.autograded_dir(student, assignment).glob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            cell_name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", index)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") in NOTES:
                    notes.append(NOTES[output["ename"]].format(cell=cell_name))
    return list(dict.fromkeys(notes))


def _reason(log: str) -> str:
    """The most telling error line of a failed nbgrader run (its own summary only says 'see the traceback')."""
    errors = [line.strip() for line in log.splitlines() if EXCEPTION_LINE.match(line) and "NbGraderException" not in line]
    return (errors[-1] if errors else "nbgrader could not grade this submission")[:200]


def _kill(process: mp.Process) -> None:
    """Stop a worker and everything it started (its kernel runs in a session of its own)."""
    try:
        family = psutil.Process(process.pid).children(recursive=True) + [psutil.Process(process.pid)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.join(timeout=10)


def autograde(course: Course, assignment: str, students: list[str] | None = None, workers: int | None = None,
              nbgrader_args: list[str] | None = None, student_timeout: float = 1800.0,
              echo: Callable[[str], None] = print) -> list[Result]:
    """Autograde ``students`` (default: everyone in submitted/) with ``workers`` processes; return one Result each."""
    check_gradebook(course, assignment)
    workers = max(1, workers or os.cpu_count() or 1)
    names = list(course.released_notebooks(assignment))
    results: dict[str, Result] = {}
    pending: deque[str] = deque()
    for student in sorted(students or course.students(assignment)):
        folder = course.submission_dir(student, assignment)
        if any((folder / f"{name}.ipynb").is_file() for name in names):
            pending.append(student)
        else:
            results[student] = Result(student, "missing", notes=[f"no notebook in {folder}"])
            echo(str(results[student]))
    log_dir = course.log_dir(assignment)
    log_dir.mkdir(parents=True, exist_ok=True)
    context = _context()
    attempts: Counter[str] = Counter()
    pool: list[_Worker] = []

    def spawn() -> None:
        sys.stdout.flush()  # a forked worker must not inherit half-written output
        sys.stderr.flush()
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, daemon=False, args=(
            child, str(course.root), list(nbgrader_args or []), workers > 1, str(log_dir / f"worker-{len(pool)}.log")))
        process.start()
        child.close()
        pool.append(_Worker(process, parent))

    def finish(student: str, status: str, seconds: float, note: str | None = None, log: str = "") -> None:
        results[student] = Result(student, status, seconds, notes=[note] if note else [])
        (log_dir / f"{student}.log").write_text(log)
        if status == "graded":
            results[student].notes = _notes(course, assignment, student, log)
            with course.gradebook() as gb:
                submission = gb.find_submission(assignment, student)
                results[student].score = float(submission.code_score)
                results[student].max_score = float(submission.max_code_score)

    try:
        while pending or any(w.student for w in pool):
            busy = sum(1 for w in pool if w.student)
            while len(pool) < min(workers, busy + len(pending)):
                spawn()
            for worker in pool:
                if worker.student is None and pending:
                    worker.student, worker.started = pending.popleft(), time.monotonic()
                    worker.conn.send((assignment, worker.student))
            mp.connection.wait([w.conn for w in pool if w.student] + [w.process.sentinel for w in pool], timeout=1.0)
            for worker in list(pool):
                student = worker.student
                message = None
                if student and worker.conn.poll():
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        message = None
                if message is not None:
                    worker.student = None
                    text = f"{message['log']}\n{message['error']}"
                    attempts[student] += 1
                    if message["success"]:
                        finish(student, "graded", message["seconds"], log=text)
                    elif any(s in text for s in RETRY_ON) and attempts[student] < 3:
                        pending.appendleft(student)  # a busy database, not a bad notebook: try again
                        continue
                    else:
                        finish(student, "failed", message["seconds"], f"{_reason(text)} (log: {log_dir / student}.log)", text)
                    echo(str(results[student]))
                elif not worker.process.is_alive():
                    pool.remove(worker)
                    if student:
                        finish(student, "failed", time.monotonic() - worker.started,
                               f"the grading process died (exit code {worker.process.exitcode})")
                        echo(str(results[student]))
                elif student and time.monotonic() - worker.started > student_timeout:
                    _kill(worker.process)
                    pool.remove(worker)
                    finish(student, "failed", time.monotonic() - worker.started, f"took longer than {student_timeout:g} s; stopped")
                    echo(str(results[student]))
    finally:
        for worker in pool:
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for worker in pool:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                _kill(worker.process)
    return [results[s] for s in sorted(results)]
