"""Command line: ``python -m course_utils.grader intake|autograde|feedback|export ...`` (run it in the course's root)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grader", description=__doc__)
    parser.add_argument("--course", default=".", help="the course's root folder, with nbgrader_config.py (default: here)")
    parser.add_argument("--db-url", help="gradebook database URL, e.g. postgresql://grader@localhost/course "
                                         "(default: COURSE_GRADEBOOK_URL, else the SQLite file in the grading folder)")
    commands = parser.add_subparsers(dest="command", required=True)

    intake = commands.add_parser("intake", help="sort raw submissions (folders, zips, Colab downloads) into submitted/")
    intake.add_argument("assignment")
    intake.add_argument("sources", nargs="+", type=Path, help="folders, zip files or notebooks as received")
    intake.add_argument("--student", help="every file given belongs to this student")

    grade = commands.add_parser("autograde", help="autograde submissions in parallel with nbgrader")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="only this student (repeat for several)")
    grade.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel workers (default: one per core)")
    grade.add_argument("--timeout", type=int, help="seconds a cell may run (nbgrader's Execute.timeout)")
    grade.add_argument("--student-timeout", type=float, default=1800.0, help="seconds one submission may take in all")

    feedback = commands.add_parser("feedback", help="write feedback HTML without hidden tests, and check it")
    feedback.add_argument("assignment")
    feedback.add_argument("--student", action="append", help="only this student (repeat for several)")

    export = commands.add_parser("export", help="write the grades CSV (nbgrader export) and per-test scores")
    export.add_argument("assignment")
    export.add_argument("--to", type=Path, required=True, help="grades CSV: one row per student and assignment")
    export.add_argument("--tests", type=Path, help="also write one row per student and test here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.db_url:
        os.environ["COURSE_GRADEBOOK_URL"] = args.db_url  # nbgrader_config.py and the workers read it
    from course_utils.grader.autograde import GradingError

    try:
        return _run(args)
    except (GradingError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from course_utils.grader.autograde import GradingError, autograde, check_gradebook
    from course_utils.grader.course import load_course

    course = load_course(args.course)
    if args.command in ("feedback", "export"):
        check_gradebook(course, args.assignment)
    if args.command == "intake":
        from course_utils.grader.intake import intake

        missing = [str(s) for s in args.sources if not s.exists()]
        if missing:
            print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
            return 2
        report = intake(course, args.assignment, args.sources, student=args.student)
        for line in report.lines:
            print(line)
        print(report.summary())
        return 0
    if args.command == "autograde":
        extra = [f"--Execute.timeout={args.timeout}"] if args.timeout else []
        start = time.perf_counter()
        results = autograde(course, args.assignment, args.student, args.workers, extra, args.student_timeout)
        elapsed = time.perf_counter() - start
        graded = sum(r.status == "graded" for r in results)
        problems = [r for r in results if r.status != "graded"]
        print(f"autograde {args.assignment}: {graded} of {len(results)} graded in {elapsed:.0f} s with {args.workers} "
              f"worker(s) ({60 * graded / max(elapsed, 1e-9):.1f} per minute); logs in {course.log_dir(args.assignment)}")
        for result in problems:
            print(f"  {result}")
        return 1 if any(r.status == "failed" for r in results) else 0
    if args.command == "feedback":
        from course_utils.grader.feedback import generate_feedback

        if not any(course.autograded.glob(f"*/{args.assignment}/*.ipynb")):
            raise GradingError(f"nothing of {args.assignment} is autograded yet: run "
                               f"`python -m course_utils.grader autograde {args.assignment}` first")
        leaks = generate_feedback(course, args.assignment, args.student)
        files = sorted(course.feedback.glob(f"*/{args.assignment}/*.html"))
        print(f"feedback {args.assignment}: {len(files)} file(s) in {course.feedback}, none shows hidden tests" if not leaks
              else f"feedback {args.assignment}: {len(leaks)} file(s) showed hidden tests and were moved to "
                   f"{course.workspace / 'feedback_withheld'}; check nbgrader_config.py's GenerateFeedback.preprocessors")
        return 1 if leaks else 0
    if args.command == "export":
        from course_utils.grader.feedback import export_grades, export_test_scores

        export_grades(course, args.to)
        print(f"grades: {args.to}")
        if args.tests:
            rows = export_test_scores(course, args.assignment, args.tests)
            print(f"per-test scores: {args.tests} ({rows} rows)")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
