"""course_utils.checks.a04_augmentation: the solution passes, every mutant and further wrong answers fail."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_utils import grading as G
from course_utils.checks import a04_augmentation as C
from nbtools import exec_as_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "a04_augmentation" / "a04_augmentation.ipynb"
MUTANTS = ROOT / "tests" / "mutants" / "a04_augmentation"
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
SECTION = re.compile(r"^# %% grade_id=(\S+)\s*$", re.M)
GRADED = ("im_enhance", "posterize", "rotate", "contrast_hflip", "cutout", "mixup", "cutmix", "augmix", "js_loss")

torch.set_num_threads(1)


def solution_cells() -> dict[str, str]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in GRADED:
            cells[grade_id] = "\n".join(l for l in cell.source.splitlines() if not MARKERS.match(l))
    return cells


def namespace(overrides: dict[str, str] | None = None) -> dict:
    cells = {**solution_cells(), **(overrides or {})}
    ns = {"torch": torch, "math": math, "np": np, "__name__": "__main__"}
    for grade_id in GRADED:
        exec_as_cell(cells[grade_id], ns, grade_id)
    return ns


def run_check(task: str, ns: dict, seed: int = 0) -> None:
    rng = G.fresh_rng(task, seed)
    if task == "im_enhance":
        C.check_im_enhance(ns["im_enhance"], rng)
    elif task == "posterize":
        C.check_posterize(ns["posterize"], rng)
    elif task == "rotate":
        C.check_rotate(ns["rotate"], ns["random_rotate"], rng)
    elif task == "contrast_hflip":
        C.check_contrast_hflip(ns["contrast_hflip"], rng)
    elif task == "cutout":
        C.check_cutout(ns["cutout"], rng)
    elif task == "mixup":
        C.check_mixup(ns["mixup"], rng)
    elif task == "cutmix":
        C.check_cutmix(ns["cutmix"], rng)
    elif task == "augmix":
        C.check_augmix_mix(ns["augmix_mix"], rng)
        C.check_augmix(ns["augmix"], G.fresh_rng(task, seed + 1))
    elif task == "js_loss":
        C.check_js_consistency_loss(ns["js_consistency_loss"], rng)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("task", GRADED)
def test_solution_passes(task, seed):
    run_check(task, namespace(), seed)


def mutant_cells(path: Path) -> dict[str, str]:
    parts = SECTION.split(path.read_text())
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.mark.parametrize("path", sorted(MUTANTS.glob("*.py")), ids=lambda p: p.stem)
def test_every_mutant_fails_a_check_of_a_cell_it_replaces(path):
    cells = mutant_cells(path)
    if "caught by the review" in path.read_text().splitlines()[0]:
        # it runs the reference when its cell runs, where no run-time check looks: the audit must name the forbidden
        # import in that cell, so that the review regrade takes it out (tests/test_assignments.py expects the flag)
        from course_utils.grader.audit import findings

        release = nbformat.read(ROOT / "assignments" / "a04_augmentation" / "a04_augmentation.ipynb", as_version=4)
        submitted = nbformat.read(ROOT / "assignments" / "a04_augmentation" / "a04_augmentation.ipynb", as_version=4)
        for cell in submitted.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in cells:
                cell.source = cells[grade_id]
        found = findings(submitted, release, "a04_augmentation")
        assert any(f.kind == "limits" and f.cell in cells for f in found), [str(f) for f in found]
        return
    ns = namespace(cells)
    failures = []
    for task in cells:
        try:
            run_check(task, ns)
        except AssertionError as err:
            failures.append(str(err))
    assert failures, f"{path.stem} passes every check of the cells it replaces"


WRONG = {
    "rotate_clockwise": ("rotate", """
def rotate(images, degrees):
    n, c, h, w = images.shape
    theta = -torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float64).expand(n)).view(n, 1, 1)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dx, dy = xs - cx, ys - cy
    src_x = torch.round(cx + dx * torch.cos(theta) - dy * torch.sin(theta)).long()
    src_y = torch.round(cy + dx * torch.sin(theta) + dy * torch.cos(theta)).long()
    inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    out = torch.zeros_like(images)
    for i in range(n):
        out[i][:, inside[i]] = images[i][:, src_y[i][inside[i]], src_x[i][inside[i]]]
    return out


def random_rotate(images, generator=None):
    return rotate(images, torch.rand(images.shape[0], generator=generator) * 360 - 180)
"""),
    "random_rotate_half_range": ("rotate", None),  # filled below: the solution's rotate with angles in [-90, 90]
    "cutmix_box_without_sqrt": ("cutmix", """
def cutmix(images, targets, lam, permutation, center):
    n, c, h, w = images.shape
    half_h, half_w = int(0.5 * (1 - lam) * h), int(0.5 * (1 - lam) * w)
    cy, cx = center
    top, bottom = max(cy - half_h, 0), min(cy + half_h, h)
    left, right = max(cx - half_w, 0), min(cx + half_w, w)
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[permutation, :, top:bottom, left:right]
    kept = 1 - (bottom - top) * (right - left) / (h * w)
    return mixed, kept * targets + (1 - kept) * targets[permutation], kept
"""),
    "cutmix_labels_swapped": ("cutmix", """
def cutmix(images, targets, lam, permutation, center):
    n, c, h, w = images.shape
    half_h, half_w = int(0.5 * math.sqrt(1 - lam) * h), int(0.5 * math.sqrt(1 - lam) * w)
    cy, cx = center
    top, bottom = max(cy - half_h, 0), min(cy + half_h, h)
    left, right = max(cx - half_w, 0), min(cx + half_w, w)
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[permutation, :, top:bottom, left:right]
    kept = 1 - (bottom - top) * (right - left) / (h * w)
    return mixed, (1 - kept) * targets + kept * targets[permutation], kept
"""),
    "mixup_labels_not_mixed": ("mixup", """
def mixup(images, targets, lam, permutation):
    return lam * images + (1 - lam) * images[permutation], targets
"""),
    "mixup_modifies_input": ("mixup", """
def mixup(images, targets, lam, permutation):
    partner = images[permutation]
    images.mul_(lam).add_((1 - lam) * partner)
    return images, lam * targets + (1 - lam) * targets[permutation]
"""),
    "posterize_bits_off_by_one": ("posterize", """
def posterize(images, bits):
    return images & (256 - 2 ** (7 - bits))
"""),
    "im_enhance_truncates_and_skips_constant": ("im_enhance", """
def im_enhance(images):
    x = images.float()
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    return ((x - low) / (high - low + 1e-6) * 255).to(torch.uint8)
"""),
    "contrast_hflip_flips_vertically": ("contrast_hflip", """
def contrast_hflip(images, alpha, flip):
    n = images.shape[0]
    alpha = torch.as_tensor(alpha, dtype=torch.float32).expand(n).view(n, 1, 1, 1)
    flip = torch.as_tensor(flip, dtype=torch.bool).expand(n)
    out = (alpha * (images.float() - 128) + 128).round().clamp(0, 255).to(torch.uint8)
    out[flip] = out[flip].flip(-2)
    return out
"""),
    "cutout_one_pixel_short": ("cutout", """
def cutout(images, size, centers, fill=0.0):
    out = images.clone()
    h, w = images.shape[-2:]
    for i, (cy, cx) in enumerate(centers):
        out[i, :, max(cy - size // 2, 0):min(cy + size // 2 - 1, h), max(cx - size // 2, 0):min(cx + size // 2 - 1, w)] = fill
    return out
"""),
    "augmix_wrong_depth": ("augmix", None),  # filled below
    "augmix_m_on_the_chains": ("augmix", None),  # filled below
    "js_without_the_third": ("js_loss", """
def js_consistency_loss(logits_clean, logits_aug1, logits_aug2):
    logits = (logits_clean, logits_aug1, logits_aug2)
    probabilities = [torch.softmax(z, dim=1) for z in logits]
    log_mixture = torch.log((probabilities[0] + probabilities[1] + probabilities[2]) / 3)
    return sum((p * (torch.log_softmax(z, dim=1) - log_mixture)).sum(dim=1) for p, z in zip(probabilities, logits)).mean()
"""),
    "js_two_way_only": ("js_loss", """
def js_consistency_loss(logits_clean, logits_aug1, logits_aug2):
    p, q = torch.softmax(logits_clean, dim=1), torch.softmax(logits_aug1, dim=1)
    m = (p + q) / 2
    return (0.5 * (p * (p.log() - m.log())).sum(1) + 0.5 * (q * (q.log() - m.log())).sum(1)).mean()
"""),
    "js_detached": ("js_loss", """
def js_consistency_loss(logits_clean, logits_aug1, logits_aug2):
    logits = [z.detach() for z in (logits_clean, logits_aug1, logits_aug2)]
    probabilities = [torch.softmax(z, dim=1) for z in logits]
    log_mixture = torch.log(sum(probabilities) / 3)
    return (sum((p * (torch.log_softmax(z, dim=1) - log_mixture)).sum(1) for p, z in zip(probabilities, logits)) / 3).mean()
"""),
}


def _variant(grade_id: str, old: str, new: str) -> str:
    source = solution_cells()[grade_id]
    assert old in source, f"{old!r} is not in the solution's {grade_id} cell"
    return source.replace(old, new)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_further_wrong_answers_fail(name):
    task, source = WRONG[name]
    if name == "random_rotate_half_range":
        source = _variant("rotate", "* 360 - 180", "* 180 - 90")
    elif name == "augmix_wrong_depth":
        source = _variant("augmix", "for _ in range(depth):", "for _ in range(depth + 1):")
    elif name == "augmix_m_on_the_chains":
        source = _variant("augmix", "return m.view(n, 1, 1, 1) * images + (1 - m.view(n, 1, 1, 1)) * mixed",
                          "return (1 - m.view(n, 1, 1, 1)) * images + m.view(n, 1, 1, 1) * mixed")
    with pytest.raises(AssertionError):
        run_check(task, namespace({task: source}))


def test_forbidden_operations_are_refused():
    from torchvision.transforms.v2 import functional as TF

    images = torch.randint(0, 256, (2, 3, 6, 6), dtype=torch.uint8)
    with pytest.raises(AssertionError, match="torchvision"):
        G.call_student(lambda x: TF.posterize(x, 3), images, limits=C.pixel_limits())
    with pytest.raises(AssertionError, match="grid_sample"):
        G.call_student(lambda x: torch.nn.functional.grid_sample(x.float(), torch.zeros(2, 6, 6, 2), align_corners=False),
                       images, limits=C.pixel_limits())
    with pytest.raises(AssertionError, match="kl_div"):
        G.call_student(lambda p: torch.nn.functional.kl_div(p.log(), p, reduction="batchmean"), torch.full((2, 3), 1 / 3),
                       limits=C.js_limits())
    p = torch.distributions.Categorical(probs=torch.tensor([0.5, 0.5]))
    with pytest.raises(AssertionError, match="kl_divergence"):
        G.call_student(torch.distributions.kl_divergence, p, p, limits=C.js_limits())


def test_a_replaced_reference_is_refused(monkeypatch):
    from course_utils import augment

    monkeypatch.setattr(augment, "cutmix", lambda *a: a)
    with pytest.raises(AssertionError, match="was replaced"):
        run_check("cutmix", namespace())


def test_a_patched_torchvision_oracle_is_refused(monkeypatch):
    import torchvision.transforms.v2.functional as TF

    monkeypatch.setattr(TF, "posterize", lambda images, bits: images)
    with pytest.raises(AssertionError, match="no longer computes"):
        run_check("posterize", namespace({"posterize": "def posterize(images, bits):\n    return images\n"}))


def test_a_tensor_subclass_that_always_compares_equal_is_refused():
    class Agreeable(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.equal, torch.Tensor.__eq__):
                return True
            return super().__torch_function__(func, types, args, kwargs or {})

    ns = namespace({"posterize": "def posterize(images, bits):\n    return images.as_subclass(Agreeable)\n"})
    ns["Agreeable"] = Agreeable  # what the cell that defined it would have left in the notebook's namespace
    with pytest.raises(AssertionError, match="plain torch.Tensor"):
        run_check("posterize", ns)
