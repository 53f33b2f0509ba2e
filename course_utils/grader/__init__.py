"""The instructor's grading pipeline around nbgrader.

nbgrader does the grading; this package does what a real course needs around it:

* :mod:`~course_utils.grader.intake`: turn raw downloads (Colab copies, LMS zips,
  folders of mixed files) into nbgrader's ``submitted/`` layout, restoring cell
  metadata an editor dropped and rejecting what cannot be graded;
* :mod:`~course_utils.grader.autograde`: grade many students at once, one
  nbgrader autograde per worker process, safe on SQLite and PostgreSQL, with a
  status per student (graded, flagged, not graded) and a lock per workspace;
* :mod:`~course_utils.grader.sandbox`: every student's kernel in a bubblewrap
  sandbox that sees only its own submission and the read-only runtime;
* :mod:`~course_utils.grader.execute` (with ``kernel_guard.py``): the kernel
  runner nbgrader uses here; it restores what the tests rely on before every
  test cell and survives kernels that die or hang;
* :mod:`~course_utils.grader.audit`: flag tampering and uses of what a task's
  limits forbid, for review;
* :mod:`~course_utils.grader.feedback`: feedback without hidden-test source or
  student script, and grade export to CSV with each student's status.

Run it as ``python -m course_utils.grader intake|autograde|feedback|export``.
"""
