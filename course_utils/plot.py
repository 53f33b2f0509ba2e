"""Figures the chapters share: decision boundaries, learning curves, image grids, confusion matrices.

Every function draws on a matplotlib ``Axes`` (a new one when ``ax`` is None)
and returns it, so notebooks can combine them into larger figures.

Figure size convention: a figure is at most :data:`MAX_WIDTH` (10) inches
wide. The website shows a 10-inch figure at about three quarters of its size
in its text column, and JupyterLab and Colab at its own size, so labels stay
readable; a wider figure is shrunk until they are not. Several panels go
side by side only as far as they fit and wrap into rows after that:
:func:`panels` makes such a figure.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

MAX_WIDTH = 10.0  # inches, at matplotlib's 100 dpi: 1000 pixels
PANEL_SIZE = (4.8, 3.6)  # inches: one panel with a title, axis labels and a legend


def panels(
    n: int = 1,
    ncols: int | None = None,
    panel_size: tuple[float, float] = PANEL_SIZE,
    **subplots_kw,
) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``n`` panels in rows, at most :data:`MAX_WIDTH` inches wide; return it and its ``n`` axes.

    ``ncols`` panels go side by side (by default as many as fit into
    :data:`MAX_WIDTH` at ``panel_size``); when more are asked for than fit,
    every panel is scaled down to keep the width. The axes come back as a flat
    array in reading order (``axes[0]``, ``axes[1]``, ...); grid cells past
    ``n`` are removed. Extra keywords go to :func:`matplotlib.pyplot.subplots`
    (``sharex``, ``width_ratios``...); the layout is "constrained" unless given.
    """
    if n < 1:
        raise ValueError(f"a figure needs at least one panel, got n={n}")
    width, height = panel_size
    ncols = min(n, ncols or max(1, int(MAX_WIDTH // width)))
    nrows = math.ceil(n / ncols)
    scale = min(1.0, MAX_WIDTH / (ncols * width))
    subplots_kw.setdefault("layout", "constrained")
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * width * scale, nrows * height * scale), squeeze=False,
                             **subplots_kw)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, axes.ravel()[:n]


def _axes(ax: plt.Axes | None, figsize: tuple[float, float] = (5, 4)) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    ax: plt.Axes | None = None,
    title: str = "Decision boundary",
    resolution: int = 200,
    margin: float = 0.5,
) -> plt.Axes:
    """Colour the plane by ``predict`` (points (M, 2) -> labels (M,)) and scatter the data on top."""
    X = np.asarray(X)
    y = np.asarray(y)
    ax = _axes(ax)
    x_min, x_max = X[:, 0].min() - margin, X[:, 0].max() + margin
    y_min, y_max = X[:, 1].min() - margin, X[:, 1].max() + margin
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(X.dtype)  # (resolution**2, 2)
    zz = np.asarray(predict(grid)).reshape(xx.shape)
    n_classes = int(max(y.max(), zz.max())) + 1
    levels = np.arange(n_classes + 1) - 0.5
    ax.contourf(xx, yy, zz, levels=levels, cmap="coolwarm" if n_classes == 2 else "viridis", alpha=0.35)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm" if n_classes == 2 else "viridis", s=12, edgecolors="k", linewidths=0.3)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", xlim=(x_min, x_max), ylim=(y_min, y_max))
    return ax


def plot_learning_curves(
    history: Mapping[str, Sequence[float]],
    metrics: Sequence[str] = ("loss", "accuracy"),
    axes: Sequence[plt.Axes] | None = None,
    title: str = "",
    split_names: Mapping[str, str] | None = None,
) -> Sequence[plt.Axes]:
    """One panel per metric with its ``train_*`` and ``val_*`` curves against the epoch.

    ``split_names`` renames the legend entries, e.g. ``{"val": "validation"}``.
    """
    names = {"train": "train", "val": "val", **(split_names or {})}
    if axes is None:
        _, axes = panels(len(metrics), panel_size=(PANEL_SIZE[0], 3.5))
    for ax, metric in zip(axes, metrics):
        for split in ("train", "val"):
            values = history.get(f"{split}_{metric}") or (history.get(metric) if split == "train" else None)
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=names[split])
        ax.set(xlabel="epoch", ylabel=metric, title=f"{title} {metric}".strip())
        ax.grid(alpha=0.3)
        ax.legend()
    return axes


def show_image_grid(
    images,
    labels: Sequence | None = None,
    ncols: int = 8,
    title: str = "",
    cmap: str = "gray",
    scale: float = 1.2,
) -> plt.Figure:
    """Show images (N, H, W), (N, 1, H, W) or (N, 3, H, W) in a grid with optional labels.

    Each image is ``scale`` inches wide, less when ``ncols`` of them would exceed :data:`MAX_WIDTH`.
    """
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)  # to (N, H, W[, 3])
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    scale = min(scale, MAX_WIDTH / ncols)
    texts = [str(label) for label in labels] if labels is not None else []
    lines = max((t.count("\n") + 1 for t in texts), default=0)
    widest = max((len(line) for t in texts for line in t.split("\n")), default=0)
    # a label no wider than its image: a character of DejaVu Sans is at most about 0.62 of the font size
    fontsize = min(9.0, 72 * 0.95 * scale / (0.62 * widest)) if widest else 9.0
    # per row: tight_layout alone lets labels overlap the row above
    label_room = (0.1 + 0.2 * lines * fontsize / 9) if labels is not None else 0.0
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(scale * ncols, (scale + label_room) * nrows + (0.4 if title else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            image = images[i]
            if image.ndim == 3:  # colour: rescale into [0, 1] for imshow
                image = (image - image.min()) / max(float(image.max() - image.min()), 1e-8)
            ax.imshow(image, cmap=cmap if image.ndim == 2 else None)
            if labels is not None:
                ax.set_title(texts[i], fontsize=fontsize)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    y_true,
    y_pred,
    class_names: Sequence | None = None,
    ax: plt.Axes | None = None,
    title: str = "Confusion matrix",
    normalize: bool = False,
    cmap: str = "Blues",
) -> plt.Axes:
    """Heat map of how often true class i (row) was predicted as class j (column), each cell annotated.

    With ``normalize=True`` each row is divided by its total, so the diagonal shows per-class recall.
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = (np.asarray(v.detach().cpu() if hasattr(v, "detach") else v).ravel() for v in (y_true, y_pred))
    labels = np.arange(len(class_names)) if class_names is not None else np.union1d(y_true, y_pred)
    names = [str(name) for name in (class_names if class_names is not None else labels)]
    counts = confusion_matrix(y_true, y_pred, labels=labels)  # (K, K): rows true, columns predicted
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    ax = _axes(ax, figsize=(0.5 * len(labels) + 2.5, 0.5 * len(labels) + 2))
    image = ax.imshow(values, cmap=cmap, vmin=0)
    threshold = values.max() / 2
    for (i, j), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalize else f"{value:d}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if value > threshold else "black")
    ticks = np.arange(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names, xlabel="predicted label", ylabel="true label", title=title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class" if normalize else "count")
    return ax
