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


def test_student_html_is_sanitised_before_rendering():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from course_utils.grader.feedback import SanitizeStudentHTML

    nb = new_notebook(cells=[
        new_markdown_cell('Hi <script>alert(1)</script> <img src=x onerror="alert(2)"> [a](javascript:alert(3)) '
                          '$\\href{javascript:alert(4)}{x}$'),
        new_code_cell("x", outputs=[
            new_output("display_data", data={"text/html": '<b>ok</b><script>alert(5)</script><a href="javascript:alert(6)">l</a>',
                                             "application/javascript": "alert(7)", "text/plain": "x"}),
            new_output("display_data", data={"image/svg+xml": "<svg onload='alert(8)'/>", "text/plain": "svg"}),
        ]),
    ])
    nb, _ = SanitizeStudentHTML().preprocess(nb, {})
    markdown, code = nb.cells
    assert "<script>" not in markdown.source and "&lt;script&gt;" in markdown.source
    assert "javascript:" not in markdown.source and "\\href" not in markdown.source
    html = code.outputs[0].data["text/html"]
    assert "<b>ok</b>" in html and "<script>" not in html and "javascript:" not in html
    assert "application/javascript" not in code.outputs[0].data
    assert "image/svg+xml" not in code.outputs[1].data


def test_leak_check_decodes_what_a_notebook_could_print():
    import base64
    import bz2
    import gzip
    import lzma
    import zlib

    from course_utils.grader.feedback import decoded_blobs

    secret = "x_hidden_case = rng_hidden.normal(size=(7, 5, 3))  # the hidden test's line"
    data = secret.encode()
    forms = [base64.b64encode(data).decode(), base64.urlsafe_b64encode(zlib.compress(data)).decode(),
             base64.b64encode(gzip.compress(data)).decode(), base64.b64encode(bz2.compress(data)).decode(),
             base64.b64encode(lzma.compress(data)).decode(), zlib.compress(data).hex(),
             base64.b64encode(base64.b64encode(zlib.compress(data))).decode()]
    for form in forms:
        assert any(secret in text for text in decoded_blobs(f"output: {form} end")), form
    noise = "\n".join(f"line {i}: {i * 7919 % 104729:06d} {i * i % 65521:05d}" for i in range(2000))
    cut = base64.b64encode(zlib.compress(f"{secret}\n{noise}".encode())).decode()
    assert any(secret in text for text in decoded_blobs(cut[: len(cut) // 2]))  # cut short by the output cap
    assert decoded_blobs("plain text with no blobs, the usual feedback") == []


def test_active_content_is_found(tmp_path):
    from course_utils.grader.feedback import active_content

    page = tmp_path / "page.html"
    page.write_text('<p onclick="x()">a</p><a href=" jav&#x09;ascript:alert(1)">b</a><script src="a.js"></script>'
                    '<iframe src="x"></iframe><svg><a xlink:href="javascript:alert(2)">c</a></svg>')
    scripts, problems = active_content(page)
    assert scripts == ["a.js"]
    assert len(problems) == 4, problems
