import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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


def test_confusion_matrix_counts_match_sklearn_and_are_annotated():
    from sklearn.metrics import confusion_matrix

    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2])
    ax = plot.plot_confusion_matrix(y_true, y_pred, class_names=["a", "b", "c"], title="toy")
    np.testing.assert_array_equal(ax.images[0].get_array(), confusion_matrix(y_true, y_pred))
    assert [t.get_text() for t in ax.texts] == ["1", "1", "0", "0", "2", "1", "1", "0", "3"]  # row by row
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted label", "true label", "toy")
    plt.close("all")


def test_confusion_matrix_normalised_rows_sum_to_one_and_keep_absent_classes():
    import torch

    y_true = torch.tensor([0, 0, 1, 1])  # class 2 never occurs
    y_pred = torch.tensor([0, 1, 1, 1])
    ax = plot.plot_confusion_matrix(y_true, y_pred, class_names=range(3), normalize=True)
    values = np.asarray(ax.images[0].get_array())
    assert values.shape == (3, 3)
    np.testing.assert_allclose(values.sum(axis=1), [1, 1, 0])  # an empty row stays 0, no division by zero
    assert ax.texts[0].get_text() == "0.50"
    plt.close("all")


def test_image_grid_labels_do_not_overlap_the_row_above():
    fig = plot.show_image_grid(np.zeros((20, 1, 28, 28)), labels=[f"{i} -> {i + 1}" for i in range(20)], ncols=12, title="t")
    fig.canvas.draw()  # applies the layout and the square aspect of the images
    renderer = fig.canvas.get_renderer()
    upper_row_bottom = fig.axes[0].get_window_extent(renderer).y0
    lower_label_top = fig.axes[12].title.get_window_extent(renderer).y1
    assert lower_label_top <= upper_row_bottom, (lower_label_top, upper_row_bottom)
    plt.close("all")


@pytest.mark.parametrize("labels", [[f"asked {d}, read {d}" for d in range(10)], [f"asked {d}\nread {d}" for d in range(10)]])
def test_image_grid_labels_do_not_run_into_their_neighbours(labels):
    fig = plot.show_image_grid(np.zeros((10, 1, 28, 28)), labels=labels, ncols=10, title="t")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    assert all(left.x1 <= right.x0 for left, right in zip(boxes, boxes[1:])), [(b.x0, b.x1) for b in boxes]
    image_top = fig.axes[0].get_window_extent(renderer).y1
    assert all(b.y1 <= fig.bbox.y1 for b in boxes) and all(b.y0 >= image_top - 1 for b in boxes)  # above the images, inside the figure
    plt.close("all")


def test_panels_wrap_into_rows_within_the_maximum_width():
    fig, axes = plot.panels(5)
    assert len(axes) == 5 and len(fig.axes) == 5  # the sixth grid cell is removed
    width, height = fig.get_size_inches()
    assert width <= plot.MAX_WIDTH
    per_row = int(plot.MAX_WIDTH // plot.PANEL_SIZE[0])
    assert height == pytest.approx(-(-5 // per_row) * plot.PANEL_SIZE[1])  # rows of per_row panels
    rows = sorted({round(ax.get_position().y0, 3) for ax in axes})
    assert len(rows) == -(-5 // per_row)
    plt.close("all")


def test_panels_shrink_when_more_columns_are_asked_for_than_fit():
    fig, axes = plot.panels(4, ncols=4, sharey=True)
    assert fig.get_size_inches()[0] == pytest.approx(plot.MAX_WIDTH)
    assert len({round(ax.get_position().y0, 3) for ax in axes}) == 1  # one row
    assert axes[1].get_shared_y_axes().joined(axes[0], axes[1])
    plt.close("all")
    with pytest.raises(ValueError, match="at least one panel"):
        plot.panels(0)


def test_shared_figures_respect_the_maximum_width():
    history = {f"train_{m}": [1.0, 0.5] for m in ("loss", "accuracy", "f1")}
    axes = plot.plot_learning_curves(history, metrics=("loss", "accuracy", "f1"))
    assert axes[0].figure.get_size_inches()[0] <= plot.MAX_WIDTH
    fig = plot.show_image_grid(np.zeros((12, 8, 8)), ncols=12)
    assert fig.get_size_inches()[0] <= plot.MAX_WIDTH
    plt.close("all")
