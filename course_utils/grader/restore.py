"""Match a submission's cells to the released notebook: which assignment it is, and metadata an editor dropped.

nbgrader finds solution and test cells by their ``metadata.nbgrader`` block. Some
editors drop it; then nbgrader cannot tell a test cell from any other cell and
the student scores nothing. The cells themselves are still there, in order, and
the instructions and tests are unchanged, so we align the submission with the
release (like ``diff`` does with lines) and copy the metadata back.
"""

from __future__ import annotations

import copy
from difflib import SequenceMatcher

import nbformat

NotebookNode = nbformat.NotebookNode


def nbgrader_meta(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata, or an empty dict."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _key(source: str) -> str:
    """Source without trailing blanks, for exact comparison."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _similarity(a: str, b: str) -> float:
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.quick_ratio() < 0.1:
        return 0.0
    return matcher.ratio()


def match_score(nb: NotebookNode, release: NotebookNode) -> float:
    """Fraction of the release's locked cells (instructions, tests) found in ``nb``, by grade id or by source."""
    locked = [c for c in release.cells if nbgrader_meta(c).get("locked") or nbgrader_meta(c).get("grade")]
    locked = [c for c in locked if not nbgrader_meta(c).get("solution")]
    if not locked:
        return 0.0
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells} - {None}
    sources = {_key(c.source) for c in nb.cells}
    by_id = sum(nbgrader_meta(c)["grade_id"] in ids for c in locked) / len(locked)
    by_source = sum(_key(c.source) in sources for c in locked) / len(locked)
    return max(by_id, by_source)


def _pair_block(release_cells: list, sub_cells: list, i0: int, j0: int) -> dict[int, int]:
    """Order-preserving best pairing of release cells that carry metadata with submission cells lacking it."""
    wanted = [i for i, c in enumerate(release_cells) if nbgrader_meta(c)]
    free = [j for j, c in enumerate(sub_cells) if not nbgrader_meta(c)]
    if not wanted or not free:
        return {}
    only_choice = len(wanted) == 1 and len(free) == 1

    def score(i: int, j: int) -> float:
        r, s = release_cells[i], sub_cells[j]
        value = _similarity(_key(r.source), _key(s.source))
        value += 0.25 * (r.cell_type == s.cell_type)
        first = lambda text: _key(text).split("\n", 1)[0]  # noqa: E731
        value += 0.25 * (bool(first(r.source)) and first(r.source) == first(s.source))
        if r.cell_type != s.cell_type and not nbgrader_meta(r).get("solution"):
            return 0.0  # only an answer cell may come back with another type (code turned into markdown)
        return value if (value >= 0.4 or only_choice) else 0.0

    # dynamic programming over (wanted[:a], free[:b]), like a weighted longest common subsequence
    best = [[0.0] * (len(free) + 1) for _ in range(len(wanted) + 1)]
    for a in range(1, len(wanted) + 1):
        for b in range(1, len(free) + 1):
            pair = score(wanted[a - 1], free[b - 1])
            best[a][b] = max(best[a - 1][b], best[a][b - 1], best[a - 1][b - 1] + pair if pair else 0.0)
    pairs: dict[int, int] = {}
    a, b = len(wanted), len(free)
    while a and b:
        pair = score(wanted[a - 1], free[b - 1])
        if pair and best[a][b] == best[a - 1][b - 1] + pair:
            pairs[i0 + wanted[a - 1]] = j0 + free[b - 1]
            a, b = a - 1, b - 1
        elif best[a][b] == best[a - 1][b]:
            a -= 1
        else:
            b -= 1
    return pairs


def restore_metadata(nb: NotebookNode, release: NotebookNode) -> list[str]:
    """Copy nbgrader metadata from ``release`` onto the matching cells of ``nb`` that lost it; return their grade ids."""
    present = {nbgrader_meta(c).get("grade_id") for c in nb.cells} - {None}
    wanted = {nbgrader_meta(c).get("grade_id") for c in release.cells} - {None}
    if wanted <= present:
        return []
    keys_release = [(c.cell_type, _key(c.source)) for c in release.cells]
    keys_sub = [(c.cell_type, _key(c.source)) for c in nb.cells]
    pairs: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, keys_release, keys_sub, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs.update(zip(range(i1, i2), range(j1, j2)))
        elif tag == "replace":
            pairs.update(_pair_block(release.cells[i1:i2], nb.cells[j1:j2], i1, j1))
    restored = []
    for i, j in sorted(pairs.items()):
        meta = nbgrader_meta(release.cells[i])
        if meta and meta.get("grade_id") not in present and not nbgrader_meta(nb.cells[j]):
            nb.cells[j].setdefault("metadata", {})["nbgrader"] = copy.deepcopy(meta)
            present.add(meta["grade_id"])
            restored.append(meta["grade_id"])
    return restored
