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


# --- hostile and unusual inputs ------------------------------------------------------------------------------


def test_links_are_refused_even_to_a_real_notebook(course, tmp_path):
    raw = tmp_path / "raw"
    (raw / "eve").mkdir(parents=True)
    (raw / "eve" / NB).symlink_to(H.SOLUTIONS / A / NB)  # the instructor's notebook, with every answer
    (raw / "mallory").symlink_to(H.SOLUTIONS / A)  # a whole folder
    (raw / f"trent_{NB}").symlink_to(H.SOLUTIONS / A / NB)
    report = intake(course, A, [raw])
    assert report.placed == {}
    rejected = [str(line) for line in report.by_status("REJECTED")]
    assert len(rejected) == 3 and all("a link, not a file: refused" in line for line in rejected), rejected
    assert not (course.submitted).exists() or not any(course.submitted.rglob("*.ipynb"))


def test_same_name_students_stay_apart_by_their_lms_id(course, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "Wei Zhang_1111_assignsubmission_file_" / NB, H.build_submission(A))
    write(raw / "Wei Zhang_2222_assignsubmission_file_" / NB, released())
    report = intake(course, A, [raw])
    assert sorted(report.placed) == ["wei_zhang_1111", "wei_zhang_2222"]
    assert not report.by_status("DUPLICATE")
    answered = (course.submission_dir("wei_zhang_1111", A) / NB).read_text()
    assert answered == nbformat.writes(nbformat.read(raw / "Wei Zhang_1111_assignsubmission_file_" / NB, as_version=4))


def test_one_bad_entry_of_a_zip_is_rejected_alone(course, tmp_path):
    export = tmp_path / "canvas.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr(f"lovelaceada_11_22_{NB}", nbformat.writes(H.build_submission(A)))
        zf.writestr("x" * 300 + "_12_23_" + NB, nbformat.writes(released()))  # longer than any file name may be
        zf.writestr("../../escape_13_24_a01.ipynb", nbformat.writes(released()))  # a path out of the zip
        info = zipfile.ZipInfo(f"linky_14_25_{NB}")
        info.external_attr = (0o120777 << 16)  # a symbolic link
        zf.writestr(info, str(H.SOLUTIONS / A / NB))
        zf.writestr(f"babbagecharles_15_26_{NB}", nbformat.writes(released()))
    report = intake(course, A, [export])
    assert sorted(report.placed) == ["babbagecharles_15", "lovelaceada_11"]
    rejected = [line.message for line in report.by_status("REJECTED")]
    assert any("cannot be extracted" in m for m in rejected), rejected
    assert any("leads outside the zip" in m for m in rejected), rejected
    assert any("a link, not a file" in m for m in rejected), rejected
    assert len(rejected) == 3


def test_names_in_other_scripts_become_ids_and_student_is_never_ignored(course, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "张伟" / NB, H.build_submission(A))
    write(raw / "Zoë Ünal" / NB, released())
    report = intake(course, A, [raw])
    assert sorted(report.placed) == ["zhangwei", "zoe_unal"]
    single = write(tmp_path / f"Copy of {NB}", released())
    report = intake(course, A, [single], student="李娜")
    assert list(report.placed) == ["lina"]
    assert [line.message for line in report.by_status("NOTE")] == ["--student '李娜' is graded as 'lina'"]
    report = intake(course, A, [single], student="???")  # nothing to transliterate: a stable id, never an empty one
    assert len(report.placed) == 1 and next(iter(report.placed)).startswith("student_")
    with pytest.raises(ValueError, match="gives no usable student id"):
        intake(course, A, [single], student="  ")


def test_control_characters_in_names_cannot_fake_report_lines(course, tmp_path):
    raw = tmp_path / "raw"
    fake = "x\nACCEPTED  admin  everything \x1b[32mgreen\x1b[0m"
    write(raw / "olga" / f"{fake}.pdf", "%PDF")
    report = intake(course, A, [raw])
    printed = "\n".join(str(line) for line in report.lines)
    assert not any(line.startswith("ACCEPTED") for line in printed.splitlines())
    assert "\x1b" not in printed and "\\n" in printed and "\\x1b" in printed


def test_zip_of_one_student_folder_and_zips_inside_zips(course, tmp_path):
    one = tmp_path / "ada_work.zip"
    with zipfile.ZipFile(one, "w") as zf:  # a zip that holds one student's folder
        zf.writestr(f"ada/Copy of {NB}", nbformat.writes(H.build_submission(A)))
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr(f"notes/{NB}", nbformat.writes(released()))
    innermost = tmp_path / "innermost.zip"
    with zipfile.ZipFile(innermost, "w") as zf:
        zf.write(inner, "deeper.zip")
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.write(inner, "bob/bob_work.zip")  # a student's own zip inside the LMS export
        zf.write(innermost, "cy/cy_work.zip")  # a zip inside a zip inside the export
    report = intake(course, A, [one, export])
    assert sorted(report.placed) == ["ada", "bob"]
    accepted = {line.student: line.message for line in report.by_status("ACCEPTED")}
    assert "bob_work.zip (a zip inside a zip):" in accepted["bob"]
    rejected = [str(line) for line in report.by_status("REJECTED")]
    assert any("cy" in line and "a zip inside a zip inside a zip: not opened" in line for line in rejected), rejected
