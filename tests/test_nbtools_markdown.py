"""The markdown checks and fixes of nbtools: display math with blank lines, solutions folded as <details>."""

from __future__ import annotations

import nbformat
import pytest

import nbtools

GARBLED = """Backpropagation sends the error signal backwards:
$$
\\delta_l = W^\\top \\delta_{l+1}
$$
Going from the last layer down multiplies by $L - l$ factors.

```python
s = "$$"  # code is left alone
x = 1
```
"""

ADMONITION = """**Exercise 1.** Differentiate tanh.

````{admonition} Solution
:class: dropdown

The quotient rule gives
$$
\\tanh'(z) = 1 - \\tanh^2(z).
$$
A numerical check:
```python
print(1)
```
````

More text.
"""


def test_math_check_flags_a_block_right_under_text_and_right_before_text():
    problems = nbtools.math_problems(GARBLED)
    assert len(problems) == 2
    assert "right under a line of text" in problems[0] and "right after" in problems[1]
    assert nbtools.math_problems("Text:\n\n$$ x $$\n\nmore") == []
    assert nbtools.math_problems("Text:\n$$ x $$") != []  # one-line blocks too
    assert nbtools.math_problems("```\ntext\n$$\n```") == []  # inside code


def test_fix_math_adds_the_blank_lines_and_is_idempotent():
    fixed = nbtools.fix_math(GARBLED)
    assert nbtools.math_problems(fixed) == []
    assert "backwards:\n\n$$\n" in fixed and "$$\n\nGoing" in fixed
    assert 's = "$$"  # code is left alone\nx = 1' in fixed
    assert nbtools.fix_math(fixed) == fixed


def test_fold_solutions_turns_an_admonition_into_details():
    assert any("not folded" in p for p in nbtools.solution_problems(ADMONITION))
    folded = nbtools.fix_math(nbtools.fold_solutions(ADMONITION))
    assert nbtools.solution_problems(folded) == [] and nbtools.math_problems(folded) == []
    assert "{admonition}" not in folded and ":class: dropdown" not in folded
    assert "<details>\n<summary>Solution</summary>\n\nThe quotient rule gives\n" in folded
    assert "```python\nprint(1)\n```\n\n</details>\n\nMore text." in folded
    assert nbtools.fix_math(nbtools.fold_solutions(folded)) == folded


def test_solution_check_flags_open_or_malformed_details():
    assert nbtools.solution_problems("<details open>\n<summary>Solution</summary>\n\nx\n\n</details>")
    assert nbtools.solution_problems("<details>\n<summary>Solution</summary>\nx\n\n</details>")  # markdown would show raw
    assert nbtools.solution_problems("<details>\n<summary>Solution</summary>\n\nx\n</details>")
    assert nbtools.solution_problems(":::{dropdown} Solution\nx\n:::")
    assert nbtools.solution_problems("```{admonition} Hint\n:class: dropdown\nx\n```") == []  # only solutions


def test_rewrite_changes_only_markdown_cells(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('s = """\ntext\n$$\n"""'),
        nbformat.v4.new_markdown_cell(ADMONITION),
    ])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    assert nbtools.markdown_problems(path)
    assert nbtools.rewrite_markdown(path, lambda t: nbtools.fix_math(nbtools.fold_solutions(t)))
    assert nbtools.markdown_problems(path) == []
    after = nbformat.read(path, as_version=4)
    assert after.cells[0].source == nb.cells[0].source
    assert not nbtools.rewrite_markdown(path, lambda t: nbtools.fix_math(nbtools.fold_solutions(t)))


@pytest.mark.notebooks
def test_chapter_template_follows_the_conventions_and_runs(monkeypatch, data_root):
    """book/_chapter_template.ipynb: clean, its math and solutions right, and it runs with the fast budget."""
    from nbclient import NotebookClient

    template = nbtools.ROOT / "book" / "_chapter_template.ipynb"
    assert nbtools.problems(template) == [] and nbtools.markdown_problems(template) == []
    nb = nbformat.read(template, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "<details>" in text and "panels(" in text and "budget(" in text
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_root))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(template.parent)}}).execute()
    figures = [out for c in nb.cells if c.cell_type == "code" for out in c.outputs if "image/png" in out.get("data", {})]
    assert figures, "the template's figure cell drew nothing"
