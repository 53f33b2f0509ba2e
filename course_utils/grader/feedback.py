"""Feedback that cannot attack or leak, checks for it, and grade export.

nbgrader's feedback shows every test cell as it ran, hidden tests included, and
a failing test's traceback quotes the lines around the failure. Here the
feedback keeps the score of every test and its failure message and drops the
rest: :class:`HideHiddenTests` runs inside ``nbgrader generate_feedback``
(``nbgrader_config.py`` registers it).

What a student wrote is shown as text, never run: :class:`SanitizeStudentHTML`
(registered for every HTML export, so for nbgrader's formgrader pages too)
escapes raw HTML in markdown answers, cleans HTML outputs, drops JavaScript
and widget outputs and neutralises ``javascript:`` links, and the exporter
cleans HTML again (``HTMLExporter.sanitize_html``).

Before anything is sent, :func:`generate_feedback` checks every file it wrote:
against the hidden tests stored in the gradebook (also inside base64, hex and
zlib/gzip/bz2/lzma-compressed output, which a student's code could print), for
scripts, event handlers and ``javascript:`` URLs that are not the template's,
and against the grading status (a student not graded, or resubmitted after
grading, gets no feedback). A file that fails is moved to
``feedback_withheld/``.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import csv
import html
import lzma
import re
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade, is_solution

from course_utils.grader.course import Course, nbgrader_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")
HIDDEN_NOTE = "# (hidden tests: not shown)"
UNSAFE_SCHEME = re.compile(r"(?i)\b(java|vb)\s*script\s*:|\bdata\s*:\s*text/html|\blivescript\s*:")
LATEX_LINK = re.compile(r"\\(href|url)\b")
# Blobs a student's code could print to smuggle text past a plain check: base64, hex.
BASE64_BLOB = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
HEX_BLOB = re.compile(r"\b(?:[0-9a-fA-F]{2}){16,}\b")


class SanitizeStudentHTML(SanitizeHTML):
    """nbconvert's SanitizeHTML, plus: ``javascript:`` links and LaTeX links in markdown answers neutralised.

    Markdown answers keep their text (raw HTML in them is escaped, so it shows as text); HTML outputs are
    cleaned; JavaScript, widget and SVG outputs are dropped.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type in ("markdown", "raw"):
            cell.source = self._neutralise(cell.source)
            cell.pop("attachments", None)  # attachments render as data: URLs the sanitiser never sees
        elif cell.cell_type == "code":
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                for key in ("text/html", "text/markdown", "text/latex"):
                    if key in data:
                        data[key] = self._neutralise(data[key] if isinstance(data[key], str) else "".join(data[key]))
        return cell, resources

    @staticmethod
    def _neutralise(text: str) -> str:
        text = UNSAFE_SCHEME.sub("unsafe-link:", text)
        return LATEX_LINK.sub(r"\\text", text)


class HideHiddenTests(ClearHiddenTests):
    """For feedback: remove hidden-test source from test cells and cut their tracebacks to the failure message."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        if not self._remove_hidden_test_region(cell):
            return cell, resources
        cell.source = cell.source.rstrip("\n") + f"\n\n{HIDDEN_NOTE}"
        for output in cell.get("outputs", []):
            if output.output_type == "error":  # a traceback quotes the lines around the failing one
                output.traceback = [f"\x1b[0;31m{output.ename}\x1b[0m: {ANSI.sub('', output.evalue)}"]
        return cell, resources


class _Text(HTMLParser):
    """The text a browser would show, without tags (syntax highlighting splits code into many spans)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(errors="replace"))
    return html.unescape("".join(parser.parts))


def decoded_blobs(text: str, depth: int = 2) -> list[str]:
    """Text hidden in ``text`` as base64 or hex, compressed or not (zlib, gzip, bz2, lzma), ``depth`` levels deep."""
    found: list[str] = []
    candidates = [m.group(0) for m in BASE64_BLOB.finditer(text)] + [m.group(0) for m in HEX_BLOB.finditer(text)]
    for blob in dict.fromkeys(candidates):
        raw_forms = []
        if HEX_BLOB.fullmatch(blob):
            try:
                raw_forms.append(bytes.fromhex(blob))
            except ValueError:
                pass
        body = blob.rstrip("=")
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            for text_form in (body + "=" * (-len(body) % 4), body[: len(body) // 4 * 4]):  # whole, or cut short
                try:
                    raw_forms.append(decode(text_form))
                    break
                except (binascii.Error, ValueError):
                    pass
        for raw in raw_forms:
            # decompressor objects also give what they can of a stream cut short (the grader cuts long outputs)
            for unpack in (lambda b: b, lambda b: zlib.decompressobj(15).decompress(b),
                           lambda b: zlib.decompressobj(31).decompress(b), lambda b: zlib.decompressobj(-15).decompress(b),
                           lambda b: bz2.BZ2Decompressor().decompress(b), lambda b: lzma.LZMADecompressor().decompress(b)):
                try:
                    data = unpack(raw)
                except Exception:
                    continue
                decoded = data.decode("utf-8", errors="ignore")
                if sum(ch.isprintable() or ch in "\n\t" for ch in decoded) < 0.9 * max(len(decoded), 1) or len(decoded) < 8:
                    continue
                found.append(decoded)
                if depth > 1:
                    found += decoded_blobs(decoded, depth - 1)
    return found


class _Active(HTMLParser):
    """Scripts, event handlers and script URLs in a page: whatever a browser would run."""

    URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcdoc"}
    BAD_TAGS = {"iframe", "object", "embed", "frame", "frameset", "base", "applet", "form"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.problems: list[str] = []
        self._in_script: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}> (an event handler)")
            elif name.lower() in self.URL_ATTRS and value and UNSAFE_SCHEME.search(re.sub(r"[\s\x00-\x1f]", "", value)):
                self.problems.append(f"<{tag} {name}={value[:40]!r}> (a script URL)")
        if tag in self.BAD_TAGS:
            self.problems.append(f"<{tag}>")
        if tag == "meta" and any(n.lower() == "http-equiv" for n, _ in attrs):
            self.problems.append("<meta http-equiv>")
        if tag == "script":
            self._in_script = [dict(attrs).get("src") or ""]

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append("".join(self._in_script).strip())
            self._in_script = None


def active_content(path: Path) -> tuple[list[str], list[str]]:
    """(scripts, other active content) of an HTML file."""
    parser = _Active()
    parser.feed(path.read_text(errors="replace"))
    parser.close()
    return parser.scripts, parser.problems


def template_scripts(course: Course) -> set[str]:
    """The scripts the feedback template itself puts in every page: those of an empty notebook's feedback."""
    from nbconvert.exporters import HTMLExporter
    from nbformat.v4 import new_notebook
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()
    import nbgrader.converters.generate_feedback as module

    base = Path(module.__file__).resolve().parent.parent / "server_extensions" / "formgrader"
    extra = Config()
    extra.HTMLExporter.template_name = "feedback"
    extra.HTMLExporter.extra_template_basedirs = [str(base / "templates")]
    extra.HTMLExporter.extra_template_paths = [str(base / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    config.merge(extra)
    from nbformat.v4 import new_code_cell, new_markdown_cell

    sample = new_notebook(cells=[new_markdown_cell("Text with $x^2$ and\n\n$$\ny = 1\n$$"), new_code_cell("print(1)")])
    resources = {"nbgrader": {"notebook": "sample", "score": 0, "max_score": 0, "late_penalty": 0}}
    body, _ = HTMLExporter(config=config).from_notebook_node(sample, resources=resources)
    parser = _Active()
    parser.feed(body)
    return set(parser.scripts)


def unsafe_feedback(course: Course, assignment: str, paths: list[Path] | None = None) -> dict[Path, list[str]]:
    """Feedback files with a script the template does not put there, an event handler or a script URL."""
    allowed = template_scripts(course)
    unsafe = {}
    for path in paths if paths is not None else sorted(course.feedback.glob(f"*/{assignment}/*.html")):
        scripts, problems = active_content(path)
        problems += [f"<script> {s[:60]!r}" for s in scripts if s not in allowed]
        if problems:
            unsafe[path] = problems
    return unsafe


def hidden_lines(course: Course, assignment: str, min_length: int = 20) -> set[str]:
    """Distinctive lines of the hidden tests of ``assignment``, read from the gradebook."""
    begin, end = ClearHiddenTests.begin_test_delimeter.default_value, ClearHiddenTests.end_test_delimeter.default_value
    lines: set[str] = set()
    with course.gradebook() as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            for cell in notebook.source_cells:
                for block in re.findall(rf"{begin}(.*?){end}", cell.source or "", flags=re.S):
                    lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= min_length}
    return lines


def find_leaks(course: Course, assignment: str, paths: list[Path] | None = None) -> dict[Path, list[str]]:
    """Feedback files of ``assignment`` that show any hidden-test line, also inside encoded or compressed output."""
    secret = hidden_lines(course, assignment)
    leaks = {}
    for path in paths if paths is not None else sorted(course.feedback.glob(f"*/{assignment}/*.html")):
        text = html_text(path)
        texts = [text] + decoded_blobs(text)
        shown = sorted(line for line in secret if any(line in t for t in texts))
        if shown or any("BEGIN HIDDEN TESTS" in t for t in texts):
            leaks[path] = shown or ["### BEGIN HIDDEN TESTS"]
    return leaks


def _withhold(course: Course, path: Path) -> Path:
    """Move a feedback file where it cannot be sent by mistake."""
    quarantine = course.workspace / "feedback_withheld" / path.relative_to(course.feedback)
    quarantine.parent.mkdir(parents=True, exist_ok=True)
    path.replace(quarantine)
    return quarantine


def generate_feedback(course: Course, assignment: str, students: list[str] | None = None) -> dict[Path, list[str]]:
    """Run ``nbgrader generate_feedback``, then withhold every file that shows hidden tests or active content,
    or belongs to a student who is not graded for their current submission. Returns withheld file -> reasons."""
    from course_utils.grader.autograde import grading_problems

    everyone = sorted({p.parent.parent.name for p in course.autograded.glob(f"*/{assignment}/*.ipynb")}
                      | set(course.students(assignment)))
    chosen = [s for s in everyone if not students or s in students]
    not_ready = grading_problems(course, assignment, chosen)
    for student in students or [None]:
        args = [sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force"]
        args += ["--student", student] if student else []
        result = subprocess.run(args, cwd=course.root, env=nbgrader_env(), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader generate_feedback failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    paths = sorted(p for p in course.feedback.glob(f"*/{assignment}/*.html") if not students or p.parent.parent.name in students)
    withheld: dict[Path, list[str]] = {}
    for path in paths:
        if path.parent.parent.name in not_ready:
            withheld.setdefault(path, []).append(not_ready[path.parent.parent.name])
    for path, lines in find_leaks(course, assignment, paths).items():
        withheld.setdefault(path, []).append(f"shows hidden tests ({len(lines)} line(s))")
    for path, problems in unsafe_feedback(course, assignment, paths).items():
        withheld.setdefault(path, []).append(f"holds active content: {', '.join(problems[:3])}")
    for path in withheld:  # never leave such a file where it could be sent
        _withhold(course, path)
    return withheld


def _statuses(course: Course, assignment: str, students: list[str]) -> dict[str, tuple[str, str]]:
    """student -> (status, note) for the export: not graded when feedback would refuse them."""
    from course_utils.grader.autograde import grading_problems, load_status

    status = load_status(course, assignment)
    problems = grading_problems(course, assignment, students)
    out = {}
    for student in students:
        if student in problems:
            out[student] = ("not graded", problems[student])
        elif student in status:
            out[student] = (status[student].get("status", "graded"), status[student].get("reason", ""))
        else:
            out[student] = ("graded", "")
    return out


def export_grades(course: Course, to: Path) -> dict[tuple[str, str], str]:
    """Every student's total per assignment (nbgrader's CSV exporter), with the pipeline's status and note.

    A student who is not graded for their current submission gets no score, "not graded" and why.
    Returns (assignment, student) -> why, for each such student.
    """
    to = Path(to).resolve()
    to.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(to)], cwd=course.root,
                            env=nbgrader_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader export failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    with open(to, newline="") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0].keys()) if rows else ["assignment", "student_id", "score", "max_score"]
    by_assignment: dict[str, list[str]] = {}
    for row in rows:
        by_assignment.setdefault(row["assignment"], []).append(row["student_id"])
    statuses = {a: _statuses(course, a, students) for a, students in by_assignment.items()}
    refused = {}
    for row in rows:
        state, note = statuses[row["assignment"]][row["student_id"]]
        row["status"], row["note"] = state, note
        if state == "not graded":
            refused[(row["assignment"], row["student_id"])] = note
            for key in ("raw_score", "score", "late_submission_penalty"):
                if key in row:
                    row[key] = ""
    with open(to, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields + ["status", "note"])
        writer.writeheader()
        writer.writerows(rows)
    return refused


def export_test_scores(course: Course, assignment: str, to: Path) -> int:
    """One row per student and autograded test: score, maximum, the student's status. Returns the number of rows."""
    rows = []
    with course.gradebook() as gb:
        for submission in gb.find_assignment(assignment).submissions:
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.cell_type == "code" and grade.auto_score is not None:
                        rows.append([submission.student.id, assignment, notebook.name, grade.name, grade.score, grade.max_score])
    statuses = _statuses(course, assignment, sorted({r[0] for r in rows}))
    for row in rows:
        state = statuses[row[0]][0]
        if state == "not graded":
            row[4] = ""
        row.append(state)
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    with open(to, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "assignment", "notebook", "test", "score", "max_score", "status"])
        writer.writerows(sorted(rows))
    return len(rows)
