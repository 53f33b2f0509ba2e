"""Parallel autograding against a real PostgreSQL server: several workers and two graders write at once.

The server is a throw-away cluster on loopback (Debian's ``postgresql``
package; ``.ci/run`` installs it). In CI a missing server is a failure; on a
developer machine without it these tests are skipped with the reason. The
course is the small assignment of ``grader_fixtures`` (it grades in seconds),
every kernel in its sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa

import grader_fixtures as F
from course_utils.grader.pgserver import PostgresServer, PostgresUnavailable

pytestmark = pytest.mark.grading


@pytest.fixture(scope="module")
def postgres():
    server = None
    try:
        server = PostgresServer()
        server.start()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as err:
        if server is not None:
            server.stop()
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL grading test, but the server did not start: {err}")
        pytest.skip(f"no PostgreSQL server on this machine ({err}); `apt-get install postgresql` to run this test")
    yield server
    server.stop()


def grader(root: Path, url: str, *args: str, wait: bool = True):
    """Run ``python -m course_utils.grader`` in the course, on the PostgreSQL gradebook."""
    env = F.grader_env(COURSE_GRADEBOOK_URL=url)
    command = [sys.executable, "-m", "course_utils.grader", *args]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return process
    output, _ = process.communicate(timeout=900)
    return process.returncode, output


def table_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar() for t in ("student", "submitted_assignment", "grade")}
        counts["most_submissions_per_student"] = conn.execute(sa.text(
            "select max(n) from (select count(*) as n from submitted_assignment group by student_id) as per_student")).scalar()
    engine.dispose()
    return counts


def scores(url: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(url, "open-deep-learning") as gb:
        return {s.student.id: float(s.code_score) for s in gb.find_assignment(F.MINI).submissions}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, postgres):
    """Four submissions, one of them unreadable, graded by two graders at once with two workers each.

    The second grader spells the URL ``postgres://``, as many hosting services print it.
    """
    root = tmp_path_factory.mktemp("pg_course")
    release = F.make_course(root, F.grader_env(COURSE_GRADEBOOK_URL=postgres.url))
    submissions = {
        "full": nbformat.writes(F.answered(release)),
        "wrong": nbformat.writes(F.answered(release, square="def square(x):\n    return x\n")),
        "blank": release.read_text(),
        "broken": '{"cells": [{"cell_type": "code", "source": "print(1)"',  # never went through intake
    }
    for student, text in submissions.items():
        folder = root / "grading" / "submitted" / student / F.MINI
        folder.mkdir(parents=True)
        (folder / F.NB).write_text(text)
    other_spelling = "postgres://" + postgres.url[len("postgresql://"):]
    first = grader(root, postgres.url, "autograde", F.MINI, "--workers", "2", "--student", "full", "--student", "broken", wait=False)
    second = grader(root, other_spelling, "autograde", F.MINI, "--workers", "2", "--student", "wrong", "--student", "blank", wait=False)
    outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    return {"root": root, "url": postgres.url, "codes": [first.returncode, second.returncode], "outputs": outputs,
            "scores": scores(postgres.url), "max": 4.0}


def test_grades_land_in_postgres_not_sqlite(graded):
    assert graded["url"].startswith("postgresql://")
    assert not (graded["root"] / "grading" / "gradebook.db").exists()
    counts = table_counts(graded["url"])
    assert counts["most_submissions_per_student"] == 1
    assert counts["student"] == 4


def test_parallel_graders_score_every_good_submission(graded):
    scores, max_score = graded["scores"], graded["max"]
    assert scores["full"] == max_score > 0
    assert 0 < scores["wrong"] < max_score
    assert scores["blank"] == 0


def test_one_crashing_submission_stops_nothing_else(graded):
    first, second = graded["outputs"]
    assert graded["codes"] == [1, 0], graded["outputs"]
    broken_line = next(line for line in first.splitlines() if line.startswith("not graded") and "broken" in line)
    assert "NotJSONError: Notebook does not appear to be JSON" in broken_line and "log:" in broken_line
    assert any(line.startswith("graded") and " full " in f" {line} " for line in first.splitlines())
    assert (graded["root"] / "grading" / "autograded" / "full" / F.MINI / F.NB).is_file()
    assert not (graded["root"] / "grading" / "autograded" / "broken" / F.MINI / F.NB).exists()


def test_regrading_is_idempotent(graded):
    before_counts, before_scores = table_counts(graded["url"]), scores(graded["url"])
    code, output = grader(graded["root"], graded["url"], "autograde", F.MINI, "--workers", "2", "--student", "full",
                          "--student", "wrong")
    assert code == 0, output
    assert scores(graded["url"]) == before_scores
    assert table_counts(graded["url"]) == before_counts


def test_export_from_postgres_marks_the_unreadable_submission(graded):
    code, output = grader(graded["root"], graded["url"], "export", F.MINI, "--to", "grading/grades.csv")
    assert code == 1 and "not graded, no score exported: broken" in output, output
