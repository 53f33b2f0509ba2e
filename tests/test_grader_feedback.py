"""Feedback drops hidden-test source and keeps each test's failure message. No nbgrader run."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbformat.v4 import new_output

import nbgrader_harness as H
from course_utils.grader.feedback import HIDDEN_NOTE, HideHiddenTests

A = "a01_neural_net_from_scratch"
pytestmark = pytest.mark.skipif(A not in H.discover_assignments(), reason="needs assignment a01")


def test_hidden_tests_and_tracebacks_are_removed_from_test_cells():
    nb = nbformat.read(H.SOLUTIONS / A / f"{A}.ipynb", as_version=4)  # test cells as autograding restores them
    test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_relu")
    hidden = re.search(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", test_cell.source, flags=re.S).group(1)
    visible = test_cell.source.split("### BEGIN HIDDEN TESTS")[0].strip()
    secret_line = next(line for line in hidden.splitlines() if line.strip())
    message = "relu(z) on a random (7, 5, 3) array at index (0, 1, 2) is -0.3, expected 0"
    test_cell.outputs = [new_output("error", ename="AssertionError", evalue=message, traceback=[
        "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
        f"\x1b[0;32m---> 15\x1b[0m {secret_line}", f"\x1b[0;31mAssertionError\x1b[0m: {message}"])]
    answer_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu")
    answer_before = answer_cell.source

    nb, _ = HideHiddenTests().preprocess(nb, {})

    assert "BEGIN HIDDEN TESTS" not in test_cell.source and secret_line not in test_cell.source
    assert test_cell.source.startswith(visible) and test_cell.source.endswith(HIDDEN_NOTE)
    (error,) = test_cell.outputs
    assert error.traceback == [f"\x1b[0;31mAssertionError\x1b[0m: {message}"] and error.evalue == message
    assert answer_cell.source == answer_before
    for cell in nb.cells:
        assert "BEGIN HIDDEN TESTS" not in cell.source
