"""course_utils.metrics against scikit-learn (and statsmodels for adjusted R^2) on many random cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from course_utils import metrics as M

SEEDS = range(60)


def random_labels(rng: np.random.Generator, n_classes: int | None = None):
    """Labels and predictions with the awkward cases mixed in: missing classes, one class only, tiny sets."""
    n = int(rng.choice([1, 2, 3, 5, 17, 60, 200]))
    k = n_classes or int(rng.integers(2, 6))
    y_true = rng.integers(0, k, n)
    y_pred = rng.integers(0, k, n)
    case = rng.integers(6)
    if case == 0:
        y_pred[y_pred == k - 1] = 0  # the last class is never predicted
    elif case == 1:
        y_true[:] = y_true[0]  # all true labels are one class
    elif case == 2:
        y_pred[:] = y_pred[0]  # one class predicted for everything
    elif case == 3:
        y_pred = y_true.copy()  # perfect
    return y_true, y_pred


def sk(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about 0/0; we compare the value it returns
        return func(*args, **kwargs)


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_and_confusion_matrix(seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = random_labels(rng)
    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred), sk(skm.confusion_matrix, y_true, y_pred))
    labels = rng.permutation(np.arange(-1, 6))[: rng.integers(1, 7)]  # order, absent and unknown labels
    labels = np.r_[labels[labels != y_true[0]], y_true[0]]  # scikit-learn wants one label of y_true
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred, labels=labels),
                                  sk(skm.confusion_matrix, y_true, y_pred, labels=labels))


def test_confusion_matrix_string_labels():
    y_true = np.array(["cat", "dog", "dog", "bird"])
    y_pred = np.array(["dog", "dog", "cat", "bird"])
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("seed", SEEDS)
def test_precision_recall_f1_multiclass(seed, average):
    rng = np.random.default_rng(seed)
    y_true, y_pred = random_labels(rng)
    ours = M.precision_recall_f1(y_true, y_pred, average=average)
    theirs = sk(skm.precision_recall_fscore_support, y_true, y_pred, average=average, zero_division=0.0)[:3]
    for name, a, b in zip(("precision", "recall", "f1"), ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"{name} ({average})")


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_precision_recall_f1_binary(seed, zero_division):
    rng = np.random.default_rng(seed)
    y_true, y_pred = random_labels(rng, n_classes=2)
    ours = M.precision_recall_f1(y_true, y_pred, zero_division=zero_division)
    theirs = sk(skm.precision_recall_fscore_support, y_true, y_pred, average="binary", zero_division=zero_division)[:3]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    for func, value in zip((skm.precision_score, skm.recall_score, skm.f1_score), ours):
        assert value == pytest.approx(sk(func, y_true, y_pred, zero_division=zero_division))


def test_explicit_labels_and_pos_label():
    y_true = np.array([0, 1, 2, 2, 1, 0, 3])
    y_pred = np.array([0, 2, 2, 2, 1, 1, 1])
    for average in ("macro", "weighted", "micro", None):
        ours = M.precision_recall_f1(y_true, y_pred, average=average, labels=[2, 0, 7])
        theirs = sk(skm.precision_recall_fscore_support, y_true, y_pred, average=average, labels=[2, 0, 7], zero_division=0)
        np.testing.assert_allclose(ours, theirs[:3])
    yes_no = np.array(["yes", "no", "yes", "yes"]), np.array(["yes", "yes", "no", "yes"])
    np.testing.assert_allclose(M.precision_recall_f1(*yes_no, pos_label="yes"),
                               skm.precision_recall_fscore_support(*yes_no, pos_label="yes", average="binary")[:3])


def test_macro_f1_is_the_mean_of_per_class_f1():
    y_true = np.array([0] * 10 + [1] * 10)
    y_pred = np.array([0] + [1] * 19)  # class 0: precision 1, recall 0.1; class 1: precision 10/19, recall 1
    precision, recall, f1 = M.precision_recall_f1(y_true, y_pred, average="macro")
    f1_of_means = 2 * precision * recall / (precision + recall)
    assert f1 == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert abs(f1 - f1_of_means) > 0.15  # the two are different numbers


def test_binary_average_rejects_three_classes():
    with pytest.raises(ValueError, match="two classes"):
        M.precision_recall_f1([0, 1, 2], [0, 1, 1])


def random_scores(rng: np.random.Generator):
    """Binary labels with scores: continuous, heavily tied (few distinct values), or all equal."""
    n = int(rng.choice([2, 3, 8, 50, 300]))
    y_true = rng.integers(0, 2, n)
    y_true[0], y_true[-1] = 0, 1  # both classes present
    case = rng.integers(3)
    if case == 0:
        y_score = rng.normal(size=n) + y_true
    elif case == 1:
        y_score = rng.integers(0, 4, n) / 3.0  # ties everywhere
    else:
        y_score = np.full(n, 0.5)
    return y_true, y_score


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_curve_and_auc(seed):
    rng = np.random.default_rng(seed)
    y_true, y_score = random_scores(rng)
    fpr, tpr, thresholds = M.roc_curve(y_true, y_score)
    sk_fpr, sk_tpr, sk_thresholds = skm.roc_curve(y_true, y_score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_array_equal(thresholds, sk_thresholds)
    assert M.roc_auc(y_true, y_score) == pytest.approx(skm.roc_auc_score(y_true, y_score), abs=1e-12)


def test_roc_auc_ties_count_one_half():
    # one positive and one negative with the same score: AUC is 1/2, not 0 or 1
    assert M.roc_auc([0, 1], [0.3, 0.3]) == 0.5
    assert M.roc_auc([0, 1, 1, 0], [0.1, 0.7, 0.4, 0.4]) == pytest.approx(skm.roc_auc_score([0, 1, 1, 0], [0.1, 0.7, 0.4, 0.4]))


def test_roc_auc_is_the_probability_a_positive_outranks_a_negative():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 120)
    y_score = rng.integers(0, 5, 120)
    positives, negatives = y_score[y_true == 1], y_score[y_true == 0]
    pairs = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    assert M.roc_auc(y_true, y_score) == pytest.approx(pairs.mean())


def test_roc_auc_needs_both_classes():
    with pytest.warns(RuntimeWarning, match="one class"):
        assert np.isnan(M.roc_auc([1, 1, 1], [0.2, 0.4, 0.9]))
    assert np.isnan(sk(skm.roc_auc_score, [1, 1, 1], [0.2, 0.4, 0.9]))  # scikit-learn: NaN and a warning too


@pytest.mark.parametrize("seed", SEEDS)
def test_precision_recall_curve_and_average_precision(seed):
    rng = np.random.default_rng(seed)
    y_true, y_score = random_scores(rng)
    ours = M.precision_recall_curve(y_true, y_score)
    theirs = skm.precision_recall_curve(y_true, y_score)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b)
    assert M.average_precision(y_true, y_score) == pytest.approx(skm.average_precision_score(y_true, y_score), abs=1e-12)


def test_string_labels_need_pos_label():
    with pytest.raises(ValueError, match="pos_label"):
        M.roc_auc(["a", "b"], [0.1, 0.2])
    assert M.roc_auc(["a", "b", "b"], [0.1, 0.2, 0.05], pos_label="b") == skm.roc_auc_score([0, 1, 1], [0.1, 0.2, 0.05])


def random_regression(rng: np.random.Generator):
    n = int(rng.choice([2, 3, 10, 100]))
    y_true = rng.normal(size=n) * rng.uniform(0.1, 10)
    case = rng.integers(5)
    if case == 0:
        y_pred = y_true.copy()
    elif case == 1:
        y_true[:] = 3.0  # constant target
        y_pred = y_true + (rng.normal(size=n) if rng.integers(2) else 0)
    elif case == 2:
        y_pred = np.full(n, y_true.mean())  # the mean: R^2 = 0
    else:
        y_pred = y_true + rng.normal(size=n) * rng.uniform(0.01, 20)
    return y_true, y_pred


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics(seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = random_regression(rng)
    assert M.mean_absolute_error(y_true, y_pred) == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert M.mean_squared_error(y_true, y_pred) == pytest.approx(skm.mean_squared_error(y_true, y_pred))
    assert M.r2_score(y_true, y_pred) == pytest.approx(skm.r2_score(y_true, y_pred), abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_adjusted_r2_matches_statsmodels_ols(seed):
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(8, 80)), int(rng.integers(1, 6))
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) * rng.uniform(0, 2) + rng.normal(size=n)
    fit = sm.OLS(y, sm.add_constant(X)).fit()
    assert M.r2_score(y, fit.fittedvalues) == pytest.approx(fit.rsquared)
    assert M.adjusted_r2(y, fit.fittedvalues, n_features=p) == pytest.approx(fit.rsquared_adj)


def test_adjusted_r2_needs_enough_examples():
    with pytest.raises(ValueError, match="more examples"):
        M.adjusted_r2([1.0, 2.0, 3.0], [1.0, 2.0, 2.5], n_features=2)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="entries"):
        M.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="one-dimensional"):
        M.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="average"):
        M.precision_recall_f1([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="zero examples"):
        M.r2_score([], [])
