"""What the assignments' test cells call: one module per assignment, ``course_utils.checks.<assignment id>``.

The pattern every assignment follows:

* **Limits per task.** The module declares, as :class:`course_utils.grading.Limits`, what each
  graded function may not use (``NUMPY_ONLY``, ``NO_TORCH_OPTIM``, ...). The notebook's
  instructions state the same rule in words. Tests pass the limits to
  :func:`course_utils.grading.call_student`, which enforces them at run time whatever name the
  student imported a forbidden function under; the grader's audit reads them to flag code for
  review.
* **Tests stand on module functions only.** A test cell calls functions of this module and of
  :mod:`course_utils.grading` (and NumPy, PyTorch, scikit-learn), never helpers defined in
  notebook cells, which a student's later cell could redefine. Tools that students also use
  while they work (test problems, comparisons) live here too.
* **Fresh random cases.** Hidden tests draw their cases from :func:`course_utils.grading.fresh_rng`,
  seeded by the operating system at grading time and printed, so reading a test's source tells
  a student what is checked, never the expected answer.
* **A promise list.** The module's docstring lists every promise the instructions make for each
  graded function and the check that holds it to that promise.
"""
