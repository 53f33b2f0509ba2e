"""Checks for assignment a04_augmentation: four classic pixel operations, Cutout, Mixup, CutMix, AugMix and the JS loss.

Every call of the student's code goes through :func:`call_graded`, which runs it under
:func:`course_utils.grading.call_student` with the task's limits. The oracles are torchvision's own
operations where one does the same job (``posterize``, ``horizontal_flip``, ``erase``, ``rotate``), PyTorch's
``torch.rot90`` and ``torch.nn.functional.kl_div``, and the course's references in
:mod:`course_utils.augment` (checked to be the genuine, marked references before use: :func:`_reference`).

Limits
------
``PIXEL_LIMITS`` (parts 1 and 2: ``im_enhance``, ``posterize``, ``rotate``, ``random_rotate``, ``contrast_hflip``,
``cutout``, ``mixup``, ``cutmix``): no ``torchvision`` (its ``transforms.v2`` has every one of these operations),
no PIL, scikit-image, SciPy, OpenCV or kornia, no ``grid_sample``/``affine_grid`` (ready-made inverse mapping with
interpolation), and not the course's ``course_utils.augment``. ``AUGMIX_LIMITS`` (part 3, ``augmix_mix`` and
``augmix``): the same. ``JS_LIMITS`` (part 3, ``js_consistency_loss``): the same, plus no ready-made divergence
(``torch.nn.functional.kl_div``, ``nn.KLDivLoss``, ``torch.distributions.kl_divergence``).

Every graded function must have a readable source (defined in a cell, not by ``exec`` of a string), and ``rotate``,
``cutmix``, ``augmix`` and ``js_consistency_loss`` must not share the reference's structure (names ignored, helpers
included) at ``COPY_THRESHOLD`` or above (:func:`_own_work`).

Promise list (what the instructions promise, and the check that holds the student to it)
----------------------------------------------------------------------------------------
``im_enhance(images)`` (``test_im_enhance``, :func:`check_im_enhance`):

- E1 returns a new uint8 tensor of the input's shape (N, C, H, W); the input is not modified;
- E2 every channel of every image is stretched linearly from its own [min, max] onto [0, 255]: that channel's
  minimum becomes 0 and its maximum 255, the order of values is kept, and each value is the reference's
  round((x - min) * 255 / (max - min)) up to one level (ties may round either way);
- E3 a channel with a single value is returned unchanged; fresh random sizes and value ranges.

``posterize(images, bits)`` (``test_posterize``, :func:`check_posterize`):

- P1 uint8 output of the input's shape, input unchanged; bits from 1 to 8 (8: unchanged);
- P2 bit-masking: equal to torchvision's ``posterize``; so every value is a multiple of 2**(8 - bits), at most
  2**bits levels appear, and 0 <= x - out < 2**(8 - bits) (rounding to the nearest level breaks this).

``rotate(images, degrees)`` and ``random_rotate(images, generator)`` (``test_rotate``, :func:`check_rotate`):

- R1 uint8 output of the input's shape; input unchanged; ``degrees`` a number or a tensor (N,) of per-image angles;
- R2 counter-clockwise as displayed for positive angles, about the centre ((H - 1) / 2, (W - 1) / 2): 0 degrees is
  the identity, multiples of 90 degrees equal ``torch.rot90`` exactly (odd sides);
- R3 inverse mapping with nearest-neighbour interpolation and fill 0: on fresh random images, sizes and angles at
  least 99 % of pixels equal torchvision's ``rotate`` (nearest); no holes: a constant image keeps its value in
  the whole inscribed disc (forward mapping fails this);
- R4 ``random_rotate`` draws the angles as ``torch.rand(N, generator=generator) * 360 - 180`` (one draw, in that
  order) and returns ``rotate(images, angles)``.

``contrast_hflip(images, alpha, flip)`` (``test_contrast_hflip``, :func:`check_contrast_hflip`):

- H1 uint8 output, input unchanged; ``alpha`` and ``flip`` each a number/bool or a tensor (N,) per image;
- H2 the contrast change is clip(round(alpha (x - 128) + 128), 0, 255), then images with ``flip`` true are mirrored
  left-right (the last axis) exactly; with alpha = 1 the output is the input or its exact mirror (torchvision's
  ``horizontal_flip``); others up to one level from the reference, at least 99 % exactly.

``cutout(images, size, centers, fill=0.0)`` (``test_cutout``, :func:`check_cutout`):

- C1 a new tensor of the input's shape and dtype; input unchanged;
- C2 for every image the box rows cy - size // 2 .. cy + size // 2 (end excluded), columns likewise, clipped to
  the image, is set to ``fill`` in every channel and nothing else changes: equal to torchvision's ``erase`` on
  that box; odd and even sizes; centres on and near the border included, where fewer than size**2 pixels are
  erased.

``mixup(images, targets, lam, permutation)`` (``test_mixup``, :func:`check_mixup`):

- M1 returns (mixed images, mixed targets) with lam * x_i + (1 - lam) * x_j and the same for targets, j =
  permutation[i], on fresh random batches, lam and permutations (the partner is another image); inputs unchanged;
- M2 the mixed targets' rows sum to 1.

``cutmix(images, targets, lam, permutation, center)`` (``test_cutmix``, :func:`check_cutmix`):

- X1 returns (images, targets, lam_adjusted); the box has half-sides int(0.5 sqrt(1 - lam) H) and
  int(0.5 sqrt(1 - lam) W) around ``center`` = (row, column), clipped; inside it image i shows image
  permutation[i], outside it is unchanged; inputs unchanged;
- X2 lam_adjusted = 1 - (clipped box area) / (H W), the share of image i that is left, and targets =
  lam_adjusted y_i + (1 - lam_adjusted) y_j; rows sum to 1; centres near the border (clipping) included.

``augmix_mix(images, chains, chain_weights, m)`` and ``augmix(images, operations, width, depth, alpha)``
(``test_augmix``, :func:`check_augmix_mix`, :func:`check_augmix`):

- A1 ``augmix_mix`` returns m x + (1 - m) sum_k w_k chain_k per image, on fresh random float images, chains,
  Dirichlet weights and m;
- A2 ``augmix`` returns float images in [0, 1] of the input's shape (the uint8 input divided by 255 before mixing);
  every one of the ``width`` chains applies exactly ``depth`` operations drawn from ``operations`` (counted);
  with the identity as the only operation the output is images / 255;
- A3 the weight m of the original is drawn per image from Beta(alpha, alpha) and the chain weights (Dirichlet)
  sum to 1: with one operation that makes every pixel 255 and black inputs the output is 1 - m, whose mean and
  variance over 3,000 images must match Beta(alpha, alpha) (alpha drawn from 0.5, 1, 2). That the chain weights
  follow Dirichlet(alpha, ..., alpha) rather than another distribution on the simplex is not checked.

``js_consistency_loss(logits_clean, logits_aug1, logits_aug2)`` (``test_js_consistency_loss``,
:func:`check_js_consistency_loss`):

- J1 a scalar tensor: the batch mean of (KL(p_c || M) + KL(p_1 || M) + KL(p_2 || M)) / 3 with p = softmax of each
  logits row and M = (p_c + p_1 + p_2) / 3, equal to the form built on ``torch.nn.functional.kl_div`` and to the
  reference, on fresh random logits of several scales (large ones included);
- J2 zero for three equal inputs; differentiable: gradients reach all three logits and equal the oracle's.

Part 4 (the experiment) is not autograded; the written answer is graded by hand.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_utils import grading as G

FORBIDDEN_MODULES = ("torchvision", "PIL", "skimage", "scipy", "cv2", "kornia", "course_utils.augment")
PIXEL_RULE = ("Graded code writes the operations itself with tensor operations: no torchvision (transforms.v2 has "
              "every one of them), no PIL, scikit-image, SciPy, OpenCV or kornia, no torch.nn.functional.grid_sample "
              "or affine_grid, and not the course's course_utils.augment.")
JS_EXTRA_RULE = "For the loss, no torch.nn.functional.kl_div, nn.KLDivLoss or torch.distributions.kl_divergence either."


def pixel_limits() -> G.Limits:
    """What parts 1 to 3 may not run (built afresh on every call)."""
    return G.Limits(modules=FORBIDDEN_MODULES,
                    functions=("torch.nn.functional.grid_sample", "torch.nn.functional.affine_grid",
                               "torch.grid_sampler*", "torch.affine_grid_generator"),
                    rule=PIXEL_RULE)


def js_limits() -> G.Limits:
    """What ``js_consistency_loss`` may not run."""
    return pixel_limits() + G.Limits(functions=("torch.nn.functional.kl_div", "torch.kl_div", "torch.nn.KLDivLoss",
                                                "torch.distributions.kl_divergence"),
                                     rule=JS_EXTRA_RULE)


# For readers, the visible tests and the instructors' audit (which reads each only in the answer cells it names);
# hidden tests build the limits afresh.
PIXEL_LIMITS = replace(pixel_limits(), cells=("im_enhance", "posterize", "rotate", "contrast_hflip", "cutout", "mixup", "cutmix"))
AUGMIX_LIMITS = replace(pixel_limits(), cells=("augmix",))
JS_LIMITS = replace(js_limits(), cells=("js_loss",))


def call_graded(func: Callable, *args: Any, limits: Callable[[], G.Limits] = pixel_limits, **kwargs: Any) -> Any:
    """Call the student's code under the grader's guard with this task's limits."""
    return G.call_student(func, *args, limits=limits(), **kwargs)


def _reference(name: str) -> Callable:
    """The course's reference ``course_utils.augment.<name>``, refused if it was replaced in this notebook."""
    from course_utils import augment

    func = getattr(augment, name)
    if not (G.is_reference(func) and getattr(func, "__module__", "") == "course_utils.augment"):
        raise AssertionError(f"course_utils.augment.{name} was replaced in this notebook; restart the kernel and do "
                             "not change the course's modules")
    return func


def _tv():
    """torchvision's functional transforms, used as oracles outside the student's call; cross-checked against the
    course's references on a fixed input, so that a notebook that patched one of them fails instead of passing."""
    from torchvision.transforms.v2 import functional as TF

    images = torch.arange(3 * 5 * 7, dtype=torch.int64).remainder(256).to(torch.uint8).view(1, 3, 5, 7) * 7
    agree = (torch.equal(TF.posterize(images, 3), _reference("posterize")(images, 3))
             and torch.equal(TF.rotate(images, 37.0, interpolation=TF.InterpolationMode.NEAREST),
                             _reference("rotate")(images, 37.0, interpolation="nearest"))
             and torch.equal(TF.horizontal_flip(images), images[..., torch.arange(6, -1, -1)])
             and torch.equal(TF.erase(images[0], 0, 2, 4, 4, torch.tensor(0, dtype=torch.uint8)),
                             _reference("cutout")(images, 4, [(2, 4)])[0])  # rows 0:4, columns 2:6
             and torch.equal(torch.rot90(images, 1, dims=(-2, -1)), images.transpose(-2, -1).flip(-2)))
    if not agree:
        raise AssertionError("a torchvision or PyTorch operation the tests use no longer computes what it should in this "
                             "notebook (was it replaced?); restart the kernel and do not change library functions")
    return TF


def _tensor(value: Any, what: str) -> torch.Tensor:
    G.check_true(type(value) is torch.Tensor,
                 f"{what} should return a plain torch.Tensor, got {type(value).__module__}.{type(value).__name__}")
    return value


def _uint8_result(value: Any, shape: tuple, what: str) -> torch.Tensor:
    value = _tensor(value, what)
    G.check_shape(value, shape, what)
    G.check_true(value.dtype == torch.uint8, f"{what} should return uint8 values 0..255, got dtype {value.dtype}")
    return value


def _random_uint8(rng: np.random.Generator, generator: torch.Generator, n: int, c: int, h: int, w: int) -> torch.Tensor:
    """Images whose channels each have their own random range of values."""
    low = torch.as_tensor(rng.integers(0, 120, size=(n, c, 1, 1)))
    high = low + torch.as_tensor(rng.integers(1, 136, size=(n, c, 1, 1)))
    u = torch.rand(n, c, h, w, generator=generator)
    return (low + u * (high - low + 1)).floor().clamp(max=255).to(torch.uint8)


def _unchanged(tensor: torch.Tensor, before: torch.Tensor, what: str) -> None:
    G.check_true(torch.equal(tensor, before), f"{what} changed its input in place; work on a copy")


# Graded functions compared with the reference's structure (names ignored, helpers included): long enough that an
# honest version differs. Measured on the solution and on wrong solutions written without the reference: at most 0.67;
# the reference pasted with every name changed: 0.83 to 0.95. The short ones (augmix_mix, mixup, the pixel
# operations) are left out: the formula the instructions give is most of their code.
COPY_THRESHOLD = 0.8


def _own_work(student: Callable, name: str) -> None:
    """The student's function has a readable source (no exec of a string) and, for the long ones, is not the reference."""
    G.check_has_source(student, f"your {name}")
    if name in ("rotate", "cutmix", "augmix", "js_consistency_loss"):
        G.check_not_copied(student, _reference(name), f"your {name}", COPY_THRESHOLD)


# ------------------------------------------------------------------ part 1: four classic operations


def check_im_enhance(im_enhance: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """E1-E3 on fresh random sizes and per-channel value ranges."""
    _own_work(im_enhance, "im_enhance")
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, h, w = int(rng.integers(1, 5)), int(rng.integers(3, 17)), int(rng.integers(3, 17))
        images = _random_uint8(rng, generator, n, 3, h, w)
        images[0, int(rng.integers(3))] = int(rng.integers(256))  # one constant channel
        before = images.clone()
        what = f"im_enhance on {n} images of {h}x{w} (case {case + 1})"
        out = _uint8_result(call_graded(im_enhance, images), tuple(images.shape), what)
        _unchanged(images, before, what)
        expected = _reference("im_enhance")(images)
        constant = images.amin(dim=(-2, -1)) == images.amax(dim=(-2, -1))  # (N, C)
        G.check_true(torch.equal(out[constant], images[constant]),
                     f"{what}: a channel with a single value should be returned unchanged")
        lows, highs = out.amin(dim=(-2, -1))[~constant], out.amax(dim=(-2, -1))[~constant]
        G.check_true(bool((lows == 0).all() and (highs == 255).all()),
                     f"{what}: after stretching, every channel's minimum should be 0 and maximum 255, got minima "
                     f"{lows.tolist()[:6]} and maxima {highs.tolist()[:6]} (stretch each channel of each image separately)")
        gap = (out.int() - expected.int()).abs().max().item()
        G.check_true(gap <= 1, f"{what}: a value is {gap} levels away from round((x - min) * 255 / (max - min))")


def check_posterize(posterize: Callable, rng: np.random.Generator, cases: int = 5) -> None:
    """P1-P2 on fresh random images and numbers of bits (torchvision's posterize as the oracle)."""
    _own_work(posterize, "posterize")
    generator = G.torch_generator(rng)
    for case in range(cases):
        bits = int(rng.integers(1, 9)) if case else 8
        n, h, w = int(rng.integers(1, 5)), int(rng.integers(2, 13)), int(rng.integers(2, 13))
        images = torch.randint(0, 256, (n, 3, h, w), generator=generator, dtype=torch.uint8)
        before = images.clone()
        what = f"posterize(images, bits={bits}) on {n} images of {h}x{w} (case {case + 1})"
        out = _uint8_result(call_graded(posterize, images, bits), tuple(images.shape), what)
        _unchanged(images, before, what)
        step = 2 ** (8 - bits)
        lost = (images.int() - out.int()).flatten()
        bad = ((lost < 0) | (lost >= step)).nonzero()
        if len(bad):
            i = int(bad[0])
            G.check_true(False, f"{what}: every value should be rounded *down* to a multiple of {step} by keeping its "
                                f"top {bits} bits; found {int(images.flatten()[i])} -> {int(out.flatten()[i])}")
        G.check_true(out.unique().numel() <= 2**bits, f"{what}: {out.unique().numel()} levels, at most {2 ** bits} allowed")
        G.check_true(torch.equal(out, _tv().posterize(images, bits)), f"{what} differs from bit-masking (torchvision's posterize)")


def _disc(h: int, w: int, margin: float = 1.5) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    radius = min(h, w) / 2 - margin
    return (rows - (h - 1) / 2) ** 2 + (cols - (w - 1) / 2) ** 2 < radius**2


def check_rotate(rotate: Callable, random_rotate: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """R1-R4 on fresh random images, sizes and angles; torchvision's rotate (nearest) and torch.rot90 as oracles."""
    _own_work(rotate, "rotate")
    _own_work(random_rotate, "random_rotate")
    TF = _tv()
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, h, w = int(rng.integers(2, 5)), int(rng.integers(5, 20)), int(rng.integers(5, 20))
        images = torch.randint(0, 256, (n, 3, h, w), generator=generator, dtype=torch.uint8)
        before = images.clone()
        angles = torch.as_tensor(rng.uniform(-180, 180, size=n), dtype=torch.float32)
        what = f"rotate on {n} images of {h}x{w} with angles {[round(a, 1) for a in angles.tolist()]} (case {case + 1})"
        out = _uint8_result(call_graded(rotate, images, angles), tuple(images.shape), what)
        _unchanged(images, before, what)
        expected = torch.stack([TF.rotate(images[i], float(angles[i]), interpolation=TF.InterpolationMode.NEAREST)
                                for i in range(n)])
        share = (out == expected).float().mean().item()
        G.check_true(share >= 0.99, f"{what}: only {share:.1%} of the pixels equal torchvision's rotate with nearest "
                                    "neighbours (counter-clockwise for positive angles, about the centre, fill 0)")
    side = 2 * int(rng.integers(3, 8)) + 1  # odd: the centre is a pixel, quarter turns are exact
    images = torch.randint(0, 256, (3, 3, side, side), generator=generator, dtype=torch.uint8)
    for degrees, turns in ((0.0, 0), (90.0, 1), (180.0, 2), (-90.0, 3)):
        out = _uint8_result(call_graded(rotate, images, degrees), tuple(images.shape), f"rotate(images, {degrees})")
        G.check_true(torch.equal(out, torch.rot90(images, turns, dims=(-2, -1))),
                     f"rotate(images, {degrees}) on {side}x{side} images should equal torch.rot90 by {turns} quarter "
                     "turn(s) counter-clockwise as displayed")
    flat = torch.full((1, 1, 24, 30), 200, dtype=torch.uint8)
    degrees = float(rng.uniform(20, 70))
    out = _uint8_result(call_graded(rotate, flat, degrees), (1, 1, 24, 30), f"rotate of a constant image by {degrees:.1f}")
    holes = int((out[0, 0][_disc(24, 30)] != 200).sum())
    G.check_true(holes == 0, f"rotating a constant image by {degrees:.1f} degrees left {holes} pixels of the central "
                             "disc without the image's value: holes. Map every output pixel back to its source "
                             "(inverse mapping) instead of sending source pixels forward")
    seed = int(rng.integers(2**31))
    images = torch.randint(0, 256, (6, 3, 9, 9), generator=generator, dtype=torch.uint8)
    out = _uint8_result(call_graded(random_rotate, images, torch.Generator().manual_seed(seed)), (6, 3, 9, 9),
                        "random_rotate on 6 images")
    angles = torch.rand(6, generator=torch.Generator().manual_seed(seed)) * 360 - 180
    expected = torch.stack([TF.rotate(images[i], float(angles[i]), interpolation=TF.InterpolationMode.NEAREST) for i in range(6)])
    share = (out == expected).float().mean().item()
    G.check_true(share >= 0.99, f"random_rotate with a generator seeded {seed}: only {share:.1%} of pixels match rotate "
                                "with the angles torch.rand(6, generator=generator) * 360 - 180")


def check_contrast_hflip(contrast_hflip: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """H1-H2 on fresh random images, contrast factors and flip flags; torchvision's horizontal_flip as the oracle."""
    _own_work(contrast_hflip, "contrast_hflip")
    TF = _tv()
    reference = _reference("contrast_hflip")
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, h, w = int(rng.integers(2, 6)), int(rng.integers(2, 12)), int(rng.integers(2, 12))
        images = torch.randint(0, 256, (n, 3, h, w), generator=generator, dtype=torch.uint8)
        before = images.clone()
        flips = torch.as_tensor(rng.random(n) < 0.5)
        flips[0], flips[-1] = True, False
        what = f"contrast_hflip on {n} images of {h}x{w}, flip {flips.tolist()} (case {case + 1})"
        out = _uint8_result(call_graded(contrast_hflip, images, 1.0, flips), tuple(images.shape), what + " with alpha=1")
        _unchanged(images, before, what)
        for i in range(n):
            expected = TF.horizontal_flip(images[i]) if flips[i] else images[i]
            G.check_true(torch.equal(out[i], expected), f"{what} with alpha=1: image {i} should be "
                                                        f"{'mirrored left-right exactly' if flips[i] else 'unchanged'}")
        alphas = torch.as_tensor(rng.uniform(0.5, 2.0, size=n), dtype=torch.float32)
        out = _uint8_result(call_graded(contrast_hflip, images, alphas, flips), tuple(images.shape), what)
        expected = reference(images, alphas, flips)
        gap = (out.int() - expected.int()).abs()
        G.check_true(gap.max().item() <= 1 and (gap == 0).float().mean().item() >= 0.99,
                     f"{what} with alphas {[round(a, 2) for a in alphas.tolist()]}: values differ from "
                     "clip(round(alpha * (x - 128) + 128), 0, 255) followed by the flip (first difference: "
                     f"{int(expected.flatten()[gap.flatten().argmax()])} expected, {int(out.flatten()[gap.flatten().argmax()])} found)")


# ------------------------------------------------------------------ part 2: Cutout, Mixup, CutMix


def check_cutout(cutout: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """C1-C2 with torchvision's ``erase`` on the clipped box as the oracle."""
    _own_work(cutout, "cutout")
    TF = _tv()
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, h, w = int(rng.integers(2, 6)), int(rng.integers(6, 20)), int(rng.integers(6, 20))
        size = int(rng.integers(2, min(h, w)))
        if case < 2 and size % 2 != (case == 0):  # an odd size in case 1 and an even one in case 2: size // 2 differs
            size = size + 1 if size + 1 < min(h, w) else size - 1
        images = torch.rand(n, 3, h, w, generator=generator)
        before = images.clone()
        centers = [(int(rng.integers(h)), int(rng.integers(w))) for _ in range(n)]
        centers[0] = (0, w - 1)  # a corner: the box is clipped
        fill = float(rng.choice([0.0, 0.5, -1.0]))
        what = f"cutout(images of {h}x{w}, size={size}, centers={centers}, fill={fill}) (case {case + 1})"
        out = _tensor(call_graded(cutout, images, size, centers, fill), what)
        G.check_shape(out, tuple(images.shape), what)
        _unchanged(images, before, what)
        for i, (cy, cx) in enumerate(centers):
            y1, y2 = max(cy - size // 2, 0), min(cy + size // 2, h)
            x1, x2 = max(cx - size // 2, 0), min(cx + size // 2, w)
            expected = TF.erase(images[i], y1, x1, y2 - y1, x2 - x1, torch.tensor(fill))
            G.check_true(torch.equal(out[i], expected),
                         f"{what}: image {i} should have rows {y1}:{y2} and columns {x1}:{x2} set to {fill} in every "
                         f"channel (the box clipped to the image) and nothing else changed; "
                         f"{int((out[i] != expected).sum())} values differ")


def _derangement(rng: np.random.Generator, n: int) -> torch.Tensor:
    """A permutation with no fixed point: every image gets a partner other than itself."""
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return torch.as_tensor(perm)


def _pair(value: Any, what: str, length: int = 2) -> tuple:
    G.check_true(isinstance(value, (tuple, list)) and len(value) == length,
                 f"{what} should return a tuple of {length} values, got {type(value).__name__}")
    return tuple(value)


def check_mixup(mixup: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """M1-M2 on fresh random batches, lambdas and partner permutations."""
    _own_work(mixup, "mixup")
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, k = int(rng.integers(2, 7)), int(rng.integers(2, 6))
        images = torch.rand(n, 3, 5, 6, generator=generator)
        targets = F.one_hot(torch.randint(k, (n,), generator=generator), k).float()
        saved = images.clone(), targets.clone()
        lam, perm = float(rng.uniform(0.05, 0.95)), _derangement(rng, n)
        what = f"mixup with lam={lam:.3f} and permutation {perm.tolist()} (case {case + 1})"
        x, y = _pair(call_graded(mixup, images, targets, lam, perm), what)
        _unchanged(images, saved[0], what)
        _unchanged(targets, saved[1], what)
        G.check_close(_tensor(x, what), lam * images + (1 - lam) * images[perm],
                      f"the images of {what}: lam * x_i + (1 - lam) * x_j with j = permutation[i]", rtol=1e-5, atol=1e-6)
        G.check_close(_tensor(y, what), lam * targets + (1 - lam) * targets[perm],
                      f"the targets of {what}: lam * y_i + (1 - lam) * y_j", rtol=1e-5, atol=1e-6)
        G.check_close(y.sum(1), torch.ones(n), f"the row sums of the mixed targets of {what}", rtol=1e-5, atol=1e-6)


def check_cutmix(cutmix: Callable, rng: np.random.Generator, cases: int = 6) -> None:
    """X1-X2 on fresh random batches, lambdas, centres (border ones included) and permutations."""
    reference = _reference("cutmix")
    _own_work(cutmix, "cutmix")
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, k = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        h, w = int(rng.integers(8, 25)), int(rng.integers(8, 25))
        images = torch.rand(n, 3, h, w, generator=generator) + torch.arange(n).view(n, 1, 1, 1)  # every image its own range
        targets = F.one_hot(torch.randint(k, (n,), generator=generator), k).float()
        saved = images.clone(), targets.clone()
        lam, perm = float(rng.uniform(0.05, 0.95)), _derangement(rng, n)
        center = (int(rng.integers(h)), int(rng.integers(w))) if case % 2 else (int(rng.integers(2)), int(rng.integers(w)))
        what = f"cutmix on {h}x{w} images with lam={lam:.3f}, center={center}, permutation {perm.tolist()} (case {case + 1})"
        x, y, kept = _pair(call_graded(cutmix, images, targets, lam, perm, center), what, 3)
        _unchanged(images, saved[0], what)
        _unchanged(targets, saved[1], what)
        x_ref, y_ref, kept_ref = reference(images, targets, lam, perm, center)
        G.check_true(torch.equal(_tensor(x, what), x_ref),
                     f"the images of {what}: {int((x != x_ref).any(1).sum())} pixel positions differ from pasting "
                     "image permutation[i]'s box (half-sides int(0.5 * sqrt(1 - lam) * H) and ... * W, clipped) into image i")
        from_partner = (x[0] != images[0]).any(0).float().mean().item()  # images differ everywhere by construction
        G.check_close(float(kept), 1 - from_partner, f"lam_adjusted of {what}: the share of image 0 that is still image 0 "
                      "(1 - clipped box area / (H W)), not the lam you were given", rtol=0, atol=1e-6)
        G.check_close(float(kept), kept_ref, f"lam_adjusted of {what}", rtol=0, atol=1e-6)
        G.check_close(_tensor(y, what), y_ref, f"the targets of {what}: lam_adjusted * y_i + (1 - lam_adjusted) * y_j",
                      rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ part 3: AugMix and the JS loss


def check_augmix_mix(augmix_mix: Callable, rng: np.random.Generator, cases: int = 3) -> None:
    """A1 on fresh random images, chains, Dirichlet weights and m."""
    _own_work(augmix_mix, "augmix_mix")
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, width = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        images = torch.rand(n, 3, 4, 5, generator=generator)
        chains = [torch.rand(n, 3, 4, 5, generator=generator) for _ in range(width)]
        weights = torch.as_tensor(rng.dirichlet(np.ones(width), size=n), dtype=torch.float32)
        m = torch.as_tensor(rng.beta(1.0, 1.0, size=n), dtype=torch.float32)
        what = f"augmix_mix of {n} images with {width} chains (case {case + 1})"
        out = _tensor(call_graded(augmix_mix, images, chains, weights, m), what)
        expected = sum(weights[:, j].view(n, 1, 1, 1) * chains[j] for j in range(width))
        expected = m.view(n, 1, 1, 1) * images + (1 - m.view(n, 1, 1, 1)) * expected
        G.check_close(out, expected, f"{what}: m * x + (1 - m) * sum_k w_k * chain_k, per image", rtol=1e-5, atol=1e-6)


def check_augmix(augmix: Callable, rng: np.random.Generator) -> None:
    """A2-A3: output range and shape, the number of operations per chain, identity, and the Beta/Dirichlet weights."""
    _own_work(augmix, "augmix")
    torch.manual_seed(int(rng.integers(2**31)))
    width, depth = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    images = torch.randint(0, 256, (4, 3, 6, 6), dtype=torch.uint8)
    calls = []

    def counted(x):
        calls.append(1)
        return x

    what = f"augmix(images, operations, width={width}, depth={depth})"
    out = _tensor(call_graded(augmix, images, [counted], width, depth), what)
    G.check_shape(out, tuple(images.shape), what)
    G.check_true(out.is_floating_point(), f"{what} should return float images in [0, 1], got {out.dtype}")
    G.check_true(len(calls) == width * depth, f"{what} applied {len(calls)} operations; {width} chains of {depth} "
                                              f"operations each make {width * depth}")
    G.check_close(out, images.float() / 255, f"{what} with the identity as the only operation: images / 255",
                  rtol=1e-5, atol=1e-6)
    alpha = float(rng.choice([0.5, 1.0, 2.0]))
    black = torch.zeros(3000, 1, 1, 1, dtype=torch.uint8)
    what = f"augmix on 3,000 black images with one operation that makes every pixel 255, alpha={alpha}"
    out = _tensor(call_graded(augmix, black, [lambda x: torch.full_like(x, 255)], 3, 1, alpha), what)
    G.check_shape(out, (3000, 1, 1, 1), what)
    one_minus_m = out.double().view(-1)
    mean, var = one_minus_m.mean().item(), one_minus_m.var().item()
    expected_var = 1 / (4 * (2 * alpha + 1))  # Beta(alpha, alpha)
    G.check_true(abs(mean - 0.5) < 0.03 and abs(var - expected_var) < 0.25 * expected_var + 0.005,
                 f"{what}: the output is 1 - m; its mean {mean:.3f} and variance {var:.4f} should be those of "
                 f"Beta({alpha}, {alpha}), 0.5 and {expected_var:.4f}: draw m for every image from Beta(alpha, alpha) "
                 "and make the chain weights sum to 1")


@G.reference  # an expected answer: graded code may not call it
def _oracle_js(logits: list[torch.Tensor]) -> torch.Tensor:
    """The loss built on ``torch.nn.functional.kl_div``, checked against the reference."""
    probabilities = [torch.softmax(z, dim=1) for z in logits]
    log_mixture = torch.log(sum(probabilities) / 3)
    loss = sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probabilities) / 3
    reference = _reference("js_consistency_loss")(*[z.detach() for z in logits])
    if not torch.allclose(loss.detach(), reference, rtol=1e-4, atol=1e-6):
        raise AssertionError("torch.nn.functional.kl_div or softmax no longer compute what they should in this notebook "
                             "(were they replaced?); restart the kernel")
    return loss


def check_js_consistency_loss(js_consistency_loss: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """J1-J2 on fresh random logits of several scales."""
    _own_work(js_consistency_loss, "js_consistency_loss")
    generator = G.torch_generator(rng)
    for case in range(cases):
        n, k = int(rng.integers(1, 9)), int(rng.integers(2, 11))
        scale = float(rng.choice([0.5, 3.0, 20.0]))
        logits = [(scale * torch.randn(n, k, generator=generator, dtype=torch.float64)).requires_grad_() for _ in range(3)]
        what = f"js_consistency_loss on logits of shape ({n}, {k}) with scale {scale} (case {case + 1})"
        loss = _tensor(call_graded(js_consistency_loss, *logits, limits=js_limits), what)
        G.check_true(loss.dim() == 0, f"{what} should return a scalar (0-d tensor), got shape {tuple(loss.shape)}")
        expected = _oracle_js(logits)
        G.check_close(loss, expected, f"{what} against mean_i (KL(p_c||M) + KL(p_1||M) + KL(p_2||M)) / 3, M the mean of "
                      "the three probability vectors", rtol=1e-4, atol=1e-7)
        G.check_true(loss.requires_grad, f"{what}: no gradient flows through the loss (is something detached?)")
        mine = G.call_student(torch.autograd.grad, loss, logits, allow_unused=True)
        theirs = torch.autograd.grad(expected, logits)
        for j, (g_mine, g_theirs) in enumerate(zip(mine, theirs)):
            G.check_true(g_mine is not None, f"no gradient reaches logits argument {j + 1} of {what}")
            G.check_close(g_mine, g_theirs, f"the gradient with respect to logits argument {j + 1} of {what}",
                          rtol=1e-4, atol=1e-7)
    same = torch.randn(3, 5, generator=generator)
    zero = _tensor(call_graded(js_consistency_loss, same, same.clone(), same.clone(), limits=js_limits),
                   "js_consistency_loss of three equal logits")
    G.check_close(float(zero), 0.0, "js_consistency_loss of three equal logits (equal distributions: 0)", rtol=0, atol=1e-6)


__all__ = [
    "AUGMIX_LIMITS", "JS_LIMITS", "PIXEL_LIMITS", "call_graded", "check_augmix", "check_augmix_mix",
    "check_contrast_hflip", "check_cutmix", "check_cutout", "check_im_enhance", "check_js_consistency_loss",
    "check_mixup", "check_posterize", "check_rotate", "js_limits", "pixel_limits",
]
