"""CIFAR-10 through torchvision and its offline fallback of patches of real photographs."""

import pickle

import numpy as np
import pytest
import torch
from torchvision import datasets

from course_utils import data


@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    return root, data.load_cifar10(True, root=root, download=False), data.load_cifar10(False, root=root, download=False)


def test_offline_fallback_is_announced_and_isolated(tmp_path, monkeypatch, capsys):
    # a real download attempt that fails: a port nothing listens on
    monkeypatch.setattr(datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    train = data.load_cifar10(True, root=tmp_path, download=True)
    line = capsys.readouterr().out
    assert "OFFLINE FALLBACK" in line and "scikit-image" in line and line.count("\n") == 1
    assert isinstance(train, data.CIFAR10Fallback) and train.is_fallback
    assert (tmp_path / "CIFAR10Fallback" / "cifar-10-batches-py" / "data_batch_1").exists()
    assert not (tmp_path / "cifar-10-batches-py" / "data_batch_1").exists()  # torchvision's own folder stays empty


def test_fallback_holds_real_labelled_patches(fallback):
    _, train, test = fallback
    assert (len(train), len(test)) == (1600, 400) and train.data.shape == (1600, 32, 32, 3)
    assert train.classes == [name for name, _ in data.CIFAR_FALLBACK_PHOTOS] and len(train.classes) == 10
    assert np.bincount(train.targets).tolist() == [160] * 10 and np.bincount(test.targets).tolist() == [40] * 10
    assert train.data.std(axis=(1, 2, 3)).min() > 2.0  # no blank patches
    # no test patch is also a training patch
    seen = {patch.tobytes() for patch in train.data}
    assert not any(patch.tobytes() in seen for patch in test.data)
    # every patch is a piece of its photograph: the cat patches' mean colour is the cat photo's, within noise
    import skimage.data

    cat = train.data[np.asarray(train.targets) == train.classes.index("cat")]
    assert np.abs(cat.reshape(-1, 3).mean(0) - skimage.data.chelsea().reshape(-1, 3).mean(0)).max() < 12
    image, label = train[0]
    assert image.size == (32, 32) and 0 <= label <= 9


def test_fallback_is_cached(fallback):
    root, train, _ = fallback
    batch = root / "CIFAR10Fallback" / "cifar-10-batches-py" / "data_batch_1"
    stamp = batch.stat().st_mtime_ns
    again = data.load_cifar10(True, root=root, download=False, verbose=False)
    assert batch.stat().st_mtime_ns == stamp and np.array_equal(again.data, train.data)


def test_cifar_tensors(fallback):
    _, train, _ = fallback
    images, labels = data.cifar_tensors(train)
    assert images.shape == (1600, 3, 32, 32) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert torch.equal(images[5].permute(1, 2, 0), torch.from_numpy(train.data[5]))


def test_real_cifar_files_are_used_unchanged(tmp_path, monkeypatch):
    """When torchvision's CIFAR-10 files exist (downloaded online), they are loaded as they are."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batch = {"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
    for name, _ in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list:
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    # our stand-in files cannot have the real checksums
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, None] for n, _ in datasets.CIFAR10.train_list])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [[n, None] for n, _ in datasets.CIFAR10.test_list])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {**datasets.CIFAR10.meta, "md5": None})
    ds = data.load_cifar10(True, root=tmp_path, download=False)
    assert type(ds) is datasets.CIFAR10 and not ds.is_fallback and len(ds) == 20
