"""Interactive explorers (ipywidgets) used by the chapters.

An explorer must still be useful in the static HTML of the book, where no
kernel runs and widgets cannot redraw anything. So every explorer here shows
its default state as an ordinary matplotlib figure (a PNG output of the cell)
and then updates *that same output* in place whenever a control changes,
through an IPython display handle. All drawing goes through one plain
plotting function, so the static figure and the interactive one can never
disagree. The controls' output also carries a one-line HTML note, "Run the
notebook to explore ...": JupyterLab and Colab show the live controls, and
the website (which prefers HTML to widgets, see ``_config.yml``) shows the
note above the static figure instead of controls that could not do anything.

* :func:`plot_activation`: an activation function and its derivative, side by side.
* :func:`activation_explorer`: the same plot with a dropdown over
  :data:`course_utils.activations.ACTIVATIONS`, a slider for the leaky-ReLU
  slope alpha and a slider for the range of z (chapter 2).
* :func:`plot_trajectories`: paths of optimisers from :mod:`course_utils.optim`
  on a 2-D loss surface (contour plot), and their loss against the step.
* :func:`optimizer_explorer`: the same plot with tick boxes for the optimisers,
  a log-scale learning-rate slider, a surface dropdown and a steps slider (chapter 3).
"""

from __future__ import annotations

import html
import inspect
import io
from typing import Any, Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, display
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from course_utils.activations import ACTIVATIONS
from course_utils.optim import OPTIMIZERS, SURFACES, Surface

DEFAULT_Z_RANGE = (-5.0, 5.0)


def _call(fn: Any, z: np.ndarray, alpha: float) -> np.ndarray:
    """Evaluate an activation, passing ``alpha`` only to functions that take it (leaky ReLU)."""
    if "alpha" in inspect.signature(fn).parameters:
        return fn(z, alpha=alpha)
    return fn(z)


def _break_jumps(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN between neighbours that jump, so a step is not drawn as a vertical line."""
    scale = max(float(np.ptp(y)), 1.0)
    jumps = np.flatnonzero(np.abs(np.diff(y)) > 0.2 * scale) + 1
    return np.insert(z, jumps, np.nan), np.insert(y, jumps, np.nan)


def plot_activation(
    name: str,
    alpha: float = 0.1,
    z_range: tuple[float, float] = DEFAULT_Z_RANGE,
    axes: Sequence[plt.Axes] | None = None,
    n_points: int = 801,
) -> Sequence[plt.Axes]:
    """Draw activation ``name`` on ``axes[0]`` and its derivative on ``axes[1]``; return the axes.

    ``name`` is a key of :data:`ACTIVATIONS`; ``alpha`` is the negative slope used
    by leaky ReLU (ignored by the others); ``z_range`` is the interval of
    pre-activations shown. With ``axes=None`` a new figure with two panels is made.
    Each curve is the line with ``gid="curve"``; jumps (the step, the derivative of
    ReLU) are left as gaps, a NaN in its data, rather than drawn as vertical lines.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    z_min, z_max = float(z_range[0]), float(z_range[1])
    if not z_min < z_max:
        raise ValueError(f"z_range must be increasing, got {z_range}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    ax_fn, ax_grad = axes[0], axes[1]

    activation = ACTIVATIONS[name]
    z = np.linspace(z_min, z_max, n_points)  # (n_points,)
    values = _call(activation.fn, z, alpha)  # (n_points,)
    slopes = _call(activation.grad, z, alpha)  # (n_points,)
    label = f"{name} ($\\alpha$ = {alpha:.2f})" if name == "leaky relu" else name

    for ax, y, colour, title, ylabel in (
        (ax_fn, values, "tab:blue", f"{label}: $f(z)$", "$f(z)$"),
        (ax_grad, slopes, "tab:orange", f"{label}: derivative $f'(z)$", "$f'(z)$"),
    ):
        ax.clear()
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.axvline(0.0, color="0.6", lw=0.8)
        ax.plot(*_break_jumps(z, y), color=colour, lw=2, gid="curve")
        y_low, y_high = min(float(y.min()), 0.0), max(float(y.max()), 0.0)  # keep f = 0 in view
        pad = 0.1 * max(y_high - y_low, 1.0)
        ax.set(title=title, xlabel="$z$", ylabel=ylabel, xlim=(z_min, z_max), ylim=(y_low - pad, y_high + pad))
        ax.grid(alpha=0.3)
    return axes


STATIC_NOTE_CLASS = "course-explorer-note"


class _Controls:
    """An explorer's controls, with a one-line note for pages where no kernel runs.

    Its output holds the widget view (what JupyterLab and Colab render, live)
    and an HTML note, which the website renders instead of inert controls.
    """

    def __init__(self, widget: widgets.Widget, note: str) -> None:
        self.widget = widget
        self.note = note

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = f'<p class="{STATIC_NOTE_CLASS}">&#9654; {html.escape(self.note)}</p>'
        bundle["text/plain"] = self.note
        return bundle


class _FigureExplorer:
    """Controls above a figure shown as a PNG, redrawn in place through a display handle.

    Subclasses build ``self.controls``, ``self.figure`` (a matplotlib ``Figure``
    outside pyplot, so the inline backend never shows it twice), ``static_note``
    (what the controls would let a reader do) and ``redraw()``.
    """

    controls: widgets.Widget
    figure: Figure
    static_note: str = "Run the notebook to explore this figure."
    _handle: Any = None

    def _on_change(self, change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        if self._handle is not None:
            self._handle.update(self.png())

    def png(self) -> Image:
        """The current figure as a PNG image (what the notebook shows, with or without a kernel)."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=100)
        return Image(data=buffer.getvalue(), format="png")

    def show(self) -> None:
        """Display the controls and the figure; later changes update the figure output in place."""
        display(_Controls(self.controls, self.static_note))
        self._handle = display(self.png(), display_id=True)

    def _ipython_display_(self) -> None:
        if self._handle is None:  # the explorer function has already displayed it
            self.show()


class ActivationExplorer(_FigureExplorer):
    """Controls plus a figure that redraws on every change (built by :func:`activation_explorer`).

    Attributes a notebook or a test may use: ``dropdown``, ``alpha_slider``,
    ``range_slider``, ``controls`` (the widget box), ``figure`` and ``axes``.
    """

    static_note = ("Run the notebook to explore: choose the activation, leaky ReLU's alpha and the range of z, "
                   "and the figure redraws.")

    def __init__(self, name: str = "sigmoid", alpha: float = 0.1, z_range: tuple[float, float] = DEFAULT_Z_RANGE):
        self.dropdown = widgets.Dropdown(options=list(ACTIVATIONS), value=name, description="function")
        self.alpha_slider = widgets.FloatSlider(
            value=alpha, min=0.0, max=0.5, step=0.01, description="alpha", readout_format=".2f", continuous_update=False
        )
        self.range_slider = widgets.FloatRangeSlider(
            value=tuple(z_range), min=-10.0, max=10.0, step=0.5, description="z range", continuous_update=False
        )
        self.note = widgets.HTML()
        self.controls = widgets.VBox([widgets.HBox([self.dropdown, self.alpha_slider, self.range_slider]), self.note])
        # a Figure outside pyplot, shown as a PNG by show(): the inline backend never shows it twice
        self.figure = Figure(figsize=(10, 3.8), layout="constrained")
        self.axes = self.figure.subplots(1, 2)
        self._handle: Any = None
        for control in (self.dropdown, self.alpha_slider, self.range_slider):
            control.observe(self._on_change, names="value")
        self.redraw()

    def redraw(self) -> None:
        """Plot the current selection and refresh the displayed figure, if any."""
        name = self.dropdown.value
        z_min, z_max = self.range_slider.value
        if z_max <= z_min:  # both handles on one value: widen to one step
            z_max = z_min + self.range_slider.step
        plot_activation(name, self.alpha_slider.value, (z_min, z_max), axes=self.axes)
        self.alpha_slider.disabled = name != "leaky relu"
        self.note.value = f"<i>{name}</i>: {ACTIVATIONS[name].note}"
        self._refresh()

    def __repr__(self) -> str:
        lo, hi = self.range_slider.value
        return f"ActivationExplorer({self.dropdown.value!r}, alpha={self.alpha_slider.value:.2f}, z_range=({lo}, {hi}))"


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return False
    return get_ipython() is not None


def activation_explorer(
    name: str = "sigmoid",
    alpha: float = 0.1,
    z_range: tuple[float, float] = DEFAULT_Z_RANGE,
    show: bool = True,
) -> ActivationExplorer:
    """Explore an activation and its derivative: pick the function, alpha and the z range.

    In a notebook (``show=True``) this displays the controls and, below them,
    the default state as a static figure, so the page is useful without a
    kernel; with a kernel, every change redraws that figure in place.
    Outside IPython, or with ``show=False``, nothing is displayed.
    """
    explorer = ActivationExplorer(name, alpha, z_range)
    if show and _in_ipython():
        explorer.show()
    return explorer


# ------------------------------------------------------------------ optimizers
DIVERGENCE_LIMIT = 1e4  # a trajectory this far from the origin has diverged: stop it there
LOSS_FLOOR = 1e-12  # the loss panel draws smaller losses at this value (f is exactly 0 at the minimum)


def _colour(name: str) -> str:
    """One fixed colour per optimiser, so a trajectory keeps its colour whatever else is shown."""
    return f"C{list(OPTIMIZERS).index(name) % 10}"


def _learning_rate(lr: float | Mapping[str, float], name: str) -> float:
    return float(lr[name]) if isinstance(lr, Mapping) else float(lr)


def optimizer_path(
    surface: Surface | str,
    name: str,
    lr: float,
    steps: int,
    start: tuple[float, float] | None = None,
) -> np.ndarray:
    """The points (k + 1, 2) visited by optimiser ``name`` on ``surface`` in ``steps`` steps, start first.

    ``name`` is a key of :data:`course_utils.optim.OPTIMIZERS` (the from-scratch
    optimisers); the surface's gradient comes from autograd, in float64. A
    trajectory that leaves the plane (non-finite, or farther than
    :data:`DIVERGENCE_LIMIT` from the origin) stops at its last point, so
    ``k < steps`` means it diverged.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {list(OPTIMIZERS)}")
    point = torch.tensor(surface.start if start is None else start, dtype=torch.float64, requires_grad=True)  # (2,)
    optimizer = OPTIMIZERS[name]([point], lr)
    visited = [point.detach().clone()]
    for _ in range(int(steps)):
        optimizer.zero_grad()
        surface(point).backward()
        optimizer.step()
        if not torch.isfinite(point).all() or point.detach().abs().max() > DIVERGENCE_LIMIT:
            break
        visited.append(point.detach().clone())
    return torch.stack(visited).numpy()  # (k + 1, 2)


def _surface_grid(surface: Surface, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface evaluated on a resolution x resolution grid covering its plotting window."""
    xs = torch.linspace(*surface.xlim, resolution, dtype=torch.float64)
    ys = torch.linspace(*surface.ylim, resolution, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")  # (resolution, resolution) each
    values = surface(torch.stack([grid_x, grid_y], dim=-1))  # (resolution, resolution)
    return grid_x.numpy(), grid_y.numpy(), values.numpy()


def plot_trajectories(
    surface: Surface | str,
    optimizer_names: Sequence[str],
    lr: float | Mapping[str, float],
    steps: int,
    start: tuple[float, float] | None = None,
    ax: plt.Axes | None = None,
    loss_ax: plt.Axes | None = None,
    resolution: int = 200,
) -> plt.Axes:
    """Run the chosen optimisers on a 2-D surface and draw their paths on its contour plot; return ``ax``.

    ``surface`` is a :class:`~course_utils.optim.Surface` or a key of
    :data:`~course_utils.optim.SURFACES`; ``lr`` is one learning rate for all,
    or a mapping name -> learning rate. With ``loss_ax``, the loss
    f(theta_t) (whose minimum is 0) is also drawn against the step, on a log axis.
    Each path is the line with ``gid="trajectory"`` whose label starts with the
    optimiser's name; the legend says the final loss, or the step at which the
    path diverged.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.8), layout="constrained")
    ax.clear()
    grid_x, grid_y, values = _surface_grid(surface, resolution)
    levels = np.geomspace(values.max() * 1e-4, values.max(), 18)  # log-spaced: the valley floor stays visible
    ax.contourf(grid_x, grid_y, values, levels=levels, cmap="Blues_r", norm=LogNorm(), alpha=0.5, extend="min")
    ax.contour(grid_x, grid_y, values, levels=levels, colors="0.4", linewidths=0.4, norm=LogNorm())
    start = surface.start if start is None else start
    ax.plot(*start, "ko", ms=6, label="start")
    ax.plot(*surface.minimum, "*", color="gold", mec="k", ms=14, zorder=5, label="minimum")
    if loss_ax is not None:
        loss_ax.clear()

    one_lr = not isinstance(lr, Mapping)
    for name in optimizer_names:
        rate = _learning_rate(lr, name)
        path = optimizer_path(surface, name, rate, steps, start)  # (k + 1, 2)
        losses = surface(torch.from_numpy(path)).numpy()  # (k + 1,)
        diverged = len(path) < steps + 1
        label = name if one_lr else f"{name} (lr {rate:g})"
        outcome = f"diverged at step {len(path)}" if diverged else f"final f = {losses[-1]:.1e}"
        ax.plot(path[:, 0], path[:, 1], "-o", color=_colour(name), lw=1.5, ms=2.5,
                markevery=max(1, len(path) // 60), gid="trajectory", label=f"{label}: {outcome}")
        if loss_ax is not None:
            loss_ax.plot(np.arange(len(losses)), np.maximum(losses, LOSS_FLOOR), color=_colour(name), lw=1.5,
                         gid="loss", label=label)

    lr_text = f", lr = {lr:g}" if one_lr else ""
    ax.set(title=f"{surface.name}: {surface.formula}{lr_text}", xlabel="$x$", ylabel="$y$",
           xlim=surface.xlim, ylim=surface.ylim)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    if loss_ax is not None:
        loss_ax.set(title=f"Loss along the trajectories ({steps} steps)", xlabel="step $t$",
                    ylabel=r"$f(\theta_t)$ (minimum 0)", yscale="log", xlim=(0, steps))
        loss_ax.grid(alpha=0.3)
        if optimizer_names:
            loss_ax.legend(fontsize=8)
    return ax


class OptimizerExplorer(_FigureExplorer):
    """Trajectories of the chosen optimisers on a 2-D surface (built by :func:`optimizer_explorer`).

    Attributes a notebook or a test may use: ``checkboxes`` (name -> Checkbox),
    ``surface_dropdown``, ``lr_slider`` (log scale), ``steps_slider``,
    ``controls``, ``figure``, ``axes`` (contour panel, loss panel) and ``note``.
    """

    static_note = ("Run the notebook to explore: choose the surface, the optimizers, the learning rate and the "
                   "number of steps, and the figure redraws.")

    def __init__(
        self,
        surface: str = "quadratic bowl",
        optimizers: Sequence[str] = ("GD / SGD", "Momentum", "Adam"),
        lr: float = 0.05,
        steps: int = 100,
    ) -> None:
        unknown = [name for name in optimizers if name not in OPTIMIZERS]
        if unknown:
            raise ValueError(f"unknown optimizer(s) {unknown}; choose from {list(OPTIMIZERS)}")
        self.checkboxes = {
            name: widgets.Checkbox(value=name in optimizers, description=name, indent=False,
                                   layout=widgets.Layout(width="120px"))
            for name in OPTIMIZERS
        }
        self.surface_dropdown = widgets.Dropdown(options=list(SURFACES), value=surface, description="surface")
        self.lr_slider = widgets.FloatLogSlider(
            value=lr, base=10, min=-4, max=0.5, step=0.05, description="lr", readout_format=".2g",
            continuous_update=False,
        )
        self.steps_slider = widgets.IntSlider(
            value=steps, min=10, max=500, step=10, description="steps", continuous_update=False
        )
        self.note = widgets.HTML()
        names = list(OPTIMIZERS)
        checkbox_grid = widgets.VBox([widgets.HBox([self.checkboxes[n] for n in names[i : i + 4]])
                                      for i in range(0, len(names), 4)])
        sliders = widgets.VBox([self.surface_dropdown, self.lr_slider, self.steps_slider])
        self.controls = widgets.VBox([widgets.HBox([sliders, checkbox_grid]), self.note])
        self.figure = Figure(figsize=(10, 4.2), layout="constrained")  # course_utils.plot.MAX_WIDTH wide at most
        self.axes = self.figure.subplots(1, 2, width_ratios=[1.25, 1])
        self._handle = None
        for control in (*self.checkboxes.values(), self.surface_dropdown, self.lr_slider, self.steps_slider):
            control.observe(self._on_change, names="value")
        self.redraw()

    @property
    def selected(self) -> list[str]:
        """The optimisers whose box is ticked, in registry order."""
        return [name for name, box in self.checkboxes.items() if box.value]

    def redraw(self) -> None:
        """Run the selected optimisers with the current settings and refresh the displayed figure."""
        surface = SURFACES[self.surface_dropdown.value]
        plot_trajectories(surface, self.selected, self.lr_slider.value, self.steps_slider.value,
                          ax=self.axes[0], loss_ax=self.axes[1])
        x_min, y_min = surface.minimum
        self.note.value = (f"<i>{surface.name}</i>: minimum f = 0 at ({x_min:g}, {y_min:g}); start at "
                           f"{surface.start}. All selected optimisers share one learning rate.")
        self._refresh()

    def __repr__(self) -> str:
        return (f"OptimizerExplorer({self.surface_dropdown.value!r}, {self.selected}, "
                f"lr={self.lr_slider.value:.3g}, steps={self.steps_slider.value})")


def optimizer_explorer(
    surface: str = "quadratic bowl",
    optimizers: Sequence[str] = ("GD / SGD", "Momentum", "Adam"),
    lr: float = 0.05,
    steps: int = 100,
    show: bool = True,
) -> OptimizerExplorer:
    """Explore optimiser trajectories: pick the surface, the optimisers, the learning rate and the steps.

    Like :func:`activation_explorer`, it shows the default state as a static
    figure in a notebook (``show=True``), redrawn in place on every change when a
    kernel runs; outside IPython, or with ``show=False``, nothing is displayed.
    """
    explorer = OptimizerExplorer(surface, optimizers, lr, steps)
    if show and _in_ipython():
        explorer.show()
    return explorer
