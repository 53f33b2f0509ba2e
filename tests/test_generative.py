"""Sample-quality measures on the shipped digit classifier, on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from course_utils import checkpoints, generative as G


@pytest.fixture(scope="module")
def digits(data_root):
    """Held-out and training digits in [0, 1] from the session's data cache (offline: the fallback)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_DATA_DIR", str(data_root))
        test_images, test_labels, fallback = G.mnist_digits(False)
        train_images, train_labels, _ = G.mnist_digits(True)
    return {"test": (test_images, test_labels), "train": (train_images, train_labels), "fallback": fallback}


@pytest.fixture(scope="module")
def classifier():
    return G.load_digit_classifier(verbose=False)


# ----------------------------------------------------------------- the Fréchet distance itself
def _scipy_frechet(a, b):
    """The textbook formula with scipy's general matrix square root (the oracle)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for dim in (1, 3, 20):
        a = rng.normal(size=(400, dim)) @ rng.normal(size=(dim, dim))
        b = rng.normal(1.0, 2.0, size=(300, dim)) @ rng.normal(size=(dim, dim))
        assert G.frechet_distance(a, b) == pytest.approx(_scipy_frechet(a, b), rel=1e-6, abs=1e-8)


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 4))
    assert abs(G.frechet_distance(a, a)) < 1e-9
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert G.frechet_distance(a, a + shift) == pytest.approx((shift**2).sum(), rel=1e-9)  # same covariance
    x, y = rng.normal(0, 1, size=(1000, 1)), rng.normal(3, 2, size=(800, 1))  # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert G.frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)
    assert G.frechet_distance(a, a * 2) == pytest.approx(G.frechet_distance(a * 2, a), rel=1e-9)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, D\) and \(M, D\)"):
        G.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least two rows"):
        G.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


# ----------------------------------------------------------------- on real digits
def test_classifier_accuracy_is_the_recorded_one(digits, classifier):
    record = checkpoints.read_record(G.CLASSIFIER_CHECKPOINT)
    if ("fallback" in record["data"]) != digits["fallback"]:
        pytest.skip("the record was measured on other data than this machine has")
    images, labels = digits["test"]
    accuracy = G.class_accuracy(images, labels, classifier)
    assert accuracy == pytest.approx(record["quality"]["held_out_accuracy"], abs=1e-3)
    assert accuracy >= 0.97
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    assert G.class_accuracy(images, shuffled, classifier) < 0.2  # wrong labels: chance level


def test_real_digits_against_themselves_one_class_and_noise(digits, classifier):
    test_images, _ = digits["test"]
    train_images, train_labels = digits["train"]
    same = G.frechet_classifier_distance(test_images, test_images, classifier)
    real = G.frechet_classifier_distance(test_images, train_images[:2000], classifier)
    one_class = G.frechet_classifier_distance(train_images[train_labels == 1][:300], test_images, classifier)
    noise = G.frechet_classifier_distance(torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)), test_images,
                                          classifier)
    assert abs(same) < 1e-3
    assert real < 30
    assert one_class > 10 * real and noise > 10 * real
    assert noise > one_class  # noise is not a digit at all


def test_class_spread_detects_mode_collapse(digits, classifier):
    test_images, _ = digits["test"]
    train_images, train_labels = digits["train"]
    real = G.class_spread(test_images, classifier)
    assert real["entropy_ratio"] > 0.98 and real["classes_covered"] == 10 and real["largest_share"] < 0.15
    assert sum(real["shares"]) == pytest.approx(1.0, abs=1e-3)
    sevens = G.class_spread(train_images[train_labels == 7][:300], classifier)
    assert sevens["entropy_ratio"] < 0.2 and sevens["largest_share"] > 0.9 and sevens["classes_covered"] <= 2
    assert int(np.argmax(sevens["shares"])) == 7
    two_modes = torch.cat([train_images[train_labels == 0][:200], train_images[train_labels == 3][:200]])
    spread = G.class_spread(two_modes, classifier)
    assert spread["classes_covered"] == 2 and spread["entropy_ratio"] == pytest.approx(np.log(2) / np.log(10), abs=0.05)


def test_sample_quality_collects_the_measures(digits, classifier):
    test_images, test_labels = digits["test"]
    quality = G.sample_quality(test_images[:500], test_images[500:], classifier, labels=test_labels[:500])
    assert set(quality) == {"fcd", "class_entropy_ratio", "largest_class_share", "classes_covered", "class_accuracy"}
    assert quality["class_accuracy"] > 0.95 and quality["classes_covered"] == 10
    assert "FCD" in G.describe_quality(quality) and "class accuracy" in G.describe_quality(quality)


def test_inputs_are_checked(classifier):
    with pytest.raises(ValueError, match=r"grey values in \[0, 1\]"):
        G.class_spread(torch.randn(10, 1, 28, 28) * 3, classifier)
    with pytest.raises(ValueError, match="shape"):
        G.class_spread(torch.rand(10, 3, 32, 32), classifier)
    with pytest.raises(ValueError, match="labels"):
        G.class_accuracy(torch.rand(10, 784), torch.zeros(9), classifier)
    assert G.classify_digits(torch.rand(4, 784), classifier)[0].shape == (4, 128)  # flat images are accepted
