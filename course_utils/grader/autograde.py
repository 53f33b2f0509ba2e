"""Grade many submissions at once, with nbgrader doing the grading, each kernel in a sandbox.

``nbgrader autograde`` grades one student after another, and most of that time
one core waits while a kernel on the other runs a notebook. Here N worker
processes (one per core by default) each start nbgrader once and then grade
one student at a time through nbgrader's own API (``NbGraderAPI.autograde``,
what ``nbgrader autograde --student S --force`` runs). Every kernel runs in a
bubblewrap sandbox (:mod:`course_utils.grader.sandbox`); without one the run
refuses to start unless asked to run unsandboxed.

Grades come only from the grader:

* **One run per workspace.** On SQLite a second run on the same grading folder
  is refused with the first one's process id; on PostgreSQL several graders
  may run at once, and a student another run is grading is refused.
* **Every student ends with a status** (``graded``, ``flagged``, ``not
  graded``, ``missing``), kept in ``<workspace>/logs/<assignment>/status.json``
  with the submission it graded. A submission whose kernel or worker died, or
  that nbgrader could not read, is "not graded (reason)", never a silent 0;
  ``feedback`` and ``export`` refuse to report it, or a submission newer than
  its grading, until it is graded.
* **Ctrl-C** (or SIGTERM) stops the workers and their sandboxes and marks the
  students in flight as not graded; running the command again grades what is
  not up to date (a submission graded for its current file and the current
  release is skipped unless ``--force`` or ``--student``).
* **Tamper evidence.** Each submission is audited
  (:mod:`course_utils.grader.audit`); one with flagged code (tampering, or a use
  of what the task's limits forbid in a cell they govern) is graded a second
  time with those statements removed, in a scratch course, and is "flagged"
  when the grade differs. So is a submission in whose kernel the guard saw
  tampering, and one with a manual score on an autograded test (a manual score
  that appears while the student is being graded is reset).
* A submission that crashes nbgrader, hangs past ``student_timeout`` or kills
  its worker fails alone; its worker is replaced and the others go on. A worker
  whose grader dies exits within a second, and its sandbox with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import multiprocessing.connection
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import nbformat
import psutil

from course_utils.grader.course import Course, nbgrader_env

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
EXCEPTION_LINE = re.compile(r"^\s*[\w.]*(Error|Exception|Exit|Interrupt)\b[\w.]*: ")
RETRY_ON = ("database is locked", "could not serialize access", "deadlock detected")
NOTES = {"CellTimeoutError": "timed out in cell {cell}", "KernelDied": "kernel died in cell {cell}; later cells not run",
         "GraderError": "the guard refused to run test {cell}"}
REVIEW_FOLDER = ".review"  # scratch course in the workspace where flagged submissions are graded without the flagged code


class GradingError(RuntimeError):
    """The pipeline cannot start (no gradebook entry for the assignment, another run holds the lock, ...)."""


@dataclass
class Result:
    """The outcome for one student."""

    student: str
    status: str  # graded, flagged, not graded, missing
    seconds: float = 0.0
    score: float | None = None
    max_score: float | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        from course_utils.grader.intake import printable

        score = f"{self.score:g} / {self.max_score:g}" if self.score is not None else "-"
        notes = "; ".join(self.notes)
        return printable(f"{self.status:<10} {self.student:<24} {score:>13} {self.seconds:6.0f} s  {notes}".rstrip())


# ----------------------------------------------------------------------------------------------------------------
# Status of each student, and the checks feedback and export rely on


def status_path(course: Course, assignment: str) -> Path:
    return course.log_dir(assignment) / "status.json"


@contextlib.contextmanager
def _file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An advisory lock on ``path`` (fcntl); yields whether it was taken (always True where fcntl is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock (the grader refuses to run unsandboxed there anyway)
        yield True
        return
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_status(course: Course, assignment: str) -> dict[str, dict]:
    path = status_path(course, assignment)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_status(course: Course, assignment: str, student: str, record: dict) -> None:
    """Merge one student's record into status.json (read-modify-write under a lock; written atomically)."""
    path = status_path(course, assignment)
    with _file_lock(path.with_suffix(".lock")):
        data = load_status(course, assignment)
        data[student] = record
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)


def submission_stamp(course: Course, assignment: str, student: str) -> float | None:
    """Newest modification time of the student's submitted notebooks (None when there are none)."""
    times = [p.stat().st_mtime for p in course.submission_dir(student, assignment).glob("*.ipynb")]
    return max(times) if times else None


def release_stamp(course: Course, assignment: str) -> str:
    """A digest of the source notebooks (tests included): a regrade is due when they change."""
    digest = hashlib.sha256()
    for path in sorted((course.source / assignment).glob("*.ipynb")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def grading_problems(course: Course, assignment: str, students: list[str]) -> dict[str, str]:
    """Why each of ``students`` cannot be reported yet (feedback, export); students that can are left out.

    For an assignment this pipeline never graded (no status.json), only the files are checked: an autograded
    notebook that is missing or older than the submission.
    """
    status = load_status(course, assignment)
    ours = status_path(course, assignment).exists()
    names = list(course.released_notebooks(assignment))
    problems: dict[str, str] = {}
    for student in students:
        record = status.get(student)
        submitted = submission_stamp(course, assignment, student)
        graded = [course.autograded_dir(student, assignment) / f"{name}.ipynb" for name in names]
        graded = [p for p in graded if (course.submission_dir(student, assignment) / p.name).exists()]
        rerun = f"run `python -m course_utils.grader autograde {assignment} --student {student}`"
        if record is None and not ours:
            if submitted is not None and (not graded or any(not p.exists() or p.stat().st_mtime + 1e-6 < submitted
                                                             for p in graded)):
                problems[student] = f"not graded for its current submission: {rerun}"
        elif record is None:
            if submitted is None and not any(p.exists() for p in graded):
                continue  # in the gradebook only (nbgrader's own commands): nothing of ours to check
            problems[student] = f"not graded by this pipeline yet: {rerun}"
        elif record.get("status") == "in progress":
            problems[student] = f"not graded (its grading was interrupted or is still running): {rerun}"
        elif record.get("status") == "not graded":
            problems[student] = f"not graded ({record.get('reason', 'unknown reason')}): {rerun}"
        elif not graded or not all(p.exists() for p in graded):
            problems[student] = f"not graded (its autograded notebook is missing): {rerun}"
        elif submitted is not None and (submitted > record.get("submitted", 0) + 1e-6
                                        or any(p.stat().st_mtime + 1e-6 < submitted for p in graded)):
            problems[student] = f"resubmitted after grading (the submission is newer than its grade): {rerun}"
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Workers


def _watch_parent(parent: int) -> None:
    """Exit when the grader that started this worker is gone (its sandbox dies with this process)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def _worker_main(conn, parent_end, root: str, nbgrader_args: list[str], single_thread: bool, log_path: str) -> None:
    """A worker: start nbgrader once, then autograde each job received until None."""
    parent_end.close()  # the grader's end: holding it would keep this worker waiting forever if the grader died
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    if hasattr(signal, "pthread_sigmask"):  # started with them held back (spawn below); its kernels must get them
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
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
    apis = {None: NbGraderAPI(config=app.config)}
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        assignment, student, scratch = job
        start = time.perf_counter()
        try:
            if scratch not in apis:
                apis[scratch] = NbGraderAPI(config=_scratch_config(app.config, Path(scratch)))
            result = apis[scratch].autograde(assignment, student, force=True, create=True)
        except Exception:  # nbgrader reports most failures in the result; this is for the rest
            result = {"success": False, "error": traceback.format_exc()}
        conn.send({"success": bool(result.get("success")), "log": result.get("log", ""),
                   "error": result.get("error", ""), "seconds": time.perf_counter() - start})


def _scratch_config(config, scratch: Path):
    """nbgrader's configuration pointed at the review course in ``scratch`` (its own folders and gradebook)."""
    import copy

    config = copy.deepcopy(config)
    config.CourseDirectory.submitted_directory = str(scratch / "submitted")
    config.CourseDirectory.autograded_directory = str(scratch / "autograded")
    config.CourseDirectory.feedback_directory = str(scratch / "feedback")
    config.CourseDirectory.release_directory = str(scratch / "release")
    config.CourseDirectory.db_url = f"sqlite:///{scratch / 'gradebook.db'}"
    return config


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
    job: tuple[str, str | None] | None = None  # (student, scratch folder or None)
    started: float = 0.0


def check_gradebook(course: Course, assignment: str) -> None:
    """Create the gradebook's tables if needed and make sure it knows ``assignment``; one clear line when it cannot."""
    from nbgrader.api import MissingEntry

    from course_utils.grader.course import database_problem

    try:
        with course.gradebook() as gb:
            try:
                gb.find_assignment(assignment)
            except MissingEntry:
                raise GradingError(f"the gradebook ({course.db_url.split('@')[-1]}) has no assignment {assignment}: "
                                   f"run `nbgrader generate_assignment {assignment} --force` first, with the same gradebook") from None
    except GradingError:
        raise
    except Exception as err:  # SQLAlchemy, the driver, a refused connection: say which and why, in one line
        raise GradingError(database_problem(course.db_url, err)) from None


def _notes(course: Course, assignment: str, student: str, log: str, folder: Path | None = None) -> tuple[list[str], dict]:
    """What went wrong inside a graded notebook, in a few words, and the guard's record."""
    notes = []
    record: dict = {"events": [], "problems": [], "died": None, "sandboxed": None}
    for line in log.splitlines():
        if "Missing grade cell" in line:
            notes.append(f"test cell {line.split('Missing grade cell')[1].split()[0]} was missing and was put back")
    for path in sorted((folder or course.autograded_dir(student, assignment)).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        guard = nb.metadata.get("course_grader", {}) or {}
        record["events"] += list(guard.get("events", []))
        record["problems"] += list(guard.get("problems", []))
        if guard.get("sandboxed") is not None:
            record["sandboxed"] = guard.get("sandboxed")
        for index, cell in enumerate(nb.cells):
            cell_name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", index)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") in NOTES:
                    notes.append(NOTES[output["ename"]].format(cell=cell_name))
                    if output.get("ename") == "KernelDied":
                        record["died"] = str(cell_name)
    return list(dict.fromkeys(notes)), record


def _reason(log: str) -> str:
    """The most telling error line of a failed nbgrader run (its own summary only says 'see the traceback')."""
    errors = [line.strip() for line in log.splitlines() if EXCEPTION_LINE.match(line) and "NbGraderException" not in line]
    return (errors[-1] if errors else "nbgrader could not grade this submission")[:200]


def _kill(*processes: mp.Process) -> None:
    """Stop workers and everything they started (their kernels' sandboxes die with them).

    Every process gets SIGKILL first and then one bounded wait covers them all, so stopping N workers takes at
    most about ten seconds, not ten per worker, even when a dying process is slow to go (a loaded machine).
    """
    family: list[psutil.Process] = []
    for process in processes:
        try:
            root = psutil.Process(process.pid)
            family += root.children(recursive=True) + [root]
        except psutil.NoSuchProcess:
            continue
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(family, timeout=10)
    for process in processes:
        process.join(timeout=1)


def _manual_scores(course: Course, assignment: str, student: str) -> dict[str, tuple]:
    """Grade name -> (manual score, extra credit, auto score, cell type, max score) of the student's submission."""
    from nbgrader.api import MissingEntry

    scores: dict[str, tuple] = {}
    with course.gradebook() as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return scores
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                scores[f"{notebook.name}/{grade.name}"] = (grade.manual_score, grade.extra_credit, grade.auto_score,
                                                           grade.cell_type, grade.max_score)
    return scores


def _check_manual_scores(course: Course, assignment: str, student: str, before: dict[str, tuple]) -> tuple[list[str], list[str]]:
    """Reset manual scores on autograded tests that appeared during grading; flag the ones that were there before.

    Returns (notes, flags). A person enters manual scores in the formgrader, never while a student is being
    graded, and only written answers need them: a manual score on an autograded test overrides the autograder.
    """
    from nbgrader.api import MissingEntry

    notes: list[str] = []
    flags: list[str] = []
    with course.gradebook() as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return notes, flags
        changed = False
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                key = f"{notebook.name}/{grade.name}"
                autograded = grade.cell_type == "code" and grade.auto_score is not None
                old = before.get(key)
                if (grade.manual_score, grade.extra_credit) != ((old[0], old[1]) if old else (None, None)):
                    notes.append(f"a manual score on {grade.name} appeared while it was being graded and was reset")
                    grade.manual_score = old[0] if old else None
                    grade.extra_credit = old[1] if old else None
                    changed = True
                if autograded and grade.manual_score is not None and grade.manual_score != grade.auto_score:
                    flags.append(f"{grade.name} has a manual score ({grade.manual_score:g}) over the autograder's "
                                 f"({grade.auto_score:g}); check it was entered by a grader")
                if grade.extra_credit:
                    flags.append(f"{grade.name} has extra credit ({grade.extra_credit:g}); check it was entered by a grader")
        if changed:
            gb.db.commit()
    return notes, flags


def _scores(course_or_url, assignment: str, student: str, course_id: str | None = None) -> tuple[float, float] | None:
    from nbgrader.api import Gradebook, MissingEntry

    if isinstance(course_or_url, Course):
        gradebook = course_or_url.gradebook()
    else:
        gradebook = Gradebook(course_or_url, course_id)
    with gradebook as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        return float(submission.code_score), float(submission.max_code_score)


def _prepare_review_course(course: Course, assignment: str) -> Path:
    """A scratch course (own folders, own SQLite gradebook) where flagged submissions are regraded without their flagged code."""
    scratch = course.workspace / REVIEW_FOLDER / assignment
    with _file_lock(course.workspace / REVIEW_FOLDER / f"{assignment}.lock"):  # graders sharing a workspace take turns
        return _prepare_review_course_locked(course, assignment, scratch)


def _prepare_review_course_locked(course: Course, assignment: str, scratch: Path) -> Path:
    stamp = scratch / "release.stamp"
    if stamp.exists() and stamp.read_text() == release_stamp(course, assignment) and (scratch / "gradebook.db").exists():
        return scratch
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = nbgrader_env({k: v for k, v in os.environ.items() if k != "COURSE_GRADEBOOK_URL"})
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                             f"--CourseDirectory.release_directory={scratch / 'release'}",
                             f"--CourseDirectory.db_url=sqlite:///{scratch / 'gradebook.db'}"],
                            cwd=course.root, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise GradingError(f"could not prepare the review course in {scratch}: {_reason(result.stdout + result.stderr)}")
    stamp.write_text(release_stamp(course, assignment))
    return scratch


@dataclass
class _Review:
    """A submission with flagged code: its findings, and the score without them once graded."""

    findings: list
    score: float | None = None
    done: bool = False


def _audit_submission(course: Course, assignment: str, student: str) -> tuple[list, dict[str, nbformat.NotebookNode]]:
    """Findings for the student's notebooks, and each notebook with its flagged statements removed."""
    from course_utils.grader.audit import findings as find, neutralised

    releases = course.released_notebooks(assignment)
    found_all: list = []
    neutral: dict[str, nbformat.NotebookNode] = {}
    for name, release in releases.items():
        path = course.submission_dir(student, assignment) / f"{name}.ipynb"
        if not path.exists():
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue  # nbgrader will say why it cannot read it
        found = find(nb, release, assignment)
        found_all += found
        if found:
            neutral[name] = neutralised(nb, found)
    return found_all, neutral


def autograde(course: Course, assignment: str, students: list[str] | None = None, workers: int | None = None,
              nbgrader_args: list[str] | None = None, student_timeout: float = 1800.0,
              echo: Callable[[str], None] = print, force: bool = False, sandbox: bool = True,
              review: bool = True) -> list[Result]:
    """Autograde ``students`` (default: everyone in submitted/ not graded for their current file) with ``workers``
    processes; return one Result each. ``sandbox=False`` runs student code with the grader's rights."""
    from course_utils.grader.sandbox import sandbox_problem

    check_gradebook(course, assignment)
    if sandbox and (problem := sandbox_problem()):
        raise GradingError(f"{problem}; refusing to run student code without a sandbox (pass --unsandboxed to do it anyway)")
    nbgrader_args = list(nbgrader_args or [])
    if not sandbox:
        nbgrader_args.append("--SandboxedKernelManager.enabled=False")
    workers = max(1, workers or os.cpu_count() or 1)
    names = list(course.released_notebooks(assignment))
    log_dir = course.log_dir(assignment)
    log_dir.mkdir(parents=True, exist_ok=True)
    sqlite = course.db_url.startswith("sqlite")
    with contextlib.ExitStack() as stack:
        if sandbox:  # every kernel's private folder inside one folder of this run, removed when the run ends
            nbgrader_args = _with_run_folder(nbgrader_args, stack)
        if sqlite:  # one run per workspace: two on one SQLite gradebook overwrite each other's work
            lock_path = course.workspace / ".autograde.lock"
            if not stack.enter_context(_file_lock(lock_path, blocking=False)):
                raise GradingError(f"another autograde is already running on {course.workspace} "
                                   f"({_lock_owner(lock_path)}); wait for it to finish. Several graders at once "
                                   "need a PostgreSQL gradebook (--db-url)")
            _write_lock_owner(lock_path)
        return _autograde_locked(course, assignment, students, workers, nbgrader_args, student_timeout, echo, force,
                                 review, names, log_dir, stack, sqlite)


def _with_run_folder(nbgrader_args: list[str], stack: contextlib.ExitStack) -> list[str]:
    """``nbgrader_args`` with the sandboxes' private folders placed in a new folder that ``stack`` removes.

    A kernel removes its own folder when it shuts down, but not when its worker is killed (Ctrl-C, SIGTERM, a
    student over the time limit, a worker that died); the run's folder goes in every case but SIGKILL of the
    grader itself. A ``--SandboxedKernelManager.tmp_parent`` given by the caller is where this folder is made.
    """
    from course_utils.grader.sandbox import socket_path_problem

    option = "--SandboxedKernelManager.tmp_parent="
    given = [a[len(option):] for a in nbgrader_args if a.startswith(option)]
    parent = Path(given[-1] if given else tempfile.gettempdir()).resolve()
    if problem := socket_path_problem(parent / f"course-grading-{os.getpid()}-xxxxxxxx"):
        if socket_path_problem(parent):
            raise GradingError(f"cannot start the sandboxes: {problem}")
        return nbgrader_args  # room for the kernels' folders only directly in the parent
    folder = Path(tempfile.mkdtemp(prefix=f"course-grading-{os.getpid()}-", dir=parent))
    os.chmod(folder, 0o711)  # the sandboxes' users reach their own folders through it
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    return [a for a in nbgrader_args if not a.startswith(option)] + [f"{option}{folder}"]


def _lock_owner(path: Path) -> str:
    try:
        return path.with_suffix(".owner").read_text().strip() or "process unknown"
    except OSError:
        return "process unknown"


def _write_lock_owner(path: Path) -> None:
    path.with_suffix(".owner").write_text(f"process {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")


def _autograde_locked(course, assignment, students, workers, nbgrader_args, student_timeout, echo, force, review,
                      names, log_dir, stack, sqlite) -> list[Result]:
    results: dict[str, Result] = {}
    pending: deque[tuple[str, str | None]] = deque()
    status = load_status(course, assignment)
    release = release_stamp(course, assignment)
    explicit = bool(students)
    for student in sorted(students or course.students(assignment)):
        folder = course.submission_dir(student, assignment)
        if not any((folder / f"{name}.ipynb").is_file() for name in names):
            results[student] = Result(student, "missing", notes=[f"no notebook in {folder}"])
            echo(str(results[student]))
            continue
        record = status.get(student, {})
        up_to_date = (record.get("status") in ("graded", "flagged") and record.get("release") == release
                      and abs(record.get("submitted", -1) - (submission_stamp(course, assignment, student) or 0)) < 1e-6
                      and not grading_problems(course, assignment, [student]))
        if up_to_date and not (force or explicit):
            continue  # graded for this very file and release: a rerun finishes the job, it does not redo it
        if not sqlite:  # PostgreSQL: runs may share a workspace, but never a student
            lock = course.workspace / "locks" / assignment / f"{student}.lock"
            if not stack.enter_context(_file_lock(lock, blocking=False)):
                results[student] = Result(student, "not graded", notes=[f"another run is grading it ({_lock_owner(lock)})"])
                echo(str(results[student]))
                continue
            _write_lock_owner(lock)
        pending.append((student, None))
    if not pending:
        return [results[s] for s in sorted(results)]

    reviews: dict[str, _Review] = {}
    scratch: Path | None = None
    for student, _ in list(pending):
        found, neutral = _audit_submission(course, assignment, student)
        if found:
            reviews[student] = _Review(found)
        if neutral and review:
            if scratch is None:
                scratch = _prepare_review_course(course, assignment)
            target = scratch / "submitted" / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            for name, nb in neutral.items():
                nbformat.write(nb, target / f"{name}.ipynb")
            pending.append((student, str(scratch)))
        elif student in reviews:
            reviews[student].done = True
    manual_before = {s: _manual_scores(course, assignment, s) for s, where in pending if where is None}

    context = _context()
    attempts: Counter[tuple[str, str | None]] = Counter()
    pool: list[_Worker] = []
    graded_logs: dict[str, tuple[float, str]] = {}  # student -> (seconds, log) of the real grading, until its review is done

    def spawn() -> None:
        sys.stdout.flush()  # a forked worker must not inherit half-written output
        sys.stderr.flush()
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, daemon=False, args=(
            child, parent, str(course.root), list(nbgrader_args), workers > 1, str(log_dir / f"worker-{len(pool)}.log")))
        # Ctrl-C held back until the worker is in the pool: one that landed in between would leave a running
        # worker that the clean-up after an interrupt does not know to stop
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}) if _can_hold_signals() else None
        try:
            process.start()
            child.close()
            pool.append(_Worker(process, parent))
        finally:
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def record(student: str, result: Result, extra: dict | None = None) -> None:
        results[student] = result
        entry = {"status": result.status, "reason": "; ".join(result.notes), "score": result.score,
                 "max_score": result.max_score, "submitted": submission_stamp(course, assignment, student),
                 "release": release, "finished": time.time(), "seconds": result.seconds}
        entry.update(extra or {})
        update_status(course, assignment, student, entry)
        echo(str(result))

    def not_graded(student: str, seconds: float, reason: str) -> None:
        reviews.pop(student, None)
        record(student, Result(student, "not graded", seconds, notes=[reason]))

    def conclude(student: str) -> None:
        """Both gradings of a student are in (or there was only one): decide the status."""
        seconds, log = graded_logs.pop(student)
        notes, guard = _notes(course, assignment, student, log)
        scores = _scores(course, assignment, student)
        score, max_score = scores if scores else (None, None)
        reset, manual_flags = _check_manual_scores(course, assignment, student, manual_before.get(student, {}))
        if reset:
            scores = _scores(course, assignment, student)
            score, max_score = scores if scores else (score, max_score)
        notes += reset
        flags = list(manual_flags)
        flags += [f"the guard saw: {', '.join(guard['events'][:5])}"] if guard["events"] else []
        flags += [f"the guard refused tests: {p}" for p in dict.fromkeys(guard["problems"])]
        if guard["sandboxed"] is False:
            notes.append("graded without a sandbox")
        extra = {"events": guard["events"], "guard_problems": guard["problems"]}
        found = reviews.pop(student, None)
        if found is not None:
            tamper = [str(f) for f in found.findings if f.kind == "tamper"]
            limits = [str(f) for f in found.findings if f.kind == "limits"]
            extra.update({"findings": tamper, "limits": limits})
            flagged = tamper + limits  # both are taken out for the second grading
            if flagged:
                if found.score is not None and score is not None and abs(found.score - score) > 1e-9:
                    flags.append(f"the grade depends on flagged code ({score:g} with it, {found.score:g} without; "
                                 f"{flagged[0]})")
                elif found.score is None:
                    flags.append(f"flagged code, not regraded without it ({flagged[0]})")
                else:
                    if limits:
                        notes.append(f"review: {len(limits)} use(s) of what the task's limits forbid, the grade is the "
                                     f"same without them ({limits[0]})")
                    if tamper:
                        notes.append(f"review: {len(tamper)} flagged construct(s), the grade is the same without them "
                                     f"({tamper[0]})")
                extra["score_without_flagged"] = found.score
        if guard["died"] is not None:
            notes = [n for n in notes if "kernel died" not in n]
            record(student, Result(student, "not graded", seconds, score, max_score,
                                   notes=[f"kernel died in cell {guard['died']} (the tests before it earned "
                                          f"{score:g} / {max_score:g})" if score is not None else
                                          f"kernel died in cell {guard['died']}"] + notes + flags), extra)
        elif flags:
            record(student, Result(student, "flagged", seconds, score, max_score, notes=flags + notes), extra)
        else:
            record(student, Result(student, "graded", seconds, score, max_score, notes=notes), extra)

    def finished(job: tuple[str, str | None], success: bool, seconds: float, log: str, reason: str | None) -> None:
        student, where = job
        (log_dir / (f"{student}.log" if where is None else f"{student}.review.log")).write_text(log)
        if where is not None:  # the review grading
            review_record = reviews.get(student)
            if review_record is not None:
                scores = _scores(f"sqlite:///{Path(where) / 'gradebook.db'}", assignment, student, course.course_id) if success else None
                review_record.score = scores[0] if scores else None
                review_record.done = True
        elif success:
            graded_logs[student] = (seconds, log)
        else:
            not_graded(student, seconds, reason or "nbgrader could not grade it")
        if student in graded_logs and (student not in reviews or reviews[student].done):
            conclude(student)

    for student, where in pending:
        if where is None:
            update_status(course, assignment, student, {"status": "in progress", "started": time.time(), "release": release,
                                                        "submitted": submission_stamp(course, assignment, student)})
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt) if threading.current_thread() is threading.main_thread() else None
    interrupted = False
    try:
        while pending or any(w.job for w in pool):
            busy = sum(1 for w in pool if w.job)
            while len(pool) < min(workers, busy + len(pending)):
                spawn()
            for worker in pool:
                if worker.job is None and pending:
                    worker.job, worker.started = pending.popleft(), time.monotonic()
                    student, where = worker.job
                    worker.conn.send((assignment, student, where))
            mp.connection.wait([w.conn for w in pool if w.job] + [w.process.sentinel for w in pool], timeout=1.0)
            for worker in list(pool):
                job = worker.job
                message = None
                if job and worker.conn.poll():
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        message = None
                if message is not None:
                    worker.job = None
                    text = f"{message['log']}\n{message['error']}"
                    attempts[job] += 1
                    if not message["success"] and any(s in text for s in RETRY_ON) and attempts[job] < 3:
                        pending.appendleft(job)  # a busy database, not a bad notebook: try again
                        continue
                    finished(job, message["success"], message["seconds"], text,
                             None if message["success"] else f"{_reason(text)} (log: {log_dir / job[0]}.log)")
                elif not worker.process.is_alive():
                    pool.remove(worker)
                    if job:
                        finished(job, False, time.monotonic() - worker.started, "",
                                 f"the grading process died (exit code {worker.process.exitcode})")
                elif job and time.monotonic() - worker.started > student_timeout:
                    _kill(worker.process)
                    pool.remove(worker)
                    finished(job, False, time.monotonic() - worker.started, "", f"took longer than {student_timeout:g} s; stopped")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stopping = [w for w in pool if interrupted or w.job]
        _kill(*(w.process for w in stopping))  # all at once: Ctrl-C must not wait for one worker after another
        for worker in pool:
            if worker not in stopping:
                with contextlib.suppress(BrokenPipeError, OSError):
                    worker.conn.send(None)
        for worker in pool:
            if worker in stopping:
                continue
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                _kill(worker.process)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    if interrupted:
        for student in {job[0] for job in list(pending) + [w.job for w in pool if w.job]} | set(graded_logs):
            if student not in results:
                not_graded(student, 0.0, "interrupted before its grading finished")
        raise GradingInterrupted([results[s] for s in sorted(results)])
    return [results[s] for s in sorted(results)]


class GradingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; ``results`` holds what was finished and what was not."""

    def __init__(self, results: list[Result]):
        super().__init__("interrupted")
        self.results = results


def _can_hold_signals() -> bool:
    """Signals can be held back here: the main thread (the one Python delivers them to) on a POSIX system."""
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
