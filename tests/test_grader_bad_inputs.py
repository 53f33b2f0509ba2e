"""The bad-input suite: hostile and broken submissions, graded with the sandbox on, as an instructor runs it.

One course (the small assignment of ``grader_fixtures``, which grades in seconds)
is built once for the module: a folder of raw submissions goes through intake,
parallel autograding (two workers, SQLite), feedback and export, exactly as the
instructor guide says. Every attack is compared with the same notebook without
it: it must earn nothing more. Three honest baselines: ``ada`` (all correct),
``wrong`` (``square`` wrong: 2 of 4 points) and ``blank`` (the release).

The process faults (killed grader, Ctrl-C, concurrent runs, resubmissions) are
in ``test_grader_process_faults.py``; intake's name handling in
``test_grader_intake.py``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import socket
import threading
import zlib
from pathlib import Path

import nbformat
import psutil
import pytest
import grader_fixtures as F
from course_utils.grader.course import load_course
from course_utils.grader.feedback import active_content, decoded_blobs, find_leaks, html_text, template_scripts

pytestmark = pytest.mark.grading
CELL_TIMEOUT = 30
PROCESS_TAG = "987.654321"  # in the command line of every process a submission starts: `sleep 987.654321`
WRONG_SQUARE = "def square(x):\n    return 2.0 * np.asarray(x, dtype=float)\n"

TAMPER = '''import types
import course_utils.grading as grading_module
for helper in ["check_close", "check_true", "check_shape", "check_finite", "check_at_least"]:
    setattr(grading_module, helper, lambda *args, **kwargs: None)
grading_module.call_student = lambda func, *args, **kwargs: None
G = types.SimpleNamespace(check_close=lambda *a, **k: None, call_student=lambda *a, **k: None)
def check_close(*args, **kwargs):
    pass
'''
NUMPY_TAMPER = '''
import numpy
numpy.all = lambda *args, **kwargs: True  # check_close compares with np.all
numpy.isfinite = lambda x: numpy.ones(numpy.shape(x), dtype=bool)
abs = lambda value: 0
'''
READ_ANSWERS = '''import glob, json, os
found = []
for pattern in ["../../../../solutions/*/*.ipynb", "../../../solutions/*/*.ipynb", "../../../gradebook.db",
                "../../gradebook.db", "@COURSE@/solutions/*/*.ipynb", "@COURSE@/grading/gradebook.db",
                "@COURSE@/grading/submitted/*/*/*.ipynb", "@COURSE@/nbgrader_config.py"]:
    found += [p for p in glob.glob(pattern) if os.access(p, os.R_OK)]
print("ANSWERS FOUND", len(found))
for path in found:
    if path.endswith(".ipynb") and "solutions" in path:
        for cell in json.load(open(path))["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
                exec("".join(cell["source"]))
'''
FORGER = '''import subprocess, sys
later = """
import os, sqlite3, time
time.sleep(15)
db = sqlite3.connect("@COURSE@/grading/gradebook.db")
db.execute("update grade set manual_score = max_score")
db.commit()
open("@COURSE@/forged.txt", "w").write("forged")
"""
subprocess.Popen([sys.executable, "-c", later, "@TAG@"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(["sleep", "@TAG@"], start_new_session=True)
if os_fork := getattr(__import__("os"), "fork", None):
    if os_fork() == 0:
        __import__("os").setsid()
        __import__("os").execvp("sleep", ["sleep", "@TAG@"])
'''
HARM = '''import glob
victims = glob.glob("@COURSE@/grading/submitted/*/*/*.ipynb") + glob.glob("../../ada/*/*.ipynb") + glob.glob("../../../*/ada/*/*.ipynb")
written = 0
for path in victims:
    try:
        open(path, "w").write("{}")
        written += 1
    except OSError:
        pass
print("VICTIMS", len(victims), "WRITTEN", written)
'''
TRANSFORMER = "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
SILENCE = ("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nip._showtraceback = lambda *a, **k: None\n"
           "ip.showsyntaxerror = lambda *a, **k: None\n")
THREAD = '''import threading, time
import course_utils.grading as g
import numpy
def keep_patching():
    while True:
        g.check_close = lambda *a, **k: None
        numpy.all = lambda *a, **k: True
        time.sleep(0.0005)
threading.Thread(target=keep_patching, daemon=True).start()
'''
POISON = '''import sys, numpy
state = sys.modules["_course_grader_state"]
always = lambda *a, **k: True
numpy.all = always
state.modules["numpy"][1]["all"] = always
'''
META_PATH = '''import sys, importlib.abc, importlib.util
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "course_utils.grading":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        real = spec.loader.exec_module
        def exec_module(module):
            real(module)
            module.check_close = lambda *a, **k: None
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Finder())
'''
REDEFINE_TOOLS = ("def double(x):\n    return np.zeros(1)\n\n\ndef expected_double(x):\n    return np.zeros(1)\n")
AUDIT_HOOK = '''import sys
import course_utils
def hook(event, args):
    if event == "exec":
        sys.modules["course_utils.grading"].check_close = lambda *a, **k: None
sys.addaudithook(hook)
'''
TIMER = '''import signal, sys
def repatch(signum, frame):
    sys.modules["course_utils.grading"].check_close = lambda *a, **k: None
signal.signal(signal.SIGALRM, repatch)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
'''
GC_CALLBACK = '''import gc, sys
gc.callbacks.append(lambda phase, info: setattr(sys.modules["course_utils.grading"], "check_close", lambda *a, **k: None))
'''
FINALIZER = '''import sys
class Trap:
    def __del__(self):
        sys.modules["course_utils.grading"].check_close = lambda *a, **k: None
trap = Trap()
trap.loop = trap  # a cycle: collected whenever the garbage collector runs, perhaps in the middle of a test
del trap
'''
LEAK = '''import base64, linecache, zlib
ip = get_ipython()
everything = "\\n".join(In) + "\\n".join(ip.history_manager.input_hist_raw)
everything += "\\n".join("".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2 and entry[2])
everything += str(ip.kernel.get_parent("shell")) if hasattr(ip.kernel, "get_parent") else ""
print(base64.b64encode(zlib.compress(everything.encode())).decode()[:60000])
'''
XSS_OUTPUT = '''from IPython.display import HTML, Javascript, Markdown, display
display(HTML('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><a href="javascript:window.pwned = 3">go</a>'))
display(Javascript("window.pwned = 4"))
display(Markdown("[click](javascript:window.pwned=5) <script>window.pwned = 6</script>"))
'''
XSS_MARKDOWN = ('My answer <script>window.pwned = 7</script> <img src=x onerror="window.pwned = 8"> '
                '[see](javascript:window.pwned=9) <iframe src="javascript:window.pwned=10"></iframe> $\\href{javascript:alert(1)}{x}$')
NETWORK = '''import socket
reached = []
try:
    socket.create_connection(("127.0.0.1", @PORT@), timeout=3).close()
    reached.append("grader's machine")
except OSError as err:
    print("loopback:", type(err).__name__)
try:
    socket.getaddrinfo("pypi.org", 443)
    reached.append("name service")
except OSError as err:
    print("dns:", type(err).__name__)
print("NETWORK", "reached " + ", ".join(reached) if reached else "none")
'''
LIMITS = '''import subprocess
try:
    hoard = bytearray(8 * 1024 ** 3)  # more than the sandbox allows, less than the machine would (pages untouched)
    print("MEMORY allocated")
    del hoard
except MemoryError:
    print("MEMORY refused")
children = []
try:
    for _ in range(700):
        children.append(subprocess.Popen(["sleep", "@TAG@"]))
except OSError as err:
    print("PROCESSES stopped at", len(children), type(err).__name__)
else:
    print("PROCESSES all", len(children))
for child in children:
    child.kill()
    child.wait()
'''
FRAME_WALK = ('import sys\n\n\ndef square(x):\n    caller = sys._getframe(1).f_back\n'
              '    print("caller locals:", len(caller.f_locals) if caller is not None else 0)\n'
              '    return np.asarray(x, dtype=float) ** 2\n')
DUNDER = ('class Squared:\n    def __init__(self, x):\n        self.x = np.asarray(x, dtype=float)\n\n'
          '    def __array__(self, dtype=None, copy=None):\n        import numpy\n'
          '        numpy.all = lambda *args, **kwargs: True\n        return 2.0 * self.x\n\n\n'
          'def square(x):\n    return Squared(x)\n')
LIBRARY_WARNINGS = ('import warnings\n\n\ndef double(x):\n'
                    '    warnings.warn("double: this call is deprecated", DeprecationWarning, stacklevel=2)\n'
                    '    warnings.warn("double: float64 input expected", UserWarning, stacklevel=2)\n'
                    '    return 2.0 * np.asarray(x, dtype=float)\n')

# student -> (what it does, the student whose score it may not exceed): the same notebook without the attack
ATTACKS = {
    "reads_answers": "blank", "forger": "blank", "harms_other": "blank", "transformer": "blank",
    "silenced_tracebacks": "wrong", "thread": "wrong", "poisoned_guard": "wrong", "meta_path": "wrong",
    "redefined_tools": "zeros_double", "audit_hook": "wrong", "signal_timer": "wrong", "gc_callback": "wrong",
    "finalizer": "wrong", "tampers": "blank", "tampers_numpy": "wrong",
}


class Listener:
    """A TCP server on the grader's loopback that counts connections (the sandbox must allow none)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def raw_submissions(release: Path, raw: Path, course: Path, port: int) -> None:
    """One folder per case, as the files would arrive."""
    def put(relative: str, nb_or_text, mtime: float | None = None) -> None:
        path = raw / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))
        if mtime:
            os.utime(path, (mtime, mtime))

    def fill(text: str) -> str:
        return text.replace("@COURSE@", str(course)).replace("@TAG@", PROCESS_TAG).replace("@PORT@", str(port))

    blank = lambda: nbformat.read(release, as_version=4)  # noqa: E731
    wrong = lambda: F.answered(release, square=WRONG_SQUARE)  # noqa: E731
    put(f"ada/Copy of {F.NB}", F.answered(release))
    put(f"wrong/{F.NB}", wrong())
    put(f"blank/{F.NB}", blank())
    put(f"zeros_double/{F.NB}", F.answered(release, double="def double(x):\n    return np.zeros(1)\n"))

    put(f"reads_answers/{F.NB}", F.with_cell(blank(), fill(READ_ANSWERS)))
    put(f"forger/{F.NB}", F.with_cell(blank(), fill(FORGER)))
    put(f"harms_other/{F.NB}", F.with_cell(blank(), fill(HARM)))
    put(f"transformer/{F.NB}", F.with_cell(blank(), TRANSFORMER))
    put(f"silenced_tracebacks/{F.NB}", F.with_cell(wrong(), SILENCE))
    put(f"thread/{F.NB}", F.with_cell(wrong(), THREAD))
    put(f"poisoned_guard/{F.NB}", F.with_cell(wrong(), POISON))
    put(f"meta_path/{F.NB}", F.with_cell(wrong(), META_PATH))
    put(f"redefined_tools/{F.NB}", F.answered(release, double=REDEFINE_TOOLS))
    put(f"audit_hook/{F.NB}", F.with_cell(wrong(), AUDIT_HOOK))
    put(f"signal_timer/{F.NB}", F.with_cell(wrong(), TIMER))
    put(f"gc_callback/{F.NB}", F.with_cell(wrong(), GC_CALLBACK))
    put(f"finalizer/{F.NB}", F.with_cell(wrong(), FINALIZER))
    put(f"tampers/{F.NB}", F.with_cell(blank(), TAMPER))
    nb = wrong()
    F.cell_of(nb, "square").source += NUMPY_TAMPER
    put(f"tampers_numpy/{F.NB}", nb)

    put(f"leaks/{F.NB}", F.with_cell(F.answered(release), LEAK, after=None))
    nb = F.with_cell(F.answered(release), XSS_OUTPUT, after="test_square")
    F.cell_of(nb, "explain").source = XSS_MARKDOWN
    put(f"xss/{F.NB}", nb)
    put(f"network/{F.NB}", F.with_cell(F.answered(release), fill(NETWORK)))
    put(f"limits/{F.NB}", F.with_cell(F.answered(release), fill(LIMITS)))
    put(f"frame_walk/{F.NB}", F.answered(release, square=FRAME_WALK))
    put(f"dunder/{F.NB}", F.answered(release, square=DUNDER))

    nb = F.answered(release)
    nb.cells.remove(F.cell_of(nb, "test_double"))
    put(f"deleted_test/{F.NB}", nb)
    nb = F.answered(release, square=WRONG_SQUARE)
    F.cell_of(nb, "test_square").source = "# I made this test pass\n"
    put(f"edited_test/{F.NB}", nb)
    nb = F.answered(release)
    answer = F.cell_of(nb, "square")
    answer.cell_type = "markdown"
    answer.pop("outputs", None)
    answer.pop("execution_count", None)
    put(f"markdown_answer/{F.NB}", nb)
    nb = F.answered(release)
    F.cell_of(nb, "square").source = "while True:\n    pass\n\n" + F.cell_of(nb, "square").source
    put(f"infinite_loop/{F.NB}", nb)
    put(f"kernel_dies/{F.NB}", F.with_cell(F.answered(release), "import os\nos._exit(1)\n", after="test_double"))
    nb = F.answered(release)
    F.cell_of(nb, "double").source += "\n\nfor i in range(300_000):\n    print('debug line', i)\n"
    put(f"huge_output/{F.NB}", nb)
    put(f"library_warnings/{F.NB}", F.answered(release, double=LIBRARY_WARNINGS))
    put(f"duplicate/{F.NB}", blank(), mtime=1_700_000_000)
    put(f"duplicate/{F.MINI} (1).ipynb", F.answered(release), mtime=1_700_000_900)
    put(f"malformed_json/{F.NB}", nbformat.writes(F.answered(release))[:500])
    put("missing_notebook/answers.pdf", "%PDF-1.4 not a notebook")


def processes_tagged() -> list[list[str]]:
    """Processes whose command line carries the tag every submission's processes carry."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any(PROCESS_TAG in part for part in cmdline):
            found.append(cmdline)
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    release = F.make_course(root)
    listener = Listener()
    raw_submissions(release, root / "raw", root, listener.port)
    out = {"root": root, "release": release, "listener": listener}
    out["intake"] = F.grader(root, "intake", F.MINI, "raw")
    ada = root / "grading" / "submitted" / "ada" / F.MINI / F.NB
    out["ada_before"] = hashlib.sha256(ada.read_bytes()).hexdigest() if ada.exists() else None
    out["autograde"] = F.grader(root, "autograde", F.MINI, "--workers", "2", "--timeout", str(CELL_TIMEOUT))
    out["processes_after_grading"] = processes_tagged()
    out["ada_after"] = hashlib.sha256(ada.read_bytes()).hexdigest() if ada.exists() else None
    out["feedback"] = F.grader(root, "feedback", F.MINI)
    out["export"] = F.grader(root, "export", F.MINI, "--to", "grading/grades.csv", "--tests", "grading/tests.csv")
    course = load_course(root)
    with course.gradebook() as gb:
        submissions = gb.find_assignment(F.MINI).submissions
        out["scores"] = {s.student.id: float(s.code_score) for s in submissions}
        out["tests"] = {(s.student.id, g.name): float(g.score) for s in submissions for n in s.notebooks for g in n.grades}
        out["manual"] = {(s.student.id, g.name): g.manual_score for s in submissions for n in s.notebooks for g in n.grades}
        out["max"] = float(gb.find_assignment(F.MINI).max_code_score)
    with open(root / "grading" / "grades.csv") as fh:
        out["csv"] = {row["student_id"]: row for row in csv.DictReader(fh)}
    out["course"] = course
    (root / "commands.json").write_text(json.dumps({k: out[k] for k in ("intake", "autograde", "feedback", "export",
                                                                        "processes_after_grading", "ada_before", "ada_after")}))
    return out


def graded_line(graded, student: str) -> str:
    return next(line for line in graded["autograde"][1].splitlines() if re.match(rf"[a-z ]+?\s+{student}\s", line))


def autograded(graded, student: str):
    return nbformat.read(graded["root"] / "grading" / "autograded" / student / F.MINI / F.NB, as_version=4)


def outputs_text(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def feedback_file(graded, student: str) -> Path:
    return graded["root"] / "grading" / "feedback" / student / F.MINI / f"{F.MINI}.html"


# --- the ordinary job -------------------------------------------------------------------------------------------


def test_pipeline_commands_run_with_the_sandbox(graded):
    assert graded["intake"][0] == 0, graded["intake"][1]
    assert graded["autograde"][0] == 1, graded["autograde"][1]  # kernel_dies is not graded: status 1, no traceback
    assert "Traceback" not in graded["autograde"][1]
    assert graded["export"][0] == 1  # kernel_dies has no score to export
    assert all(autograded(graded, s).metadata["course_grader"]["sandboxed"] is True for s in ("ada", "wrong", "forger"))


def test_every_gradable_case_is_graded_and_the_others_are_not(graded):
    expected = {"ada", "wrong", "blank", "zeros_double", *ATTACKS, "leaks", "xss", "network", "limits", "frame_walk",
                "dunder", "deleted_test", "edited_test", "markdown_answer", "infinite_loop", "kernel_dies", "huge_output",
                "library_warnings", "duplicate"}
    assert set(graded["scores"]) == expected


def test_baselines(graded):
    scores = graded["scores"]
    assert scores["ada"] == graded["max"] == 4
    assert scores["wrong"] == 2 and scores["blank"] == 0 and scores["zeros_double"] == 2
    for student in ("ada", "wrong", "blank"):
        assert re.match(r"graded\s", graded_line(graded, student)) or student not in graded["autograde"][1]


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_attack_earns_nothing_beyond_the_same_notebook_without_it(graded, student):
    baseline = ATTACKS[student]
    assert graded["scores"][student] <= graded["scores"][baseline], (student, graded["scores"][student], baseline)


# --- reading the answers, forging grades later, harming others: the sandbox --------------------------------------


def test_the_kernel_cannot_read_solutions_gradebook_or_other_submissions(graded):
    text = outputs_text(autograded(graded, "reads_answers"))
    assert "ANSWERS FOUND 0" in text, text
    assert graded["scores"]["reads_answers"] == 0


def test_no_process_started_by_student_code_outlives_its_grading(graded):
    assert graded["processes_after_grading"] == [], graded["processes_after_grading"]
    assert processes_tagged() == []
    assert not (graded["root"] / "forged.txt").exists()
    assert all(score is None for (student, _), score in graded["manual"].items() if student == "forger")


def test_a_submission_cannot_change_another_students_files(graded):
    assert "WRITTEN 0" in outputs_text(autograded(graded, "harms_other"))
    assert graded["ada_before"] is not None and graded["ada_after"] == graded["ada_before"]
    assert graded["scores"]["ada"] == graded["max"]


def test_no_network_inside_the_sandbox(graded):
    text = outputs_text(autograded(graded, "network"))
    assert "NETWORK none" in text, text
    assert graded["listener"].connections == 0
    assert graded["scores"]["network"] == graded["max"]


def test_memory_and_process_limits(graded):
    text = outputs_text(autograded(graded, "limits"))
    assert "MEMORY refused" in text, text
    stopped = re.search(r"PROCESSES stopped at (\d+)", text)
    assert stopped and int(stopped.group(1)) < 600, text
    assert graded["scores"]["limits"] == graded["max"]


# --- guard bypasses: each earns nothing, and is flagged ----------------------------------------------------------


def test_input_transformer_does_not_empty_the_tests(graded):
    assert graded["scores"]["transformer"] == 0
    assert re.match(r"flagged\s", graded_line(graded, "transformer"))


def test_silenced_tracebacks_still_fail_the_test(graded):
    assert graded["tests"][("silenced_tracebacks", "test_square")] == 0


def test_thread_repatching_the_helpers_stops_the_tests(graded):
    line = graded_line(graded, "thread")
    assert graded["tests"][("thread", "test_square")] == 0
    assert re.match(r"flagged\s", line) and "thread the notebook started is still running" in line, line


def test_poisoned_guard_record_is_refused(graded):
    line = graded_line(graded, "poisoned_guard")
    assert graded["tests"][("poisoned_guard", "test_square")] == 0
    assert "record of the notebook's starting state was changed" in line, line


def test_import_hooks_audit_hooks_timers_gc_callbacks_and_finalizers_earn_nothing(graded):
    for student in ("meta_path", "audit_hook", "signal_timer", "gc_callback", "finalizer"):
        assert graded["tests"][(student, "test_square")] == 0, student
        assert graded["tests"][(student, "test_double")] == 2, student  # the honest part still counts


def test_redefined_read_only_helper_is_not_used_by_the_tests(graded):
    assert graded["tests"][("redefined_tools", "test_double")] == 0
    review = [line for line in graded["intake"][1].splitlines() if line.startswith("REVIEW") and "redefined_tools" in line]
    assert any("rebinds `expected_double`, which the tests use" in line for line in review), review


def test_patched_helpers_numpy_and_builtins_earn_nothing(graded):
    assert graded["scores"]["tampers"] == 0
    assert graded["tests"][("tampers_numpy", "test_square")] == 0
    assert graded["tests"][("tampers_numpy", "test_double")] == 2
    review = "\n".join(line for line in graded["intake"][1].splitlines() if line.startswith("REVIEW"))
    assert "changes `grading_module.call_student`" in review and "rebinds `G`" in review and "changes `numpy.all`" in review


def test_a_grade_that_depends_on_flagged_code_is_flagged_in_the_export(graded):
    """``dunder`` patches NumPy from a method the test calls outside call_student: the guard cannot stop that,
    so the grade goes up, and the regrade without the flagged statement shows it."""
    row = graded["csv"]["dunder"]
    assert row["status"] == "flagged", row
    assert "the grade depends on flagged code" in row["note"] and "without" in row["note"]
    assert graded["csv"]["ada"]["status"] == "graded" and graded["csv"]["wrong"]["status"] == "graded"


def test_frame_walking_is_flagged_for_review(graded):
    line = graded_line(graded, "frame_walk")
    assert graded["scores"]["frame_walk"] == graded["max"]
    assert "review:" in line and ("f_back" in line or "_getframe" in line), line


# --- feedback that cannot attack or leak ---------------------------------------------------------------------


def test_test_sources_stay_out_of_the_kernels_history(graded):
    nb = autograded(graded, "leaks")
    text = outputs_text(nb)
    decoded = "\n".join(decoded_blobs(text, depth=1))
    assert len(decoded) > 1000, "the leak cell's output did not decode"
    assert not [line for line in F.hidden_lines() if line in decoded]
    assert "BEGIN HIDDEN" not in decoded


def test_feedback_files_hold_no_hidden_test_even_encoded(graded):
    hidden = F.hidden_lines()
    files = sorted((graded["root"] / "grading" / "feedback").glob(f"*/{F.MINI}/{F.MINI}.html"))
    assert len(files) >= 20
    for path in files:
        text = html_text(path)
        texts = [text] + decoded_blobs(text)
        assert not [line for line in hidden if any(line in t for t in texts)], path


def test_leak_check_decodes_base64_and_zlib(graded, tmp_path):
    """The attack of the issue: hidden tests printed as base64(zlib(...)) must be caught."""
    course = graded["course"]
    secret = "\n".join(sorted(F.hidden_lines()))
    blob = base64.b64encode(zlib.compress(secret.encode())).decode()
    target = course.feedback / "leaky" / F.MINI / f"{F.MINI}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"<html><body><pre>{blob[:40]}\n{blob[40:]}</pre><pre>{blob}</pre></body></html>")
    try:
        assert target in find_leaks(course, F.MINI, [target])
    finally:
        target.unlink()


def test_feedback_shows_student_html_as_text_never_as_code(graded):
    path = feedback_file(graded, "xss")
    assert path.exists(), graded["feedback"][1]
    scripts, problems = active_content(path)
    allowed = template_scripts(graded["course"])
    assert problems == [], problems
    assert all(script in allowed for script in scripts)
    assert "pwned" not in "".join(scripts)
    text = html_text(path)
    assert "<script>window.pwned = 7</script>" in text  # the markdown answer, shown as text


def test_formgrader_pages_are_sanitised_too(graded):
    """The formgrader renders submissions with nbconvert's HTMLExporter and the course's configuration."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(graded["root"])).load_config()
    extra = Config()
    extra.HTMLExporter.template_name = "formgrade"
    extra.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    config.merge(extra)
    resources = {"assignment_id": F.MINI, "notebook_id": F.MINI, "submission_id": "x", "index": 0, "total": 1,
                 "base_url": "", "student": "xss", "last_name": None, "first_name": None, "notebook_path": "xss.ipynb"}
    pages = {}
    for student in ("xss", "ada"):  # ada's page holds only what the formgrader's template itself puts there
        body, _ = HTMLExporter(config=config).from_notebook_node(autograded(graded, student), resources=dict(resources))
        pages[student] = graded["root"] / f"formgrade-{student}.html"
        pages[student].write_text(body)
    scripts, problems = active_content(pages["xss"])
    template_scripts_, template_problems = active_content(pages["ada"])
    assert set(problems) <= set(template_problems), set(problems) - set(template_problems)
    assert set(scripts) <= set(template_scripts_) and "pwned" not in "".join(scripts)
    assert "window.pwned = 7" in html_text(pages["xss"])  # the answer is there, as text


def test_feedback_shows_score_and_failure_message_per_test(graded):
    text = html_text(feedback_file(graded, "edited_test"))
    assert re.search(r"test_square\s+Score: 0\.0 / 2\.0", text)
    assert "square([3])" in text  # the failure message
    assert "hidden tests: not shown" in text


def test_a_student_who_is_not_graded_gets_no_feedback(graded):
    assert not feedback_file(graded, "kernel_dies").exists()
    assert "kernel_dies: not graded (kernel died in cell" in graded["feedback"][1]


# --- grades only from the grader -------------------------------------------------------------------------------


def test_dying_kernel_is_not_graded_and_says_why(graded):
    line = graded_line(graded, "kernel_dies")
    assert line.startswith("not graded") and "kernel died in cell" in line and "earned 2 / 4" in line, line
    row = graded["csv"]["kernel_dies"]
    assert row["status"] == "not graded" and row["score"] == "" and "kernel died" in row["note"]


def test_grades_export_to_csv_with_status(graded):
    rows = graded["csv"]
    for student, score in graded["scores"].items():
        if rows[student]["status"] != "not graded":
            assert float(rows[student]["score"]) == score, student
    with open(graded["root"] / "grading" / "tests.csv") as fh:
        per_test = list(csv.DictReader(fh))
    assert sum(float(r["score"]) for r in per_test if r["student_id"] == "ada") == graded["max"]


# --- the ordinary bad inputs ----------------------------------------------------------------------------------


def test_malformed_json_and_missing_notebook_are_rejected(graded):
    output = graded["intake"][1]
    lines = [line for line in output.splitlines() if line.startswith("REJECTED") and "malformed_json" in line]
    assert len(lines) == 1 and "unreadable notebook JSON" in lines[0]
    assert re.search(r"REJECTED\s+missing_notebook\s+.*answers\.pdf: not a notebook \(\.pdf\)", output)


def test_colab_renamed_file_and_duplicates(graded):
    assert re.search(r"ACCEPTED\s+ada\s+.*renamed from 'Copy of", graded["intake"][1])
    assert re.search(r"DUPLICATE\s+duplicate\s+.*set aside", graded["intake"][1])
    assert graded["scores"]["duplicate"] == graded["max"]


def test_deleted_and_edited_test_cells_are_restored(graded):
    assert "test cell test_double was missing and was put back" in graded_line(graded, "deleted_test")
    assert graded["scores"]["deleted_test"] == graded["max"]
    nb = autograded(graded, "edited_test")
    assert "I made this test pass" not in F.cell_of(nb, "test_square").source
    assert graded["tests"][("edited_test", "test_square")] == 0


def test_answer_turned_into_markdown_is_graded_as_code(graded):
    assert F.cell_of(autograded(graded, "markdown_answer"), "square").cell_type == "code"
    assert graded["scores"]["markdown_answer"] == graded["max"]


def test_infinite_loop_times_out_and_the_rest_is_graded(graded):
    assert "timed out in cell square" in graded_line(graded, "infinite_loop")
    assert graded["tests"][("infinite_loop", "test_double")] == 2
    assert graded["tests"][("infinite_loop", "test_square")] == 0


def test_huge_output_is_cut_and_graded(graded):
    assert graded["scores"]["huge_output"] == graded["max"]
    path = graded["root"] / "grading" / "autograded" / "huge_output" / F.MINI / F.NB
    assert path.stat().st_size < 1_000_000
    assert "output truncated" in json.dumps(F.cell_of(nbformat.read(path, as_version=4), "double").outputs).lower()


def test_library_warnings_on_stderr_do_not_zero_a_test(graded):
    assert graded["scores"]["library_warnings"] == graded["max"]


def test_blank_notebook_feedback_exists_for_every_graded_student(graded):
    delivered = {p.parts[-3] for p in (graded["root"] / "grading" / "feedback").glob(f"*/{F.MINI}/*.html")}
    not_graded = {s for s, row in graded["csv"].items() if row["status"] == "not graded"}
    assert delivered == set(graded["scores"]) - not_graded
    assert "leaks" in delivered and "xss" in delivered


# --- these regrade a student: they run last ---------------------------------------------------------------


def test_manual_scores_nobody_entered_are_flagged_on_autograde(graded):
    course = graded["course"]
    with course.gradebook() as gb:
        grade = gb.find_grade("test_square", F.MINI, F.MINI, "wrong")
        grade.manual_score = grade.max_score  # what the forger's process would have written
        gb.db.commit()
    code, output = F.grader(graded["root"], "autograde", F.MINI, "--student", "wrong", "--timeout", str(CELL_TIMEOUT))
    assert code == 0, output
    line = next(line for line in output.splitlines() if " wrong " in f" {line} ")
    assert line.startswith("flagged") and "test_square has a manual score" in line, line
    F.grader(graded["root"], "export", F.MINI, "--to", "grading/grades2.csv")
    with open(graded["root"] / "grading" / "grades2.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student_id"] == "wrong")
    assert row["status"] == "flagged"


def test_nothing_runs_unsandboxed_without_being_asked(graded, tmp_path):
    """Without bubblewrap the grader refuses; with --unsandboxed it grades and says what that risks, in one line."""
    env = F.grader_env(PATH=str(Path(os.sys.executable).parent))  # no /usr/bin: no bwrap
    code, output = F.grader(graded["root"], "autograde", F.MINI, "--student", "ada", env=env)
    assert code == 2 and "bubblewrap is not installed" in output and "--unsandboxed" in output, output
    assert "Traceback" not in output
    code, output = F.grader(graded["root"], "autograde", F.MINI, "--student", "ada", "--unsandboxed",
                            "--timeout", str(CELL_TIMEOUT), env=env)
    warning = [line for line in output.splitlines() if line.startswith("warning: grading WITHOUT a sandbox")]
    assert code == 0 and len(warning) == 1 and "read the solutions" in warning[0], output
    assert "graded without a sandbox" in output
    assert autograded(graded, "ada").metadata["course_grader"]["sandboxed"] is False
