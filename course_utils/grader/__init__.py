"""The instructor's grading pipeline around nbgrader.

nbgrader does the grading; this package does what a real course needs around it:

* :mod:`~course_utils.grader.intake`: turn raw downloads (Colab copies, LMS zips,
  folders of mixed files) into nbgrader's ``submitted/`` layout, restoring cell
  metadata an editor dropped and rejecting what cannot be graded;
* :mod:`~course_utils.grader.autograde`: grade many students at once, one
  nbgrader autograde per worker process, safe on SQLite and PostgreSQL;
* :mod:`~course_utils.grader.execute`: the kernel runner nbgrader uses here; it
  restores the course's helper modules before every test cell and survives
  kernels that die or hang;
* :mod:`~course_utils.grader.feedback`: feedback without hidden-test source,
  and grade export to CSV.

Run it as ``python -m course_utils.grader intake|autograde|feedback|export``.
"""
