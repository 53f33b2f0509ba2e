"""The course directory as nbgrader sees it: its folders, gradebook and released notebooks."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass(frozen=True)
class Course:
    """Where one nbgrader course keeps its notebooks and grading output."""

    root: Path
    source: Path  # solutions/: instructor notebooks
    release: Path  # assignments/: student notebooks
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str
    course_id: str

    @property
    def workspace(self) -> Path:
        """The folder that holds ``submitted/`` (``grading/`` in this course): logs and archives go here too."""
        return self.submitted.parent

    def submission_dir(self, student: str, assignment: str) -> Path:
        return self.submitted / student / assignment

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.autograded / student / assignment

    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self.feedback / student / assignment

    def log_dir(self, assignment: str) -> Path:
        return self.workspace / "logs" / assignment

    def released_notebooks(self, assignment: str) -> dict[str, nbformat.NotebookNode]:
        """The student notebooks of ``assignment`` by name (without ``.ipynb``)."""
        folder = self.release / assignment
        return {p.stem: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}

    def assignments(self) -> list[str]:
        """Every released assignment."""
        if not self.release.is_dir():
            return []
        return sorted(p.name for p in self.release.iterdir() if any(p.glob("*.ipynb")))

    def students(self, assignment: str) -> list[str]:
        """Students with a ``submitted/<student>/<assignment>/`` folder."""
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir() if (p / assignment).is_dir())

    def gradebook(self):
        """nbgrader's gradebook for this course (use it in a ``with`` block)."""
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url, self.course_id)


def load_course(root: str | os.PathLike = ".") -> Course:
    """Read ``nbgrader_config.py`` in ``root`` the way nbgrader does and resolve the course's folders."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{root} has no nbgrader_config.py: run this from the course's root folder")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    coursedir = CourseDirectory(config=config)
    if not coursedir.root:
        coursedir.root = str(root)

    if coursedir.directory_structure != "{nbgrader_step}/{student_id}/{assignment_id}":
        raise ValueError("the grading pipeline needs nbgrader's default CourseDirectory.directory_structure")

    def folder(step: str) -> Path:
        return Path(coursedir.root, step).resolve()  # an absolute step stays as it is

    return Course(
        root=Path(coursedir.root).resolve(),
        source=folder(coursedir.source_directory),
        release=folder(coursedir.release_directory),
        submitted=folder(coursedir.submitted_directory),
        autograded=folder(coursedir.autograded_directory),
        feedback=folder(coursedir.feedback_directory),
        db_url=coursedir.db_url,
        course_id=coursedir.course_id,
    )


def normalise_db_url(url: str) -> str:
    """SQLAlchemy's spelling of a database URL: ``postgres://`` (Heroku's and many guides') becomes ``postgresql://``."""
    url = url.strip()
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url


def shown_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def database_problem(url: str, err: BaseException) -> str:
    """One line saying why the gradebook at ``url`` cannot be opened."""
    name = type(err).__name__
    text = str(getattr(err, "orig", None) or err).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(("(Background", "[SQL"))]
    detail = lines[0] if lines else name
    detail = detail.split(") ", 1)[1] if detail.startswith("(") and ") " in detail else detail
    where = shown_url(url)
    if name == "NoSuchModuleError" or "Can't load plugin" in text:
        scheme = url.split(":", 1)[0]
        return (f"cannot open the gradebook {where}: unknown database type {scheme!r}; "
                "use postgresql://user:password@host:port/database or sqlite:///path/to/gradebook.db")
    if name == "ArgumentError" or "Could not parse" in text:
        return f"cannot open the gradebook: {where!r} is not a database URL (postgresql://user:password@host:port/database)"
    if isinstance(err, ModuleNotFoundError):
        return f"cannot open the gradebook {where}: the database driver is not installed ({err.name}); run `make install`"
    if "refused" in detail.lower() or "could not connect" in detail.lower() or "timeout" in detail.lower():
        return f"cannot reach the database server of {where}: {detail} (is the server running, and are host and port right?)"
    return f"cannot open the gradebook {where}: {detail}"


def nbgrader_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for nbgrader subprocesses: this Python's scripts on PATH (nbgrader runs ``alembic``), no GUI backend."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MPLBACKEND", "Agg")
    return env
