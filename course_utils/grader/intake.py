"""Intake: raw submissions as instructors receive them -> nbgrader's ``submitted/<student>/<assignment>/``.

Accepted inputs (any mix, given as folders or zip files):

* a folder per student: ``raw/<student>/<anything>.ipynb`` (Moodle's
  ``Full Name_123_assignsubmission_file_`` folders included);
* files named after the student: ``ada.ipynb``, ``ada_a01_....ipynb``, Canvas's
  ``ada_123_456_<original name>`` and Blackboard's ``<assignment>_ada_attempt_<date>_<name>``;
* a zip of either (an LMS export; a zip holding just one folder is opened into
  it), and zips inside a student's folder;
* with ``--student NAME``: every file given belongs to that student.

Student ids are lower-case ASCII: names in other scripts are transliterated
(张伟 -> ``zhangwei``), and the participant id an LMS puts in a name is kept
(``ada_lovelace_123456``), so two students with the same name stay apart.
Links are refused (a link can point at anything, the solutions included), and
so is anything in a zip that would land outside it. One bad entry of a zip is
rejected alone; the rest of the zip is read. Every name printed in the report
has its control characters escaped, so a file name cannot fake a report line.

Each notebook is identified by its content (the release's instructions and
tests), not by its name, so "Copy of …", "… (1).ipynb" and other renames are
fine and a notebook of another assignment is caught. Nothing a student sent is
changed, deleted or overwritten: the sources are only read, and a notebook
already in ``submitted/`` that a new intake replaces is moved to
``<workspace>/intake/<assignment>/replaced/`` first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import time
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.grader.audit import audit
from course_utils.grader.course import Course
from course_utils.grader.restore import match_score, restore_metadata

JUNK = re.compile(r"^(\.|__MACOSX$|__pycache__$|Thumbs\.db$|desktop\.ini$)")
MOODLE_FOLDER = re.compile(r"^(?P<student>.+?)_(?P<id>\d+)_assignsubmission_[a-z]+_?$", re.I)
CANVAS_FILE = re.compile(r"^(?P<student>[^_]+)_(?:late_)?(?P<id>\d+)_\d+_(?P<name>.+)$", re.I)
BLACKBOARD_FILE = re.compile(r"^.+?_(?P<student>[^_]+)_attempt_\d{4}(?:-\d\d){5}(?:_(?P<name>.+))?$", re.I)
COPY_PREFIX = re.compile(r"^(copy of |copie de |kopie von )+", re.I)
COPY_SUFFIX = re.compile(r"(?:\s*\((?P<paren>\d+)\)|-(?P<dash>\d+)| - copy)$", re.I)
COLAB_NOTEBOOK_KEYS = ("colab", "accelerator", "gpuClass", "widgets")
COLAB_CELL_KEYS = ("colab", "executionInfo", "outputId")
MAX_BYTES = 50_000_000  # a notebook bigger than this is not a homework answer
MATCH_THRESHOLD = 0.5  # share of the release's instructions and tests a notebook must contain
MAX_ZIP_DEPTH = 2  # an LMS export may hold a student's own zip; deeper nesting is not opened
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with control characters (newlines, ANSI escapes, bidi overrides) shown as escapes."""
    return CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(text))


@dataclass
class Received:
    """One file a student sent."""

    student: str | None
    path: Path  # readable copy (extracted from a zip when it came in one)
    shown: str  # how to name it in messages
    mtime: float


@dataclass
class Line:
    """One line of the intake report."""

    status: str  # ACCEPTED, UNCHANGED, REJECTED, DUPLICATE, MISSING, REVIEW, NOTE
    student: str
    message: str

    def __str__(self) -> str:
        return f"{self.status:<9} {printable(self.student):<20} {printable(self.message)}"


@dataclass
class _Candidate:
    received: Received
    notebook: str
    nb: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)
    copy_number: int = 0


@dataclass
class IntakeReport:
    """What intake did, line by line, and where each accepted notebook went."""

    assignment: str
    lines: list[Line] = field(default_factory=list)
    placed: dict[str, list[Path]] = field(default_factory=dict)  # student -> notebooks in submitted/

    def by_status(self, status: str) -> list[Line]:
        return [line for line in self.lines if line.status == status]

    def summary(self) -> str:
        counts = {s: len(self.by_status(s)) for s in ("REJECTED", "DUPLICATE", "MISSING", "REVIEW")}
        return (f"intake {self.assignment}: {len(self.placed)} student(s) accepted, {counts['REJECTED']} file(s) rejected, "
                f"{counts['DUPLICATE']} duplicate(s) set aside, {counts['MISSING']} missing notebook(s), "
                f"{counts['REVIEW']} to review")


def transliterate(name: str) -> str:
    """``name`` in ASCII letters: accents dropped, other scripts transliterated (anyascii), else ''."""
    try:
        from anyascii import anyascii
    except ImportError:  # without it, Latin letters with accents still work
        anyascii = None
    if anyascii is not None:
        return anyascii(name)
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")


def slug(name: str, lms_id: str | None = None) -> str | None:
    """A student id nbgrader accepts (lower-case ASCII letters, digits, ``._-``), with the LMS's participant id.

    Never empty for a non-empty name: a name that transliterates to nothing becomes ``student_<number>``.
    """
    value = re.sub(r"[^a-z0-9._-]+", "_", transliterate(name.strip()).lower()).strip("._-")
    if lms_id:
        return f"{value or 'student'}_{lms_id}"
    if not value and name.strip(" ._-"):
        value = f"student_{zlib.crc32(name.strip().encode('utf-8')):08x}"
    return value or None


def clean_name(stem: str) -> tuple[str, int]:
    """Undo Colab's and browsers' renames ("Copy of x (2)" -> "x"); also return the copy number."""
    copy_number = 0
    stem = COPY_PREFIX.sub("", stem.strip())
    while (match := COPY_SUFFIX.search(stem)) and match.start() > 0:
        copy_number = max(copy_number, int(match.group("paren") or match.group("dash") or 1))
        stem = stem[: match.start()].rstrip()
    return stem, copy_number


def student_from_file(filename: str, notebook_names: list[str]) -> str | None:
    """Whose file this is, from its name alone; None when the name does not say."""
    stem = Path(filename).stem
    if match := CANVAS_FILE.match(stem):
        return slug(match.group("student"), match.group("id"))
    if match := BLACKBOARD_FILE.match(stem):
        return slug(match.group("student"))
    cleaned, _ = clean_name(stem)
    for name in notebook_names:
        if cleaned.lower() == name.lower():
            return None  # just the assignment's name: nobody's in particular
        if cleaned.lower().endswith(name.lower()):
            return slug(cleaned[: -len(name)].strip(" _-"))
        if cleaned.lower().startswith(name.lower()):
            return slug(cleaned[len(name):].strip(" _-"))
    return slug(cleaned)


def student_from_folder(name: str) -> str | None:
    """A student's id from their folder's name (Moodle's suffix removed)."""
    if match := MOODLE_FOLDER.match(name):
        return slug(match.group("student"), match.group("id"))
    return slug(name)


def _extract(archive: Path, into: Path) -> tuple[Path, list[tuple[str, str]]]:
    """Unzip ``archive`` into a fresh folder under ``into``, keeping entry dates.

    Returns the folder and the entries left out, each with the reason: links, paths that would land
    outside the folder, names the file system refuses. One bad entry never costs the others.
    """
    target = Path(tempfile.mkdtemp(prefix="zip-", dir=into))
    skipped: list[tuple[str, str]] = []
    with zipfile.ZipFile(archive) as zf:
        if sum(info.file_size for info in zf.infolist()) > 20 * MAX_BYTES:
            raise ValueError("archive expands to more than 1 GB")
        for info in zf.infolist():
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                skipped.append((info.filename, "a link, not a file: refused (a link can point at anything, the solutions included)"))
                continue
            dest = None
            try:
                dest = Path(os.path.normpath(target / info.filename))
                if Path(info.filename).is_absolute() or not dest.is_relative_to(target):
                    skipped.append((info.filename, "its path leads outside the zip: refused"))
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
                stamp = time.mktime(info.date_time + (0, 0, -1))
                os.utime(dest, (stamp, stamp))
            except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
                skipped.append((info.filename, f"cannot be extracted ({reason})"))
                try:
                    if dest is not None and dest.is_file():
                        dest.unlink()
                except OSError:
                    pass
    return target, skipped


def _files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Regular files under ``folder`` (junk left out), and the links found there (never followed)."""
    files, links = [], []
    for parent, dirs, names in os.walk(folder, followlinks=False):
        here = Path(parent)
        for name in list(dirs):
            if JUNK.match(name):
                dirs.remove(name)
            elif (here / name).is_symlink():
                links.append(here / name)
                dirs.remove(name)
        for name in names:
            path = here / name
            if JUNK.match(name):
                continue
            if path.is_symlink():
                links.append(path)
            elif path.is_file():
                files.append(path)
    return sorted(files), sorted(links)


def _student_folder(folder: Path) -> bool:
    """A folder of one student's files (notebooks or zips at its top), not a wrapper around many folders."""
    return any(p.is_file() and not p.is_symlink() and not JUNK.match(p.name) for p in folder.iterdir())


def collect(sources: list[Path], scratch: Path, notebook_names: list[str], student: str | None = None) -> tuple[list[Received], list[Line]]:
    """Every file in ``sources`` with the student it belongs to; zips are opened (``scratch`` holds their contents)."""
    received: list[Received] = []
    problems: list[Line] = []
    link_reason = "a link, not a file: refused (a link can point at anything, the solutions included)"

    def add_file(path: Path, shown: str, owner: str | None, depth: int) -> None:
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            if depth >= MAX_ZIP_DEPTH:
                problems.append(Line("REJECTED", owner or "?", f"{shown}: a zip inside a zip inside a zip: not opened"))
                return
            try:
                folder, skipped = _extract(path, scratch)
            except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, EOFError, zlib.error) as err:
                problems.append(Line("REJECTED", owner or "?", f"{shown}: cannot open the zip file ({err})"))
                return
            inner_shown = f"{shown}:" if depth == 0 else f"{shown} (a zip inside a zip):"
            for name, reason in skipped:
                who = owner or student_from_file(Path(name).name, notebook_names) or "?"
                problems.append(Line("REJECTED", who, f"{inner_shown}{name}: {reason}"))
            if owner is None:
                walk(folder, inner_shown, depth + 1, unwrap=True)
            else:
                files, links = _files(folder)
                for link in links:
                    problems.append(Line("REJECTED", owner, f"{inner_shown}{link.relative_to(folder)}: {link_reason}"))
                for inner in files:
                    add_file(inner, f"{inner_shown}{inner.relative_to(folder)}", owner, depth + 1)
            return
        who = owner or student_from_file(path.name, notebook_names)
        received.append(Received(who, path, shown, path.stat().st_mtime))

    def walk(folder: Path, prefix: str, depth: int, unwrap: bool = False) -> None:
        entries = sorted(p for p in folder.iterdir() if not JUNK.match(p.name))
        if unwrap and len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() \
                and not _student_folder(entries[0]):
            return walk(entries[0], f"{prefix}{entries[0].name}/", depth)  # a zip of one folder that holds the export
        for entry in entries:
            shown = f"{prefix}{entry.name}"
            if entry.is_symlink():
                problems.append(Line("REJECTED", student or student_from_folder(entry.name) or "?", f"{shown}: {link_reason}"))
            elif entry.is_dir():
                owner = student or student_from_folder(entry.name)
                files, links = _files(entry)
                for link in links:
                    problems.append(Line("REJECTED", owner or "?", f"{shown}/{link.relative_to(entry)}: {link_reason}"))
                for path in files:
                    add_file(path, f"{shown}/{path.relative_to(entry)}", owner, depth)
            elif entry.is_file():
                add_file(entry, shown, student, depth)

    for source in sources:
        source = Path(source)
        if source.is_symlink() and source.is_file():
            problems.append(Line("REJECTED", student or "?", f"{source}: {link_reason}"))
        elif source.is_dir():
            walk(source, f"{source}/", 0)
        elif source.is_file():
            add_file(source, str(source), student, 0)
        else:
            problems.append(Line("REJECTED", student or "?", f"{source}: no such file or folder"))
    return received, problems


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Parse a submitted file into a valid notebook, dropping Colab's extra metadata; ValueError says why it cannot be."""
    if path.suffix.lower() != ".ipynb":
        raise ValueError(f"not a notebook ({path.suffix or 'no extension'})")
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"too large for a notebook ({path.stat().st_size / 1e6:.0f} MB)")
    text = path.read_bytes().decode("utf-8", errors="replace")
    if not text.strip():
        raise ValueError("empty file")
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"unreadable notebook JSON ({err})") from None
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as err:  # nbformat raises several kinds on JSON that is not a notebook
        raise ValueError(f"not a Jupyter notebook ({type(err).__name__}: {err})") from None
    for key in COLAB_NOTEBOOK_KEYS:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in COLAB_CELL_KEYS:
            cell.get("metadata", {}).pop(key, None)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        try:  # repairable: metadata the schema does not know, for example
            nb = nbformat.from_dict(nbformat.validator.normalize(nb, strip_invalid_metadata=True)[1])
            nbformat.validate(nb)
        except Exception as err:
            raise ValueError(f"not a valid notebook ({str(err).splitlines()[0]})") from None
    return nb


def identify(nb: nbformat.NotebookNode, releases: dict[str, dict[str, nbformat.NotebookNode]]) -> tuple[str, str, float]:
    """The (assignment, notebook) whose release ``nb`` matches best, and how well (0 to 1)."""
    best = ("", "", 0.0)
    for assignment, notebooks in releases.items():
        for name, release in notebooks.items():
            score = match_score(nb, release)
            if score > best[2]:
                best = (assignment, name, score)
    return best


def _place(course: Course, assignment: str, student: str, notebook: str, nb: nbformat.NotebookNode) -> tuple[Path, bool]:
    """Write ``nb`` into submitted/; a different notebook already there is archived first. Returns (path, changed)."""
    folder = course.submission_dir(student, assignment)
    target = folder / f"{notebook}.ipynb"
    text = nbformat.writes(nb)
    if target.exists():
        if target.read_text(errors="replace") == text:
            return target, False
        archive = course.workspace / "intake" / assignment / "replaced" / student
        archive.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), archive / f"{time.strftime('%Y%m%d-%H%M%S')}-{target.name}")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target, True


def intake(course: Course, assignment: str, sources: list[Path], student: str | None = None) -> IntakeReport:
    """Sort raw submissions into ``submitted/``; every file not accepted gets one line saying whose it is and why."""
    releases = {a: course.released_notebooks(a) for a in course.assignments()}
    if not releases.get(assignment):
        raise FileNotFoundError(f"no released notebook in {course.release / assignment}: run `nbgrader generate_assignment {assignment}` first")
    names = list(releases[assignment])
    report = IntakeReport(assignment)
    candidates: dict[tuple[str, str], list[_Candidate]] = {}
    seen: dict[str, int] = {}
    owner = None
    if student is not None:
        owner = slug(student)
        if not owner:
            raise ValueError(f"--student {printable(student)!r} gives no usable student id; use letters or digits")
        if owner != student:
            report.lines.append(Line("NOTE", owner, f"--student {printable(student)!r} is graded as {owner!r}"))
    with tempfile.TemporaryDirectory(prefix="intake-") as scratch:
        received, problems = collect([Path(s) for s in sources], Path(scratch), names, owner)
        report.lines += problems
        for item in received:
            if item.student is None:
                report.lines.append(Line("REJECTED", "?", f"{item.shown}: cannot tell whose submission this is "
                                         "(put it in a folder named after the student, or use --student)"))
                continue
            seen[item.student] = seen.get(item.student, 0) + 1
            try:
                nb = read_notebook(item.path)
            except ValueError as err:
                report.lines.append(Line("REJECTED", item.student, f"{item.shown}: {err}"))
                continue
            found, notebook, score = identify(nb, releases)
            if found != assignment or score < MATCH_THRESHOLD:
                what = f"it is {notebook}.ipynb of {found}" if found and score >= MATCH_THRESHOLD else "it matches no released notebook"
                report.lines.append(Line("REJECTED", item.student, f"{item.shown}: wrong assignment: {what}, not {assignment}"))
                continue
            candidate = _Candidate(item, notebook, nb, copy_number=clean_name(Path(item.path).stem)[1])
            restored = restore_metadata(nb, releases[assignment][notebook])
            if restored:
                candidate.notes.append(f"restored nbgrader metadata of {len(restored)} cell(s)")
            if item.path.name != f"{notebook}.ipynb":
                candidate.notes.append(f"renamed from {item.path.name!r}")
            for finding in audit(nb, releases[assignment][notebook], assignment):
                report.lines.append(Line("REVIEW", item.student, f"{item.shown}: {finding}"))
            candidates.setdefault((item.student, notebook), []).append(candidate)

    for (who, notebook), group in sorted(candidates.items()):
        group.sort(key=lambda c: (c.received.mtime, c.copy_number, c.received.shown))
        kept = group[-1]
        for older in group[:-1]:
            report.lines.append(Line("DUPLICATE", who, f"{older.received.shown}: set aside; a newer copy was kept ({kept.received.shown})"))
        path, changed = _place(course, assignment, who, notebook, kept.nb)
        notes = "; ".join(kept.notes)
        status = "ACCEPTED" if changed else "UNCHANGED"
        report.lines.append(Line(status, who, f"{kept.received.shown} -> {path.relative_to(course.root) if path.is_relative_to(course.root) else path}"
                                 + (f" ({notes})" if notes else "")))
        report.placed.setdefault(who, []).append(path)
    for who, count in sorted(seen.items()):
        for name in names:
            if (who, name) not in candidates:
                report.lines.append(Line("MISSING", who, f"no gradable {name}.ipynb among the {count} file(s) received"))
    order = {"NOTE": 0, "ACCEPTED": 0, "UNCHANGED": 0, "DUPLICATE": 1, "REVIEW": 2, "REJECTED": 3, "MISSING": 4}
    report.lines.sort(key=lambda line: (order.get(line.status, 9), line.student))
    return report
