"""The activation explorer: builds headless, draws the right curves, redraws on change."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import widgets as W  # noqa: E402
from course_utils.activations import ACTIVATIONS, leaky_relu, sigmoid, tanh  # noqa: E402


def curve(ax: plt.Axes) -> tuple[np.ndarray, np.ndarray]:
    """The plotted (z, y) of the activation curve on ``ax``, gaps (NaN) removed."""
    (line,) = [line for line in ax.get_lines() if line.get_gid() == "curve"]
    z, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    keep = np.isfinite(z) & np.isfinite(y)
    return z[keep], y[keep]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_explorer_builds_without_a_display(capsys):
    explorer = W.activation_explorer()  # no IPython shell here: must not display or print
    assert capsys.readouterr().out == ""
    assert isinstance(explorer.controls, widgets.VBox)
    assert explorer.dropdown.options == tuple(ACTIVATIONS)
    assert explorer.dropdown.value == "sigmoid"
    assert explorer._handle is None
    assert explorer.png().data[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_figure_has_two_labelled_panels():
    explorer = W.activation_explorer(show=False)
    ax_fn, ax_grad = explorer.axes
    assert len(explorer.figure.axes) == 2
    assert ax_fn.get_title() == "sigmoid: $f(z)$"
    assert ax_grad.get_title() == "sigmoid: derivative $f'(z)$"
    assert [ax.get_xlabel() for ax in explorer.axes] == ["$z$", "$z$"]
    assert [ax.get_ylabel() for ax in explorer.axes] == ["$f(z)$", "$f'(z)$"]
    z, y = curve(ax_fn)
    assert (z.min(), z.max()) == W.DEFAULT_Z_RANGE
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-z)))


def test_changing_the_dropdown_redraws_with_the_new_function():
    explorer = W.activation_explorer(show=False)
    explorer.dropdown.value = "tanh"
    z, y = curve(explorer.axes[0])
    np.testing.assert_allclose(y, np.tanh(z))
    z, dy = curve(explorer.axes[1])
    np.testing.assert_allclose(dy, 1 / np.cosh(z) ** 2)
    assert explorer.axes[0].get_title().startswith("tanh")
    assert "tanh" in explorer.note.value


def test_alpha_slider_sets_the_leaky_slope_and_is_only_enabled_for_leaky_relu():
    explorer = W.activation_explorer(show=False)
    assert explorer.alpha_slider.disabled
    explorer.dropdown.value = "leaky relu"
    assert not explorer.alpha_slider.disabled
    explorer.alpha_slider.value = 0.3
    z, y = curve(explorer.axes[0])
    np.testing.assert_allclose(y, np.where(z > 0, z, 0.3 * z))
    z, dy = curve(explorer.axes[1])
    np.testing.assert_allclose(dy[z < 0], 0.3)
    np.testing.assert_allclose(dy[z > 0], 1.0)
    assert "0.30" in explorer.axes[0].get_title()


def test_range_slider_sets_the_plotted_interval():
    explorer = W.activation_explorer("relu", show=False)
    explorer.range_slider.value = (-2.0, 7.5)
    for ax in explorer.axes:
        z, _ = curve(ax)
        assert (z.min(), z.max()) == (-2.0, 7.5)
        assert ax.get_xlim() == (-2.0, 7.5)
    explorer.range_slider.value = (3.0, 3.0)  # both handles together: still a valid plot
    z, _ = curve(explorer.axes[0])
    assert z.min() == 3.0 and z.max() > 3.0


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_plotted_derivative_matches_finite_differences_of_plotted_function(name):
    ax_fn, ax_grad = W.plot_activation(name, alpha=0.2, z_range=(-4.0, 4.0), n_points=1601)
    z, y = curve(ax_fn)
    z_grad, dy = curve(ax_grad)
    assert len(z) == len(z_grad) == 1601 and np.array_equal(z, z_grad)  # same grid, gaps removed
    slope = (y[2:] - y[:-2]) / (z[2:] - z[:-2])  # central differences at z[1:-1]
    smooth = np.abs(z[1:-1]) > 2 * (z[1] - z[0])  # skip the kink or jump at z = 0
    np.testing.assert_allclose(dy[1:-1][smooth], slope[smooth], atol=1e-4)


def test_step_and_relu_derivative_are_drawn_with_a_gap_at_zero():
    ax_fn, ax_grad = W.plot_activation("relu")
    (line,) = [line for line in ax_grad.get_lines() if line.get_gid() == "curve"]
    assert np.isnan(line.get_ydata()).sum() == 1
    (line,) = [line for line in ax_fn.get_lines() if line.get_gid() == "curve"]
    assert not np.isnan(line.get_ydata()).any()  # ReLU itself is continuous


def test_plot_activation_draws_on_given_axes_and_rejects_bad_input():
    fig, axes = plt.subplots(1, 2)
    returned = W.plot_activation("sigmoid", axes=axes)
    assert returned[0] is axes[0] and returned[1] is axes[1]
    z, y = curve(axes[0])
    np.testing.assert_allclose(y, sigmoid(z))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        W.plot_activation("swish")
    with pytest.raises(ValueError, match="increasing"):
        W.plot_activation("relu", z_range=(1.0, -1.0))


class _FakeHandle:
    def __init__(self) -> None:
        self.updates: list = []

    def update(self, obj) -> None:
        self.updates.append(obj)


def test_show_displays_a_static_png_and_updates_it_in_place(monkeypatch):
    shown: list = []
    handle = _FakeHandle()

    def fake_display(obj, display_id=False):
        shown.append((obj, display_id))
        return handle if display_id else None

    monkeypatch.setattr(W, "display", fake_display)
    monkeypatch.setattr(W, "_in_ipython", lambda: True)
    explorer = W.activation_explorer("leaky relu", alpha=0.25)
    # the controls, then the default state as an ordinary PNG with a display id
    assert shown[0][0].widget is explorer.controls
    bundle = shown[0][0]._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.controls.model_id
    assert "Run the notebook to explore" in bundle["text/html"] and "alpha" in bundle["text/html"]
    png, display_id = shown[1]
    assert display_id is True and png.data[:4] == b"\x89PNG"
    explorer.dropdown.value = "tanh"
    assert len(handle.updates) == 1 and handle.updates[0].data[:4] == b"\x89PNG"
    assert handle.updates[0].data != png.data
    explorer._ipython_display_()  # already shown: the cell's result must not display twice
    assert len(shown) == 2
    z, y = curve(explorer.axes[0])
    np.testing.assert_allclose(y, tanh(z))


def test_leaky_relu_curve_uses_the_reference_function():
    ax_fn, _ = W.plot_activation("leaky relu", alpha=0.05)
    z, y = curve(ax_fn)
    np.testing.assert_allclose(y, leaky_relu(z, alpha=0.05))


# ------------------------------------------------------------ optimizer explorer
import torch  # noqa: E402

from course_utils.optim import OPTIMIZERS, SURFACES  # noqa: E402


def trajectories(ax: plt.Axes) -> dict[str, np.ndarray]:
    """Optimiser name -> plotted path (k + 1, 2) on a contour panel."""
    paths = {}
    for line in ax.get_lines():
        if line.get_gid() == "trajectory":
            name = next(n for n in OPTIMIZERS if line.get_label().startswith(n))
            paths[name] = np.column_stack([line.get_xdata(), line.get_ydata()])
    return paths


def test_optimizer_explorer_builds_without_a_display(capsys):
    explorer = W.optimizer_explorer()
    assert capsys.readouterr().out == ""
    assert explorer._handle is None
    assert isinstance(explorer.controls, widgets.VBox)
    assert isinstance(explorer.lr_slider, widgets.FloatLogSlider)
    assert list(explorer.checkboxes) == list(OPTIMIZERS)
    assert explorer.surface_dropdown.options == tuple(SURFACES)
    assert explorer.png().data[:8] == b"\x89PNG\r\n\x1a\n"


def test_optimizer_explorer_default_figure():
    explorer = W.optimizer_explorer(show=False)
    ax, loss_ax = explorer.axes
    assert explorer.selected == ["GD / SGD", "Momentum", "Adam"]
    assert ax.get_title().startswith("quadratic bowl") and "lr = 0.05" in ax.get_title()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$x$", "$y$")
    assert loss_ax.get_xlabel() == "step $t$" and loss_ax.get_yscale() == "log"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:2] == ["start", "minimum"]
    assert [label.split(":")[0] for label in legend[2:]] == explorer.selected
    paths = trajectories(ax)
    assert list(paths) == explorer.selected
    for path in paths.values():
        assert path.shape == (101, 2)  # the start and 100 steps
        np.testing.assert_array_equal(path[0], SURFACES["quadratic bowl"].start)
    np.testing.assert_allclose(paths["Adam"], W.optimizer_path("quadratic bowl", "Adam", 0.05, 100))


def test_changing_the_learning_rate_redraws_a_different_trajectory(monkeypatch):
    explorer = W.optimizer_explorer(show=False)
    handle = _FakeHandle()
    explorer._handle = handle  # as if shown in a notebook
    before = trajectories(explorer.axes[0])["GD / SGD"]
    explorer.lr_slider.value = 0.01
    after = trajectories(explorer.axes[0])["GD / SGD"]
    assert "lr = 0.01" in explorer.axes[0].get_title()
    assert len(handle.updates) == 1 and handle.updates[0].data[:4] == b"\x89PNG"
    assert not np.allclose(before, after)
    # plain GD on the bowl contracts each coordinate by (1 - lr * curvature) per step
    x0, y0 = SURFACES["quadratic bowl"].start
    steps = np.arange(101)
    np.testing.assert_allclose(after, np.column_stack([x0 * 0.99**steps, y0 * 0.9**steps]), rtol=1e-10, atol=1e-12)


def test_optimizer_checkboxes_surface_and_steps_redraw():
    explorer = W.optimizer_explorer(show=False)
    explorer.checkboxes["Momentum"].value = False
    explorer.checkboxes["RMSProp"].value = True
    assert list(trajectories(explorer.axes[0])) == ["GD / SGD", "RMSProp", "Adam"]
    explorer.surface_dropdown.value = "rosenbrock"
    explorer.steps_slider.value = 20
    ax = explorer.axes[0]
    assert ax.get_title().startswith("rosenbrock")
    assert ax.get_xlim() == SURFACES["rosenbrock"].xlim
    for path in trajectories(ax).values():
        np.testing.assert_array_equal(path[0], SURFACES["rosenbrock"].start)
        assert len(path) <= 21
    for box in explorer.checkboxes.values():  # nothing selected: still a valid plot of the surface
        box.value = False
    assert trajectories(explorer.axes[0]) == {}


@pytest.mark.parametrize("name,lr", [("GD / SGD", 0.1), ("Momentum", 0.05), ("Nesterov", 0.05), ("AdaGrad", 1.0),
                                     ("RMSProp", 0.05), ("Adam", 0.1)])
def test_trajectories_end_near_the_minimum_of_the_bowl_for_a_sane_lr(name, lr):
    path = W.optimizer_path("quadratic bowl", name, lr, steps=300)
    assert path.shape == (301, 2)
    assert np.linalg.norm(path[-1] - SURFACES["quadratic bowl"].minimum) < 0.02
    assert np.linalg.norm(path[0] - path[-1]) > 4  # it travelled from the start


def test_diverging_trajectory_stops_and_says_so():
    path = W.optimizer_path("quadratic bowl", "GD / SGD", lr=0.25, steps=300)  # lr > 2 / 10: unstable along y
    assert len(path) < 301 and np.isfinite(path).all()
    ax = W.plot_trajectories("quadratic bowl", ["GD / SGD"], lr=0.25, steps=300)
    (label,) = [line.get_label() for line in ax.get_lines() if line.get_gid() == "trajectory"]
    assert f"diverged at step {len(path)}" in label


def test_plot_trajectories_accepts_one_lr_per_optimizer_and_given_axes():
    fig, (ax, loss_ax) = plt.subplots(1, 2)
    lrs = {"GD / SGD": 0.1, "Adam": 0.3}
    returned = W.plot_trajectories("rosenbrock", list(lrs), lrs, steps=30, start=(0.0, 0.0), ax=ax, loss_ax=loss_ax)
    assert returned is ax
    paths = trajectories(ax)
    assert set(paths) == {"GD / SGD", "Adam"}
    np.testing.assert_allclose(paths["Adam"], W.optimizer_path("rosenbrock", "Adam", 0.3, 30, start=(0.0, 0.0)))
    losses = {line.get_label(): line.get_ydata() for line in loss_ax.get_lines() if line.get_gid() == "loss"}
    expected = SURFACES["rosenbrock"](torch.from_numpy(paths["Adam"])).numpy()
    np.testing.assert_allclose(losses["Adam (lr 0.3)"], np.maximum(expected, W.LOSS_FLOOR))
    with pytest.raises(ValueError, match="unknown optimizer"):
        W.optimizer_path("rosenbrock", "LBFGS", 0.1, 10)
    with pytest.raises(ValueError, match="unknown optimizer"):
        W.optimizer_explorer(optimizers=["Adam", "Lion"], show=False)


def test_optimizer_explorer_shows_a_static_png_and_updates_it_in_place(monkeypatch):
    shown: list = []
    handle = _FakeHandle()

    def fake_display(obj, display_id=False):
        shown.append((obj, display_id))
        return handle if display_id else None

    monkeypatch.setattr(W, "display", fake_display)
    monkeypatch.setattr(W, "_in_ipython", lambda: True)
    explorer = W.optimizer_explorer()
    assert shown[0][0].widget is explorer.controls
    assert "learning rate" in shown[0][0]._repr_mimebundle_()["text/html"]
    png, display_id = shown[1]
    assert display_id is True and png.data[:4] == b"\x89PNG"
    explorer.steps_slider.value = 50
    assert len(handle.updates) == 1 and handle.updates[0].data != png.data
    explorer._ipython_display_()
    assert len(shown) == 2
