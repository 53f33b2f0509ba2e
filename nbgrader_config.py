"""nbgrader configuration for the course.

Instructor sources (solutions + hidden tests) live in ``solutions/``, the
released student notebooks in ``assignments/``. Everything produced while
grading (submissions, autograded copies, feedback, the gradebook database)
goes under ``grading/``, which git ignores. Set ``COURSE_GRADING_DIR`` to put
that workspace somewhere else.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

ROOT = Path(__file__).resolve().parent
WORKSPACE = Path(os.environ.get("COURSE_GRADING_DIR", ROOT / "grading")).resolve()
WORKSPACE.mkdir(parents=True, exist_ok=True)  # SQLite cannot create gradebook.db in a missing folder

c.CourseDirectory.course_id = "open-deep-learning"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
# Everything below is grading output and stays out of the repository.
c.CourseDirectory.submitted_directory = str(WORKSPACE / "submitted")
c.CourseDirectory.autograded_directory = str(WORKSPACE / "autograded")
c.CourseDirectory.feedback_directory = str(WORKSPACE / "feedback")
# nbgrader's default "solution" sits confusingly beside solutions/; move it away.
c.CourseDirectory.solution_directory = str(WORKSPACE / "released_solutions")
c.CourseDirectory.source_with_tests_directory = str(WORKSPACE / "source_with_tests")
DB_URL = os.environ.get("COURSE_GRADEBOOK_URL", "").strip() or f"sqlite:///{WORKSPACE / 'gradebook.db'}"
if DB_URL.startswith("postgres://"):  # SQLAlchemy only knows the postgresql:// spelling
    DB_URL = "postgresql://" + DB_URL[len("postgres://"):]
c.CourseDirectory.db_url = DB_URL
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Students' notebooks run with the tiny budget (nbgrader sets NBGRADER_EXECUTION).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.iopub_timeout = 15  # after a reply, wait this long for the rest of the output (a loaded machine is slow)

# The kernel runner (course_utils/grader/execute.py): nbgrader's Execute that also
# restores the course's helper modules before every test cell, survives a kernel
# that dies, and cuts huge outputs. Named by string, so only autograde imports it.
c.Autograde.autograde_preprocessors = [
    "course_utils.grader.execute.GuardedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.GuardedExecute.max_stream_chars = 100_000
# What the guard noticed (course_utils/grader/execute.py) stays in the autograded notebook for review.
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {("language_info", "name"), ("course_grader",)}
c.LimitOutput.max_lines = 1000

# Every HTML page made from a notebook (feedback, and the formgrader's pages, which the
# Jupyter server serves from its own origin) shows what a student wrote as text: raw HTML
# in answers escaped, outputs cleaned, no scripts (course_utils/grader/feedback.py).
c.HTMLExporter.preprocessors = ["course_utils.grader.feedback.SanitizeStudentHTML"]
c.HTMLExporter.sanitize_html = True

# Feedback shows each test's score and failure message, never hidden-test source
# (nbgrader's default feedback prints it, tracebacks included).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_utils.grader.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Put back test cells a student deleted; they run and score like any other test.
c.OverwriteCells.add_missing_cells = True

# Known harmless library warnings on stderr must not zero a test cell.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?:UserWarning|DeprecationWarning|FutureWarning|RuntimeWarning: invalid value"
    r"|Matplotlib is building the font cache|oneDNN custom operations)"
)

# Released notebooks: the stub students see in solution cells.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
