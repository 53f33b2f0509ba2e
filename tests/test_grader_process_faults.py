"""Process faults: a killed grader or worker, Ctrl-C, two runs at once, resubmissions, a wrong database URL.

Grades must come only from a finished grading: whatever is interrupted is "not
graded (why)", never a silent 0, ``feedback`` and ``export`` refuse it, and
running the command again finishes the job. Submissions that must still be
running when the test acts sleep in a cell (their kernel is in the sandbox).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

import grader_fixtures as F
from course_utils.grader.course import normalise_db_url

pytestmark = pytest.mark.grading
SLOW = "import time\ntime.sleep(500)  # still running when the test acts\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A released course to copy (generating the assignment once costs more than copying it)."""
    root = tmp_path_factory.mktemp("faults_template")
    F.make_course(root)
    return root


@pytest.fixture
def course(template, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(template, root)
    # the graders' temporary folder (TMPDIR), to see what they leave behind; short, as the sandboxes' socket
    # paths must be (pytest's tmp_path is too long for them)
    tmp = Path(tempfile.mkdtemp(prefix="faults-", dir="/tmp"))
    (tmp_path / "tmp").symlink_to(tmp)
    started: list[subprocess.Popen] = []
    yield root, started
    for process in started:  # never leave a grader (or its workers and sandboxes) behind
        try:
            family = psutil.Process(process.pid).children(recursive=True) + [psutil.Process(process.pid)]
        except psutil.NoSuchProcess:
            continue
        for member in family:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(family, timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)


def submit(root: Path, student: str, nb) -> Path:
    folder = root / "grading" / "submitted" / student / F.MINI
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / F.NB
    nbformat.write(nb, path)
    return path


def release(root: Path) -> Path:
    return root / "assignments" / F.MINI / F.NB


def _as_from_a_terminal() -> None:
    """In the child before exec: Ctrl-C's signal at its default, as in a shell's foreground job. A test run
    started in the background by a non-interactive shell ignores SIGINT, and an ignored signal stays ignored
    across exec, so without this the grader would never see the Ctrl-C the test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(root: Path, started: list, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "course_utils.grader", *args], cwd=root,
                               env=F.grader_env(PYTHONFAULTHANDLER="1",  # SIGABRT prints every thread's stack
                                                TMPDIR=str((root.parent / "tmp").resolve())),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=_as_from_a_terminal)
    started.append(process)
    return process


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """``communicate`` with a diagnosis when it times out: the grader's own stacks if it is still running,
    otherwise the processes that still hold its output pipes open."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    if process.poll() is None:
        what = "the grader is still running; its threads' stacks are in its stderr"
        process.send_signal(signal.SIGABRT)
    else:
        pipes = {f"pipe:[{os.fstat(stream.fileno()).st_ino}]" for stream in (process.stdout, process.stderr)}
        holders = []
        for fds in Path("/proc").glob("[0-9]*/fd"):
            with contextlib.suppress(OSError):
                if pipes & {os.readlink(fd) for fd in fds.iterdir()} and int(fds.parent.name) != os.getpid():
                    command = (fds.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    holders.append(f"{fds.parent.name}: {command[:200]}")
        what = f"the grader exited ({process.returncode}) but these processes hold its output pipes: {holders}"
    try:
        output, errors = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        output, errors = "", "(nothing more could be read)"
    raise AssertionError(f"no exit within {timeout:g} s: {what}\n{output[-3000:]}\n{errors[-6000:]}")


def left_in_tmp(root: Path) -> list[str]:
    """What the graders started by :func:`start` left in their temporary folder (sandbox folders included)."""
    return sorted(p.name for p in (root.parent / "tmp").resolve().iterdir())


def status(root: Path) -> dict:
    path = root / "grading" / "logs" / F.MINI / "status.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def wait_for(condition, what: str, timeout: float = 400.0):
    """Poll ``condition`` until it holds (no fixed sleeps: the machine's speed varies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def sandboxes_of(process: subprocess.Popen) -> list[psutil.Process]:
    """The kernels' sandboxes under the grader's workers (not the grader's own check that bubblewrap works,
    a sandbox started by the grader itself before any worker exists)."""
    try:
        workers = [p for p in psutil.Process(process.pid).children() if _name(p) != "bwrap"]
        family = [q for worker in workers for q in worker.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    return [p for p in family if _name(p) == "bwrap"]


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return ""


def export_rows(root: Path) -> tuple[int, dict[str, dict], str]:
    code, output = F.grader(root, "export", F.MINI, "--to", "grading/grades.csv")
    with open(root / "grading" / "grades.csv") as fh:
        return code, {row["student_id"]: row for row in csv.DictReader(fh)}, output


def test_killing_the_grader_stops_its_workers_and_their_sandboxes(course):
    root, started = course
    for student in ("slow_a", "slow_b"):
        submit(root, student, F.with_cell(F.answered(release(root)), SLOW))
    grader = start(root, started, "autograde", F.MINI, "--workers", "2", "--timeout", "600")
    wait_for(lambda: len(sandboxes_of(grader)) >= 2, "both sandboxes to start")
    family = psutil.Process(grader.pid).children(recursive=True)
    grader.kill()  # SIGKILL: no chance to clean up
    grader.wait()
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, [p.info if hasattr(p, "info") else p for p in alive]
    assert {s: r["status"] for s, r in status(root).items()} == {"slow_a": "in progress", "slow_b": "in progress"}
    code, rows, output = export_rows(root)
    assert code == 1 and "Traceback" not in output
    assert rows == {} or all(r["status"] == "not graded" and r["score"] == "" for r in rows.values())


def test_a_killed_worker_is_not_graded_and_never_a_silent_zero(course):
    root, started = course
    submit(root, "slow", F.with_cell(F.answered(release(root)), SLOW))
    grader = start(root, started, "autograde", F.MINI, "--workers", "1", "--timeout", "600")
    wait_for(lambda: sandboxes_of(grader), "the sandbox to start")
    worker = next(p for p in psutil.Process(grader.pid).children() if _name(p).startswith("python"))
    worker.kill()
    output, errors = grader.communicate(timeout=300)
    assert grader.returncode == 1, output + errors
    line = next(line for line in output.splitlines() if line.startswith("not graded") and " slow " in line)
    assert "the grading process died" in line
    assert left_in_tmp(root) == [], "the killed worker's sandbox folder was left behind"
    code, rows, _ = export_rows(root)
    assert code == 1
    assert rows["slow"]["status"] == "not graded" and rows["slow"]["score"] == "" and "process died" in rows["slow"]["note"]


def test_a_second_run_on_one_sqlite_workspace_is_refused(course):
    root, started = course
    submit(root, "slow", F.with_cell(F.answered(release(root)), SLOW))
    first = start(root, started, "autograde", F.MINI, "--workers", "1", "--timeout", "600")
    wait_for(lambda: status(root).get("slow", {}).get("status") == "in progress", "the first run to start")
    code, output = F.grader(root, "autograde", F.MINI, "--student", "slow", timeout=120)
    assert code == 2 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another autograde is already running" in errors[0] and f"process {first.pid}" in errors[0]
    first.kill()


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes_the_job(course):
    root, started = course
    submit(root, "quick", F.answered(release(root)))
    for student in ("slow_a", "slow_b"):
        submit(root, student, F.with_cell(F.answered(release(root)), SLOW))
    grader = start(root, started, "autograde", F.MINI, "--workers", "2", "--timeout", "600")
    wait_for(lambda: status(root).get("quick", {}).get("status") == "graded"
             and status(root).get("slow_a", {}).get("status") == "in progress" and len(sandboxes_of(grader)) >= 1,
             "quick to be graded while a slow one runs")
    family = psutil.Process(grader.pid).children(recursive=True)
    os.killpg(grader.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    output, errors = finish(grader, timeout=120)
    assert grader.returncode == 130, output + errors
    assert "Traceback" not in output + errors
    interrupted = [line for line in errors.splitlines() if line.startswith("interrupted:")]
    assert len(interrupted) == 1 and "again to finish the job" in interrupted[0], errors
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive
    assert left_in_tmp(root) == [], "the stopped kernels' sandbox folders were left behind"
    states = {s: r["status"] for s, r in status(root).items()}
    assert states == {"quick": "graded", "slow_a": "not graded", "slow_b": "not graded"}, states

    code, output = F.grader(root, "feedback", F.MINI)
    assert code == 1 and "slow_a: not graded (interrupted" in output, output
    assert (root / "grading" / "feedback" / "quick" / F.MINI / f"{F.MINI}.html").exists()
    assert not (root / "grading" / "feedback" / "slow_a" / F.MINI / f"{F.MINI}.html").exists()
    code, rows, _ = export_rows(root)
    assert code == 1 and rows["slow_a"]["score"] == "" and rows["quick"]["status"] == "graded"

    # the same command again: only what is not finished is graded (the sleeping cell now times out)
    code, output = F.grader(root, "autograde", F.MINI, "--workers", "2", "--timeout", "5")
    assert code == 0, output
    graded = sorted(line.split()[1] for line in output.splitlines() if line.startswith("graded"))
    assert graded == ["slow_a", "slow_b"], output
    assert "timed out in cell" in output
    code, rows, _ = export_rows(root)
    assert code == 0 and all(r["status"] == "graded" for r in rows.values())


def test_sigterm_stops_a_background_grader_like_ctrl_c(course):
    """`kill <pid>` is how a grader started in the background (which ignores Ctrl-C) is stopped."""
    root, started = course
    submit(root, "slow", F.with_cell(F.answered(release(root)), SLOW))
    grader = start(root, started, "autograde", F.MINI, "--workers", "1", "--timeout", "600")
    wait_for(lambda: sandboxes_of(grader) and status(root).get("slow", {}).get("status") == "in progress",
             "the sandbox to start")
    family = psutil.Process(grader.pid).children(recursive=True)
    grader.terminate()  # SIGTERM to the grader alone
    output, errors = finish(grader, timeout=120)
    assert grader.returncode == 130, output + errors
    assert "Traceback" not in output + errors
    assert any(line.startswith("interrupted:") and "again to finish the job" in line for line in errors.splitlines()), errors
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive
    assert left_in_tmp(root) == [], "the stopped kernel's sandbox folder was left behind"
    assert status(root)["slow"]["status"] == "not graded"


def test_a_resubmission_is_not_reported_until_it_is_graded(course):
    root, started = course
    submit(root, "ada", F.answered(release(root)))
    code, output = F.grader(root, "autograde", F.MINI, "--workers", "1")
    assert code == 0, output
    resubmitted = submit(root, "ada", F.answered(release(root), square="def square(x):\n    return x\n"))
    later = time.time() + 5
    os.utime(resubmitted, (later, later))
    code, output = F.grader(root, "feedback", F.MINI)
    assert code == 1 and "ada: resubmitted after grading" in output, output
    code, rows, output = export_rows(root)
    assert code == 1 and rows["ada"]["status"] == "not graded" and rows["ada"]["score"] == ""
    assert "not graded, no score exported: ada" in output
    code, output = F.grader(root, "autograde", F.MINI, "--workers", "1")  # the rerun picks up the new file
    assert code == 0 and "ada" in output, output
    code, rows, _ = export_rows(root)
    assert code == 0 and rows["ada"]["status"] == "graded" and float(rows["ada"]["score"]) == 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("url,words", [
    ("postgresql://grader@127.0.0.1:FREE_PORT/gradebook", ["cannot reach the database server", "is the server running"]),
    ("postgress://grader@localhost/gradebook", ["unknown database type 'postgress'", "postgresql://"]),
    ("not a database url", ["is not a database URL"]),
])  # FREE_PORT is chosen when the test runs: a test's name must not change between collections (pytest-xdist)
def test_a_wrong_database_url_is_one_line(template, url, words):
    url = url.replace("FREE_PORT", str(_free_port()))
    for command in (["autograde", F.MINI], ["feedback", F.MINI], ["export", F.MINI, "--to", "x.csv"]):
        code, output = F.grader(template, "--db-url", url, *command, timeout=120)
        assert code == 2 and "Traceback" not in output, output
        errors = [line for line in output.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("error: "), output
        for word in words:
            assert word in errors[0], errors[0]
        assert "secret" not in errors[0]


def test_the_postgres_spelling_is_accepted():
    assert normalise_db_url("postgres://grader:pw@db:5432/course") == "postgresql://grader:pw@db:5432/course"
    assert normalise_db_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_temporary_folder_too_long_for_the_sandboxes_sockets_is_one_line(template, tmp_path):
    """Kernels talk to the grader through Unix sockets in their private folders, whose paths Linux limits."""
    deep = tmp_path / ("long-folder-name-" * 6)
    deep.mkdir()
    code, output = F.grader(template, "autograde", F.MINI, env=F.grader_env(TMPDIR=str(deep)), timeout=120)
    assert code == 2 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.strip()]
    assert len(errors) == 1 and "Unix sockets allow 107" in errors[0] and "TMPDIR" in errors[0], output


def test_socket_path_limit():
    from course_utils.grader.sandbox import SANDBOX_FOLDER_NAME, SOCKET_IN_FOLDER, socket_path_problem

    room = 107 - len(f"/{SANDBOX_FOLDER_NAME}/{SOCKET_IN_FOLDER}")
    assert socket_path_problem("/" + "a" * (room - 1)) is None
    problem = socket_path_problem("/" + "a" * room)
    assert problem and "108 bytes" in problem
