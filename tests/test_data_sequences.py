"""Sequence data in course_utils.data: sunspots, sliding windows, the adding problem, MNIST row by row."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import data


def test_sunspots_are_the_statsmodels_series():
    years, values = data.load_sunspots()
    assert years[0] == 1700 and years[-1] == 2008 and len(values) == 309
    assert values.dtype == np.float32 and values.min() >= 0
    assert np.all(np.diff(years) == 1)


def test_sliding_windows():
    inputs, targets = data.sliding_windows(np.arange(10), 3, horizon=2)
    assert inputs.shape == (6, 3, 1) and targets.shape == (6, 1)
    assert inputs[0, :, 0].tolist() == [0, 1, 2] and targets[0, 0] == 4
    assert inputs[-1, :, 0].tolist() == [5, 6, 7] and targets[-1, 0] == 9
    with pytest.raises(ValueError, match="no window"):
        data.sliding_windows(np.arange(3), 3)


def test_adding_problem_is_exact_and_reproducible():
    x, y = data.make_adding_problem(500, 12, seed=3)
    assert x.shape == (500, 12, 2) and y.shape == (500,)
    markers = x[:, :, 1]
    assert torch.all(markers.sum(1) == 2)
    assert torch.all(markers[:, :6].sum(1) == 1) and torch.all(markers[:, 6:].sum(1) == 1)
    assert torch.allclose(y, (x[:, :, 0] * markers).sum(1))
    x2, y2 = data.make_adding_problem(500, 12, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, data.make_adding_problem(500, 12, seed=4)[0])
    with pytest.raises(ValueError):
        data.make_adding_problem(5, 1)


def test_adding_accuracy_and_the_mean_baseline():
    _, y = data.make_adding_problem(20_000, 10, seed=0)
    assert data.adding_accuracy(y, y) == 1.0
    assert 0.06 < data.adding_accuracy(torch.ones_like(y), y) < 0.10  # the triangular density near 1, times 0.08
    with pytest.raises(ValueError):
        data.adding_accuracy(torch.ones(3), torch.ones(4))


def test_mnist_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    rows, labels, fallback = data.mnist_rows(train=False, limit=50, verbose=False)
    assert rows.shape == (50, 28, 28) and labels.shape == (50,) and fallback
    images, _ = data.mnist_tensors(data.load_mnist(train=False, verbose=False))
    assert torch.equal(rows, images[:50, 0])
