"""Intake of raw submissions: names, zips, Colab files, duplicates, rejections, restored metadata. No kernels run."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

import nbgrader_harness as H
from course_utils.grader.audit import audit
from course_utils.grader.course import load_course
from course_utils.grader.intake import clean_name, intake, student_from_file, student_from_folder
from course_utils.grader.restore import nbgrader_meta, restore_metadata

A = "a01_neural_net_from_scratch"
NB = f"{A}.ipynb"
pytestmark = pytest.mark.skipif(A not in H.discover_assignments(), reason="needs assignment a01")


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course with the released a01 and a second, unrelated assignment."""
    shutil.copy(H.ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(H.ASSIGNMENTS / A, tmp_path / "assignments" / A)
    other = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# Other assignment, part {i}\n\nSomething else entirely, number {i}.",
                                      metadata={"nbgrader": {"grade": False, "grade_id": f"md_other_{i}", "locked": True,
                                                             "schema_version": 3, "solution": False, "task": False}})
        for i in range(4)])
    (tmp_path / "assignments" / "zz_other").mkdir()
    nbformat.write(other, tmp_path / "assignments" / "zz_other" / "zz_other.ipynb")
    monkeypatch.delenv("COURSE_GRADING_DIR", raising=False)
    return load_course(tmp_path)


def released() -> nbformat.NotebookNode:
    return nbformat.read(H.ASSIGNMENTS / A / NB, as_version=4)


def write(path: Path, nb_or_text, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def colab_copy(nb: nbformat.NotebookNode) -> str:
    """The notebook as Colab saves it: extra metadata, widget state without 'state', cell ids in metadata."""
    data = json.loads(nbformat.writes(nb))
    data["metadata"].update({"colab": {"provenance": [], "toc_visible": True}, "accelerator": "GPU",
                             "widgets": {"application/vnd.jupyter.widget-state+json": {"abc": {"model_name": "HBoxModel"}}}})
    for i, cell in enumerate(data["cells"]):
        cell["metadata"].update({"id": f"cell{i}", "colab": {"base_uri": "https://localhost:8080/"}, "outputId": "x"})
        if cell["cell_type"] == "code":
            cell["metadata"]["executionInfo"] = {"status": "ok", "timestamp": 1700000000000}
    return json.dumps(data)


def lines(report, status: str, student: str | None = None) -> list[str]:
    return [line.message for line in report.by_status(status) if student in (None, line.student)]


@pytest.mark.parametrize("name,student", [
    (f"Copy of {NB}", None),
    (f"{A} (1).ipynb", None),
    ("ada.ipynb", "ada"),
    (f"Ada Lovelace - {NB}", "ada_lovelace"),
    (f"Copy of bob_{A} (2).ipynb", "bob"),
    (f"lovelaceada_123_4567_Copy of {NB}", "lovelaceada_123"),
    (f"lovelaceada_LATE_123_4567_{A}-1.ipynb", "lovelaceada_123"),
    (f"A01_carol_attempt_2026-03-01-10-15-00_{NB}", "carol"),
])
def test_student_from_file_name(name, student):
    assert student_from_file(name, [A]) == student


def test_names_and_folders():
    assert clean_name(f"Copy of {A} (3)") == (A, 3)
    assert clean_name(f"{A}-2") == (A, 2)
    assert student_from_folder("Ada Lovelace_123456_assignsubmission_file_") == "ada_lovelace_123456"
    assert student_from_folder("B0B") == "b0b"


def test_colab_download_is_renamed_and_cleaned(course, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "ada" / f"Copy of {NB}", colab_copy(H.build_submission(A)))
    report = intake(course, A, [raw])
    target = course.submission_dir("ada", A) / NB
    assert [line.student for line in report.by_status("ACCEPTED")] == ["ada"]
    assert "renamed from 'Copy of" in lines(report, "ACCEPTED")[0]
    nb = nbformat.read(target, as_version=4)
    nbformat.validate(nb)
    assert "colab" not in nb.metadata and "widgets" not in nb.metadata
    assert all("executionInfo" not in c.metadata for c in nb.cells)
    assert sum(bool(nbgrader_meta(c)) for c in nb.cells) == sum(bool(nbgrader_meta(c)) for c in released().cells)


def test_lms_zip_folders_and_mixed_files(course, tmp_path):
    raw = tmp_path / "raw"
    export = tmp_path / "canvas_export.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr(f"lovelaceada_11_22_Copy of {NB}", nbformat.writes(H.build_submission(A)))
        zf.writestr("babbagecharles_LATE_12_23_homework.ipynb", nbformat.writes(released()))
        zf.writestr("__MACOSX/._junk", "x")
    write(raw / "Carol Shaw_998877_assignsubmission_file_" / "sub" / f"{A} (1).ipynb", H.build_submission(A))
    write(raw / "Carol Shaw_998877_assignsubmission_file_" / "report.pdf", "%PDF-1.4")
    write(raw / "dave" / "solution.py", "def relu(z): ...")
    with zipfile.ZipFile(raw / "dave" / "my_work.zip", "w") as zf:  # a student zipping their own folder
        zf.writestr(f"work/{NB}", nbformat.writes(H.build_submission(A)))
    report = intake(course, A, [export, raw])
    assert sorted(report.placed) == ["babbagecharles_12", "carol_shaw_998877", "dave", "lovelaceada_11"]
    assert lines(report, "REJECTED", "carol_shaw_998877") == [f"{raw}/Carol Shaw_998877_assignsubmission_file_/report.pdf: not a notebook (.pdf)"]
    assert lines(report, "REJECTED", "dave") == [f"{raw}/dave/solution.py: not a notebook (.py)"]
    assert not report.by_status("MISSING")


def test_unreadable_wrong_missing_and_anonymous_files_are_rejected_one_line_each(course, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "erin" / NB, '{"cells": [{"cell_type": "code", "source": "x = 1"')  # truncated download
    write(raw / "fay" / NB, "")
    write(raw / "gus" / NB, '{"hello": "world"}')
    write(raw / "hal" / "zz_other.ipynb", nbformat.read(course.release / "zz_other" / "zz_other.ipynb", as_version=4))
    write(raw / "ivy" / "notes.txt", "I could not finish")
    write(raw / NB, H.build_submission(A))  # nobody's
    report = intake(course, A, [raw])
    assert report.placed == {}
    rejected = {line.student: line.message for line in report.by_status("REJECTED")}
    assert "unreadable notebook JSON" in rejected["erin"]
    assert "empty file" in rejected["fay"]
    assert "not a Jupyter notebook" in rejected["gus"]
    assert "wrong assignment: it is zz_other.ipynb of zz_other, not a01" in rejected["hal"]
    assert "not a notebook (.txt)" in rejected["ivy"]
    assert "cannot tell whose submission this is" in rejected["?"]
    assert len(report.by_status("REJECTED")) == 6
    assert sorted(line.student for line in report.by_status("MISSING")) == ["erin", "fay", "gus", "hal", "ivy"]
    for line in report.lines:
        assert "\n" not in str(line)


def test_duplicates_keep_the_newest_and_set_the_rest_aside(course, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "jo" / NB, released(), mtime=1_700_000_000)
    newest = write(raw / "jo" / f"{A} (1).ipynb", H.build_submission(A), mtime=1_700_000_500)
    write(raw / "jo" / f"Copy of {NB}", released(), mtime=1_700_000_100)
    report = intake(course, A, [raw])
    assert len(report.by_status("DUPLICATE")) == 2
    kept = (course.submission_dir("jo", A) / NB).read_text()
    assert kept == nbformat.writes(nbformat.read(newest, as_version=4))


def test_nothing_sent_is_changed_and_replaced_submissions_are_archived(course, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "kim" / NB, released())
    digest = lambda: {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.rglob("*") if p.is_file()}  # noqa: E731
    before = digest()
    intake(course, A, [raw])
    assert intake(course, A, [raw]).by_status("UNCHANGED")
    write(raw / "kim" / NB, H.build_submission(A))  # the student sends a corrected version
    before = digest()
    report = intake(course, A, [raw])
    assert digest() == before
    assert report.by_status("ACCEPTED")
    archived = list((course.workspace / "intake" / A / "replaced" / "kim").glob("*.ipynb"))
    assert len(archived) == 1 and archived[0].read_text() == nbformat.writes(released())


def test_single_student_option(course, tmp_path):
    path = write(tmp_path / f"Copy of {A} (4).ipynb", H.build_submission(A))
    report = intake(course, A, [path], student="Lee")
    assert list(report.placed) == ["lee"]


def _strip(nb: nbformat.NotebookNode) -> list[dict]:
    saved = [copy.deepcopy(nbgrader_meta(c)) for c in nb.cells]
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return saved


def test_metadata_dropped_by_an_editor_is_restored():
    nb = H.build_submission(A)
    expected = _strip(nb)
    answer = next(i for i, m in enumerate(expected) if m.get("grade_id") == "softmax")
    cell = nb.cells[answer]  # the student also turned an answer into markdown
    nb.cells[answer] = nbformat.v4.new_markdown_cell(cell.source)
    nb.cells.insert(answer + 2, nbformat.v4.new_code_cell("print('my own scratch cell')"))
    expected.insert(answer + 2, {})
    restored = restore_metadata(nb, released())
    assert len(restored) == sum(bool(m) for m in expected)
    assert [nbgrader_meta(c).get("grade_id") for c in nb.cells] == [m.get("grade_id") for m in expected]


def test_metadata_restored_for_blank_and_edited_notebooks():
    nb = released()
    expected = _strip(nb)
    test_cell = next(c for c in nb.cells if c.source.startswith("from course_utils import activations"))
    test_cell.source = "# I removed the tests\n"
    restore_metadata(nb, released())
    assert [nbgrader_meta(c).get("grade_id") for c in nb.cells] == [m.get("grade_id") for m in expected]


def test_stripped_notebook_goes_through_intake_with_metadata(course, tmp_path):
    nb = H.build_submission(A)
    _strip(nb)
    write(tmp_path / "raw" / "max" / NB, nb)
    report = intake(course, A, [tmp_path / "raw"])
    assert "restored nbgrader metadata of" in lines(report, "ACCEPTED")[0]


def test_audit_flags_tampering_but_not_honest_answers():
    release = released()
    assert audit(H.build_submission(A), release) == []
    for mutant in H.load_mutants(A):
        assert audit(H.build_submission(A, mutant.cells), release) == [], mutant.name
    cheat = released()
    cheat.cells.insert(3, nbformat.v4.new_code_cell(
        "import course_utils.grading as g\ng.check_close = lambda *a, **k: None\nG = None\n"
        "def check_true(*a):\n    pass\nimport sys\nsys.modules['course_utils.grading'] = g\nabs = lambda x: 0\n"))
    findings = "\n".join(audit(cheat, release))
    for expected in ("changes `g.check_close`", "rebinds `G`", "rebinds `check_true`", "changes `sys.modules`", "rebinds `abs`"):
        assert expected in findings
