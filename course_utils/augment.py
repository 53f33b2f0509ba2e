"""Image augmentation on batches of tensors: the reference for chapters 4 and 5.

Every function takes a batch ``(N, C, H, W)`` (or ``(..., H, W)`` where
noted) and returns a new batch of the same shape on the same device, so it can
run inside a training loop on the GPU without a ``DataLoader``.

* :func:`shift`: translate by whole pixels, filling with a constant.
* :func:`affine`: rotate, rescale and translate every image by its own amount.
* :func:`random_affine`: :func:`affine` with amounts drawn uniformly at random.
* :class:`AugmentedBatches`: wrap a loader so that every batch is freshly augmented.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

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
    angle = torch.deg2rad(_per_image(degrees, n, device))  # (N,)
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


__all__ = ["AugmentedBatches", "affine", "random_affine", "shift"]
