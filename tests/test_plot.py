import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from course_utils import data, plot  # noqa: E402


def test_decision_boundary_colours_regions_by_prediction():
    X, y = data.make_toy("blobs", n_samples=100, noise=0.0, seed=0, n_classes=2)
    ax = plot.plot_decision_boundary(lambda P: (P[:, 0] > 0).astype(int), X, y, title="split at x1 = 0")
    assert ax.get_title() == "split at x1 = 0" and ax.get_xlabel() == "$x_1$"
    filled = [c for c in ax.collections if hasattr(c, "get_paths")]
    assert len(filled) >= 2  # filled contour + scatter
    plt.close("all")


def test_learning_curves_draw_train_and_val():
    history = {"train_loss": [3, 2, 1], "val_loss": [3, 2.5, 2], "train_accuracy": [0.1, 0.5, 0.9], "val_accuracy": [0.1, 0.4, 0.6]}
    axes = plot.plot_learning_curves(history)
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    lines = axes[0].get_lines()
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[1].get_ydata(), [3, 2.5, 2])
    plt.close("all")


def test_image_grid_layout():
    fig = plot.show_image_grid(np.zeros((10, 1, 8, 8)), labels=list(range(10)), ncols=4, title="digits")
    assert len(fig.axes) == 12  # 3 rows of 4
    assert fig.axes[9].get_title() == "9"
    plt.close("all")
