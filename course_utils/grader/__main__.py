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

    grade = commands.add_parser("autograde", help="autograde submissions in parallel with nbgrader, each in a sandbox")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="only this student (repeat for several); always regraded")
    grade.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel workers (default: one per core)")
    grade.add_argument("--timeout", type=int, help="seconds a cell may run (nbgrader's Execute.timeout)")
    grade.add_argument("--student-timeout", type=float, default=1800.0, help="seconds one submission may take in all")
    grade.add_argument("--force", action="store_true", help="regrade everyone, also submissions already graded "
                                                            "for their current file and release")
    grade.add_argument("--no-review", action="store_true", help="do not regrade submissions with flagged code "
                                                               "without it (they are still flagged for review)")
    grade.add_argument("--unsandboxed", action="store_true", help="run student code WITHOUT the bubblewrap sandbox, "
                                                                  "with your rights (only where none is available)")

    feedback = commands.add_parser("feedback", help="write feedback HTML without hidden tests or active content, and check it")
    feedback.add_argument("assignment")
    feedback.add_argument("--student", action="append", help="only this student (repeat for several)")

    export = commands.add_parser("export", help="write the grades CSV (nbgrader export, with each student's status) "
                                                "and per-test scores")
    export.add_argument("assignment")
    export.add_argument("--to", type=Path, required=True, help="grades CSV: one row per student and assignment")
    export.add_argument("--tests", type=Path, help="also write one row per student and test here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from course_utils.grader.course import normalise_db_url

    if args.db_url:
        os.environ["COURSE_GRADEBOOK_URL"] = normalise_db_url(args.db_url)  # nbgrader_config.py and the workers read it
    elif os.environ.get("COURSE_GRADEBOOK_URL"):
        os.environ["COURSE_GRADEBOOK_URL"] = normalise_db_url(os.environ["COURSE_GRADEBOOK_URL"])
    from course_utils.grader.autograde import GradingError, GradingInterrupted

    try:
        return _run(args)
    except GradingInterrupted as stop:
        _print_interrupted(args, stop.results)
        return 130
    except KeyboardInterrupt:
        print("interrupted: nothing was changed by this command's unfinished step; run it again", file=sys.stderr)
        return 130
    except (GradingError, FileNotFoundError, ValueError, RuntimeError) as err:
        from course_utils.grader.intake import printable

        print(f"error: {printable(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)}", file=sys.stderr)
        return 2
    except Exception as err:  # a database error from nbgrader's gradebook, for example: one line, not a traceback
        from course_utils.grader.course import database_problem

        if type(err).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "psycopg2", "sqlite3"):
            url = os.environ.get("COURSE_GRADEBOOK_URL", "the gradebook")
            print(f"error: {database_problem(url, err)}", file=sys.stderr)
            return 2
        raise


def _print_interrupted(args, results) -> None:
    graded = sum(r.status in ("graded", "flagged") for r in results)
    unfinished = [r.student for r in results if r.status == "not graded" and "interrupted" in "; ".join(r.notes)]
    print(f"interrupted: {graded} submission(s) graded; {len(unfinished)} not finished and marked not graded "
          f"({', '.join(unfinished[:5])}{', ...' if len(unfinished) > 5 else ''}). Run "
          f"`python -m course_utils.grader autograde {args.assignment}` again to finish the job.", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from course_utils.grader.autograde import GradingError, autograde, check_gradebook
    from course_utils.grader.course import load_course
    from course_utils.grader.intake import printable

    course = load_course(args.course)
    if args.command in ("feedback", "export"):
        check_gradebook(course, args.assignment)
    if args.command == "intake":
        from course_utils.grader.intake import intake

        missing = [printable(str(s)) for s in args.sources if not s.exists() and not s.is_symlink()]
        if missing:
            print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
            return 2
        report = intake(course, args.assignment, args.sources, student=args.student)
        for line in report.lines:
            print(line)
        print(report.summary())
        return 0
    if args.command == "autograde":
        from course_utils.grader.sandbox import RISK

        if args.unsandboxed:
            print(f"warning: {RISK}", file=sys.stderr)
        extra = [f"--Execute.timeout={args.timeout}"] if args.timeout else []
        start = time.perf_counter()
        results = autograde(course, args.assignment, args.student, args.workers, extra, args.student_timeout,
                            force=args.force, sandbox=not args.unsandboxed, review=not args.no_review)
        elapsed = time.perf_counter() - start
        done = sum(r.status in ("graded", "flagged") for r in results)
        problems = [r for r in results if r.status not in ("graded",)]
        print(f"autograde {args.assignment}: {done} of {len(results)} graded in {elapsed:.0f} s with {args.workers} "
              f"worker(s) ({60 * done / max(elapsed, 1e-9):.1f} per minute); logs in {course.log_dir(args.assignment)}")
        if not results:
            print("  every submission is already graded for its current file (use --force to regrade)")
        for result in problems:
            print(f"  {result}")
        return 1 if any(r.status == "not graded" for r in results) else 0
    if args.command == "feedback":
        from course_utils.grader.feedback import generate_feedback

        if not any(course.autograded.glob(f"*/{args.assignment}/*.ipynb")):
            raise GradingError(f"nothing of {args.assignment} is autograded yet: run "
                               f"`python -m course_utils.grader autograde {args.assignment}` first")
        withheld = generate_feedback(course, args.assignment, args.student)
        files = sorted(course.feedback.glob(f"*/{args.assignment}/*.html"))
        print(f"feedback {args.assignment}: {len(files)} file(s) in {course.feedback}, checked: no hidden tests, "
              f"no active content, every student graded for their current submission")
        if withheld:
            print(f"  {len(withheld)} file(s) withheld in {course.workspace / 'feedback_withheld'}:")
            for path, reasons in sorted(withheld.items()):
                print(printable(f"  {path.parent.parent.name}: {'; '.join(reasons)}"))
        return 1 if withheld else 0
    if args.command == "export":
        from course_utils.grader.feedback import export_grades, export_test_scores

        refused = export_grades(course, args.to)
        print(f"grades: {args.to}")
        if args.tests:
            rows = export_test_scores(course, args.assignment, args.tests)
            print(f"per-test scores: {args.tests} ({rows} rows)")
        for (assignment, student), why in sorted(refused.items()):
            print(printable(f"not graded, no score exported: {student} ({assignment}): {why}"), file=sys.stderr)
        return 1 if refused else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
