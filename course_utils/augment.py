"""Image augmentation on batches of tensors: the reference for chapters 4 and 5.

Every function takes a batch ``(N, C, H, W)`` (or ``(..., H, W)`` where
noted) and returns a new batch of the same shape on the same device, so it can
run inside a training loop on the GPU without a ``DataLoader``.

* :func:`shift`: translate by whole pixels, filling with a constant.
* :func:`affine`: rotate, rescale and translate every image by its own amount.
* :func:`random_affine`: :func:`affine` with amounts drawn uniformly at random.
* :class:`AugmentedBatches`: wrap a loader so that every batch is freshly augmented.

Chapter 5 adds readable from-scratch versions of the operations it teaches, each tested against the
``torchvision.transforms.v2`` operation that does the same job (``tests/test_augment.py``):

* four classic operations on ``uint8`` images (N, C, H, W): :func:`im_enhance` (contrast stretching),
  :func:`posterize`, :func:`rotate_forward` (forward mapping, which leaves holes), :func:`rotate` and
  :func:`random_rotate` (inverse mapping with interpolation), :func:`contrast_hflip` and
  :func:`random_contrast_hflip`;
* batch-level regularisers: :func:`cutout`, :func:`mixup`, :func:`cutmix` (and their ``random_``
  versions, which draw the parameters), :func:`augmix` with :func:`augmix_mix`, and the divergences
  :func:`kl_divergence`, :func:`js_divergence` and :func:`js_consistency_loss`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F

from course_utils.grading import reference


@reference
def shift(images: torch.Tensor, dy: int, dx: int, fill: float = 0.0) -> torch.Tensor:
    """Translate images (..., H, W) down by ``dy`` and right by ``dx`` whole pixels (negative: up/left).

    Pixels shifted out are lost; the uncovered border gets ``fill`` (no wrap-around).
    """
    height, width = images.shape[-2:]
    shifted = torch.full_like(images, fill)
    shifted[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        images[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return shifted


def _per_image(value: float | torch.Tensor, n: int, device: torch.device, shape: tuple[int, ...] = ()) -> torch.Tensor:
    """A number or a tensor of per-image values, as a float tensor (n, *shape) on ``device``."""
    value = torch.as_tensor(value, dtype=torch.float32, device=device)
    if value.dim() == len(shape):  # one value for the whole batch
        return value.expand(n, *shape)
    if value.shape != (n, *shape):
        raise ValueError(f"expected one value or one per image, shape {(n, *shape)}, got {tuple(value.shape)}")
    return value


@reference
def affine(
    images: torch.Tensor,
    degrees: float | torch.Tensor = 0.0,
    scale: float | torch.Tensor = 1.0,
    translate: tuple[float, float] | torch.Tensor = (0.0, 0.0),
    fill: float = 0.0,
) -> torch.Tensor:
    """Rotate by ``degrees`` (counter-clockwise as displayed), rescale by ``scale`` about the centre,
    then move by ``translate`` = (dx, dy) pixels (right, down); bilinear interpolation.

    images: (N, C, H, W). Each of ``degrees`` (N,), ``scale`` (N,) and
    ``translate`` (N, 2) may instead be one value for the whole batch.
    Output pixels whose source lies outside the image get ``fill``.
    """
    if images.dim() != 4:
        raise ValueError(f"affine expects a batch (N, C, H, W), got shape {tuple(images.shape)}")
    n, _, height, width = images.shape
    device = images.device
    angle = -torch.deg2rad(_per_image(degrees, n, device))  # (N,); y points down: counter-clockwise is negative
    zoom = _per_image(scale, n, device)  # (N,)
    move = _per_image(torch.as_tensor(translate, dtype=torch.float32), n, device, (2,))  # (N, 2) in pixels
    move = move * 2 / torch.tensor([width, height], dtype=torch.float32, device=device)  # in [-1, 1] grid units
    # affine_grid maps every output position to the input position it samples: the inverse transform.
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    inverse = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)  # (N, 2, 2)
    offset = -(inverse @ move.unsqueeze(-1)).squeeze(-1)  # (N, 2): undo the move first
    theta = torch.cat([inverse, offset.unsqueeze(-1)], dim=2)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (N, H, W, 2)
    # grid_sample fills with zeros outside: shift the values so that zero means `fill`
    return F.grid_sample(images - fill, grid, mode="bilinear", align_corners=False) + fill


@reference
def random_affine(
    images: torch.Tensor,
    max_degrees: float = 10.0,
    max_scale: float = 0.1,
    max_shift: float = 2.0,
    fill: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """:func:`affine` with a rotation in [-max_degrees, max_degrees], a scale in [1 - max_scale, 1 + max_scale]
    and a shift of up to ``max_shift`` pixels along each axis, drawn independently for every image."""
    n = images.shape[0]

    def uniform(*shape: int) -> torch.Tensor:  # U(-1, 1) on the images' device
        return (torch.rand(*shape, generator=generator) * 2 - 1).to(images.device)

    return affine(images, degrees=uniform(n) * max_degrees, scale=1 + uniform(n) * max_scale,
                  translate=uniform(n, 2) * max_shift, fill=fill)


class AugmentedBatches:
    """Wrap a loader of (images, labels) batches so that every batch passes through ``transform`` afresh.

    A different random draw every epoch: the network never sees exactly the same image twice.
    """

    def __init__(self, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
                 transform: Callable[[torch.Tensor], torch.Tensor] = random_affine) -> None:
        self.loader = loader
        self.transform = transform

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            yield self.transform(images), labels




# ------------------------------------------------------------------ four classic operations (uint8 images)


def _check_uint8(images: torch.Tensor, name: str) -> None:
    if images.dtype != torch.uint8 or images.dim() < 3:
        raise ValueError(f"{name} expects uint8 images (..., C, H, W) with values 0..255, "
                         f"got dtype {images.dtype} and shape {tuple(images.shape)}")


@reference
def im_enhance(images: torch.Tensor) -> torch.Tensor:
    """Contrast stretching: map each channel's [min, max] of every image linearly onto [0, 255] (rounded).

    images: uint8 (..., C, H, W). A channel with a single value is left unchanged.
    """
    _check_uint8(images, "im_enhance")
    x = images.float()
    low = x.amin(dim=(-2, -1), keepdim=True)  # (..., C, 1, 1)
    high = x.amax(dim=(-2, -1), keepdim=True)
    span = high - low
    stretched = (x - low) * 255.0 / span.clamp(min=1.0)
    stretched = torch.where(span > 0, stretched, x)
    return stretched.round().clamp(0, 255).to(torch.uint8)


@reference
def posterize(images: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the ``bits`` most significant bits of every 8-bit value (at most 2**bits levels per channel).

    Bit-masking rounds every value *down* to a multiple of 2**(8 - bits).
    """
    _check_uint8(images, "posterize")
    if not 0 <= int(bits) <= 8:
        raise ValueError(f"bits must be in 0..8, got {bits}")
    mask = (0xFF << (8 - int(bits))) & 0xFF  # e.g. bits=3: 0b11100000
    return images & mask


def _rotation_angles(degrees: float | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
    return torch.deg2rad(_per_image(degrees, n, device)).double()  # (N,)


@reference
def rotate_forward(images: torch.Tensor, degrees: float | torch.Tensor) -> torch.Tensor:
    """Rotate counter-clockwise about the centre by *forward mapping*: send every source pixel to its rounded
    destination. Destinations that no source pixel lands on stay 0: the holes of the naive method.

    images: (N, C, H, W), any dtype; ``degrees`` one value or one per image.
    """
    if images.dim() != 4:
        raise ValueError(f"rotate_forward expects a batch (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, height, width = images.shape
    angle = _rotation_angles(degrees, n, images.device)[:, None, None]  # (N, 1, 1)
    rows, cols = torch.meshgrid(torch.arange(height, device=images.device, dtype=torch.float64),
                                torch.arange(width, device=images.device, dtype=torch.float64), indexing="ij")
    dy, dx = rows - (height - 1) / 2, cols - (width - 1) / 2  # (H, W), y pointing down
    cos, sin = torch.cos(angle), torch.sin(angle)
    # counter-clockwise as displayed: with y pointing down, x' = x cos + y sin, y' = -x sin + y cos
    dest_x = torch.round(dx * cos + dy * sin + (width - 1) / 2).long()  # (N, H, W)
    dest_y = torch.round(-dx * sin + dy * cos + (height - 1) / 2).long()
    inside = (dest_x >= 0) & (dest_x < width) & (dest_y >= 0) & (dest_y < height)
    rotated = torch.zeros_like(images)
    for i in range(n):
        keep = inside[i]
        rotated[i][:, dest_y[i][keep], dest_x[i][keep]] = images[i][:, keep]
    return rotated


@reference
def rotate(images: torch.Tensor, degrees: float | torch.Tensor, interpolation: str = "bilinear",
           fill: float = 0.0) -> torch.Tensor:
    """Rotate counter-clockwise about the centre by *inverse mapping*: every output pixel looks up where it came
    from and interpolates there, so no output pixel is left without a value (no holes).

    images: (N, C, H, W), float or uint8 (rounded back); ``degrees`` one value or one per image;
    ``interpolation`` ``"nearest"`` or ``"bilinear"``. Output pixels whose source lies outside get ``fill``.
    """
    if images.dim() != 4:
        raise ValueError(f"rotate expects a batch (N, C, H, W), got shape {tuple(images.shape)}")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    n, c, height, width = images.shape
    angle = _rotation_angles(degrees, n, images.device)[:, None, None]  # (N, 1, 1)
    rows, cols = torch.meshgrid(torch.arange(height, device=images.device, dtype=torch.float64),
                                torch.arange(width, device=images.device, dtype=torch.float64), indexing="ij")
    dy, dx = rows - (height - 1) / 2, cols - (width - 1) / 2  # output position relative to the centre
    cos, sin = torch.cos(angle), torch.sin(angle)
    # the inverse of the forward map: rotate the output position clockwise to find its source
    src_x = dx * cos - dy * sin + (width - 1) / 2  # (N, H, W)
    src_y = dx * sin + dy * cos + (height - 1) / 2
    values = images.double() - fill  # (N, C, H, W); outside the image counts as `fill`
    batch = torch.arange(n, device=images.device)[:, None, None]

    def gather(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # values at integer (y, x), 0 outside: (N, C, H, W)
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        picked = values[batch, :, y.clamp(0, height - 1), x.clamp(0, width - 1)]  # (N, H, W, C)
        return (picked * inside.unsqueeze(-1)).permute(0, 3, 1, 2)

    if interpolation == "nearest":
        out = gather(torch.round(src_y).long(), torch.round(src_x).long())
    else:
        x0, y0 = torch.floor(src_x), torch.floor(src_y)
        wx, wy = (src_x - x0).unsqueeze(1), (src_y - y0).unsqueeze(1)  # (N, 1, H, W) weights of the far neighbours
        x0, y0 = x0.long(), y0.long()
        out = ((1 - wy) * ((1 - wx) * gather(y0, x0) + wx * gather(y0, x0 + 1))
               + wy * ((1 - wx) * gather(y0 + 1, x0) + wx * gather(y0 + 1, x0 + 1)))
    out = out + fill
    if images.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out.to(images.dtype)


@reference
def random_rotate(images: torch.Tensor, max_degrees: float = 180.0, interpolation: str = "bilinear",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`rotate` every image by its own angle drawn uniformly from [-max_degrees, max_degrees]."""
    degrees = (torch.rand(images.shape[0], generator=generator) * 2 - 1) * max_degrees
    return rotate(images, degrees.to(images.device), interpolation=interpolation)


@reference
def contrast_hflip(images: torch.Tensor, alpha: float | torch.Tensor, flip: bool | torch.Tensor) -> torch.Tensor:
    """Change the contrast about mid-grey, clip(alpha * (x - 128) + 128, 0, 255) rounded, then mirror left-right
    the images where ``flip`` is true. ``alpha`` and ``flip``: one value or one per image.
    """
    _check_uint8(images, "contrast_hflip")
    if images.dim() != 4:
        raise ValueError(f"contrast_hflip expects a batch (N, C, H, W), got shape {tuple(images.shape)}")
    n = images.shape[0]
    alpha = _per_image(alpha, n, images.device).view(n, 1, 1, 1)
    flip = torch.as_tensor(flip, device=images.device).bool().expand(n).view(n, 1, 1, 1)
    contrasted = (alpha * (images.float() - 128.0) + 128.0).round().clamp(0, 255).to(torch.uint8)
    return torch.where(flip, contrasted.flip(-1), contrasted)


@reference
def random_contrast_hflip(images: torch.Tensor, low: float = 0.5, high: float = 2.0, p: float = 0.5,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`contrast_hflip` with alpha ~ U(low, high) and a flip with probability ``p``, for every image."""
    n = images.shape[0]
    alpha = low + (high - low) * torch.rand(n, generator=generator)
    flip = torch.rand(n, generator=generator) < p
    return contrast_hflip(images, alpha.to(images.device), flip.to(images.device))


# ------------------------------------------------------------------ Cutout, Mixup, CutMix


def _box(center: tuple[int, int], half_height: int, half_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Rows y1:y2 and columns x1:x2 of a box around ``center`` (row, column), clipped to the image."""
    cy, cx = int(center[0]), int(center[1])
    return (max(cy - half_height, 0), min(cy + half_height, height), max(cx - half_width, 0), min(cx + half_width, width))


@reference
def cutout(images: torch.Tensor, size: int, centers: torch.Tensor | Sequence[tuple[int, int]] | None = None,
           fill: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cutout (DeVries and Taylor, 2017): set a ``size`` x ``size`` square of every image to ``fill``.

    The square is centred on ``centers[i]`` = (row, column), drawn uniformly over the image when not given; it may
    hang over the border, where it is clipped (so near a border less than size**2 pixels are erased).
    images: (N, C, H, W); returns a new tensor.
    """
    n, _, height, width = images.shape
    if centers is None:
        centers = torch.stack([torch.randint(height, (n,), generator=generator),
                               torch.randint(width, (n,), generator=generator)], dim=1)
    out = images.clone()
    for i in range(n):
        y1, y2, x1, x2 = _box(centers[i], size // 2, size // 2, height, width)
        out[i, :, y1:y2, x1:x2] = fill
    return out


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer labels (N,) as float one-hot rows (N, num_classes); float targets (N, K) pass through."""
    if labels.dim() == 2:
        return labels.float()
    return F.one_hot(labels.long(), num_classes).float()


@reference
def mixup(images: torch.Tensor, targets: torch.Tensor, lam: float, permutation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al., 2018): x = lam x_i + (1 - lam) x_j and y = lam y_i + (1 - lam) y_j, j = permutation[i].

    images: float (N, C, H, W); targets: one-hot or soft (N, K). The partner is *another* image of the batch:
    mixing x_i with itself would leave it unchanged.
    """
    return lam * images + (1 - lam) * images[permutation], lam * targets + (1 - lam) * targets[permutation]


@reference
def random_mixup(images: torch.Tensor, labels: torch.Tensor, num_classes: int, alpha: float = 1.0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mixup` with lam ~ Beta(alpha, alpha) for the batch and a random permutation of partners."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if generator is None else _beta(alpha, generator)
    permutation = torch.randperm(images.shape[0], generator=generator).to(images.device)
    return mixup(images, one_hot(labels, num_classes), lam, permutation)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """One draw of Beta(alpha, alpha) from ``generator``, as the ratio of two Gamma draws."""
    a = torch._standard_gamma(torch.tensor([alpha, alpha], dtype=torch.float64), generator=generator)
    return float(a[0] / a.sum())


@reference
def cutmix(images: torch.Tensor, targets: torch.Tensor, lam: float, permutation: torch.Tensor,
           center: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix (Yun et al., 2019): paste into every image x_i the box of its partner x_j, j = permutation[i].

    The box is centred on ``center`` = (row, column) with half-sides int(0.5 sqrt(1 - lam) H) and
    int(0.5 sqrt(1 - lam) W), clipped to the image. The labels are mixed by the area that was really pasted:
    y = lam' y_i + (1 - lam') y_j with lam' = 1 - (box area) / (H W). Returns (images, targets, lam').
    """
    _, _, height, width = images.shape
    r = 0.5 * math.sqrt(1.0 - lam)
    y1, y2, x1, x2 = _box(center, int(r * height), int(r * width), height, width)
    mixed = images.clone()
    mixed[..., y1:y2, x1:x2] = images[permutation][..., y1:y2, x1:x2]
    kept = 1.0 - (y2 - y1) * (x2 - x1) / (height * width)  # lam corrected for clipping (and rounding)
    return mixed, kept * targets + (1 - kept) * targets[permutation], kept


@reference
def random_cutmix(images: torch.Tensor, labels: torch.Tensor, num_classes: int, alpha: float = 1.0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`cutmix` with lam ~ Beta(alpha, alpha), a uniformly random centre and a random permutation."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if generator is None else _beta(alpha, generator)
    _, _, height, width = images.shape
    center = (int(torch.randint(height, (1,), generator=generator)), int(torch.randint(width, (1,), generator=generator)))
    permutation = torch.randperm(images.shape[0], generator=generator).to(images.device)
    mixed, targets, _ = cutmix(images, one_hot(labels, num_classes), lam, permutation, center)
    return mixed, targets


# ------------------------------------------------------------------ AugMix and the Jensen-Shannon consistency loss


@reference
def augmix_mix(images: torch.Tensor, chains: Sequence[torch.Tensor], chain_weights: torch.Tensor,
               m: torch.Tensor) -> torch.Tensor:
    """AugMix's combination: m x + (1 - m) sum_k w_k chain_k(x), per image.

    images and every chain output: float (N, C, H, W); chain_weights (N, width), each row summing to 1
    (Dirichlet); m (N,) the weight of the original (Beta).
    """
    n = images.shape[0]
    mixed = sum(chain_weights[:, k].view(n, 1, 1, 1) * chain for k, chain in enumerate(chains))
    return m.view(n, 1, 1, 1) * images + (1 - m.view(n, 1, 1, 1)) * mixed


def default_augmix_operations(generator: torch.Generator | None = None) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """AugMix's operations built from this module's uint8 ops: contrast stretching, posterisation (4-7 bits),
    rotation up to 30 degrees and a shift of up to 4 pixels, each with its own random strength."""

    def posterize_some(x: torch.Tensor) -> torch.Tensor:
        return posterize(x, int(torch.randint(4, 8, (1,), generator=generator)))

    def rotate_some(x: torch.Tensor) -> torch.Tensor:
        return random_rotate(x, 30.0, generator=generator)

    def shift_some(x: torch.Tensor) -> torch.Tensor:
        dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=generator))
        return shift(x, dy, dx)

    return [im_enhance, posterize_some, rotate_some, shift_some]


@reference
def augmix(images: torch.Tensor, operations: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
           width: int = 3, depth: int | None = None, alpha: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """AugMix (Hendrycks et al., 2020) on uint8 images (N, C, H, W); returns float images in [0, 1].

    ``width`` chains each apply ``depth`` operations drawn from ``operations`` (1 to 3 when ``depth`` is None);
    the chains are mixed with Dirichlet(alpha) weights and the result with the original by m ~ Beta(alpha, alpha),
    drawn for every image (:func:`augmix_mix`). The operations are shared by the batch, the weights are not.
    """
    _check_uint8(images, "augmix")
    operations = list(operations) if operations is not None else default_augmix_operations(generator)
    n = images.shape[0]
    concentration = torch.full((n, width), float(alpha), dtype=torch.float64)
    gammas = torch._standard_gamma(concentration, generator=generator)  # Dirichlet = normalised Gamma draws
    chain_weights = (gammas / gammas.sum(1, keepdim=True)).float().to(images.device)
    pair = torch._standard_gamma(torch.full((n, 2), float(alpha), dtype=torch.float64), generator=generator)
    m = (pair[:, 0] / pair.sum(1)).float().to(images.device)
    chains = []
    for _ in range(width):
        chain = images
        steps = depth if depth is not None else int(torch.randint(1, 4, (1,), generator=generator))
        for _ in range(steps):
            chain = operations[int(torch.randint(len(operations), (1,), generator=generator))](chain)
        chains.append(chain.float() / 255)
    return augmix_mix(images.float() / 255, chains, chain_weights, m)


@reference
def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_k p_k log(p_k / q_k) along the last axis (terms with p_k = 0 count 0)."""
    ratio = torch.where(p > 0, p / q, torch.ones_like(p))
    return (p * torch.log(ratio)).sum(-1)


@reference
def js_divergence(*distributions: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence of k distributions (along the last axis): the mean of KL(p_i || M), M their mean.

    Symmetric, 0 only when all are equal, at most log k (log 2 for two).
    """
    mixture = sum(distributions) / len(distributions)
    return sum(kl_divergence(p, mixture) for p in distributions) / len(distributions)


@reference
def js_consistency_loss(logits_clean: torch.Tensor, logits_aug1: torch.Tensor, logits_aug2: torch.Tensor) -> torch.Tensor:
    """AugMix's consistency loss: the batch mean of the Jensen-Shannon divergence between the softmax predictions
    for an image and two AugMix versions of it. Logits (N, K); returns a scalar (multiply by lambda, e.g. 12)."""
    probabilities = [torch.softmax(z, dim=1) for z in (logits_clean, logits_aug1, logits_aug2)]
    return js_divergence(*probabilities).mean()


__all__ = [
    "AugmentedBatches", "affine", "augmix", "augmix_mix", "contrast_hflip", "cutmix", "cutout",
    "default_augmix_operations", "im_enhance", "js_consistency_loss", "js_divergence", "kl_divergence", "mixup",
    "one_hot", "posterize", "random_affine", "random_contrast_hflip", "random_cutmix", "random_mixup",
    "random_rotate", "rotate", "rotate_forward", "shift",
]
