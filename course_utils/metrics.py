"""Evaluation metrics written from their definitions (reference for chapter 7 and assignment a06).

Classification: :func:`accuracy`, :func:`confusion_matrix`, :func:`precision_recall_f1` (binary, and
macro / micro / weighted averages over classes), :func:`roc_curve` and :func:`roc_auc` (tied scores
handled), :func:`precision_recall_curve` and :func:`average_precision`.
Regression: :func:`mean_absolute_error`, :func:`mean_squared_error`, :func:`r2_score`,
:func:`adjusted_r2`.

Every function follows scikit-learn's conventions (label order, what an undefined ratio such as
0/0 becomes, the first ROC threshold), and the tests compare them with ``sklearn.metrics`` on many
random cases: a class never predicted, all labels of one class, tied scores.

Notation: ``y_true`` the true labels (N,), ``y_pred`` the predicted labels (N,), ``y_score`` a real
score per example where larger means "more positive" (a probability or a logit).
TP, FP, FN, TN: true/false positives/negatives.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from course_utils.grading import reference

AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _labels_1d(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one entry per example), got shape {array.shape}")
    return array


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels_1d(y_true, "y_true"), _labels_1d(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} entries but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("cannot evaluate on zero examples")
    return y_true, y_pred


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    """numerator / denominator elementwise, with ``zero_division`` where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.full(np.broadcast(numerator, denominator).shape, float(zero_division))
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


# ------------------------------------------------------------------ classification
@reference
def accuracy(y_true, y_pred) -> float:
    """Fraction of examples whose predicted label equals the true label."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


@reference
def confusion_matrix(y_true, y_pred, labels: Sequence | None = None) -> np.ndarray:
    """Counts C (K, K): C[i, j] = number of examples of true class labels[i] predicted as labels[j].

    ``labels`` defaults to the sorted union of the labels in ``y_true`` and ``y_pred``; examples whose
    labels are not in ``labels`` are not counted (as in scikit-learn).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    labels = np.union1d(y_true, y_pred) if labels is None else np.asarray(labels)
    index = {label: k for k, label in enumerate(labels.tolist())}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for truth, guess in zip(y_true.tolist(), y_pred.tolist()):
        if truth in index and guess in index:
            counts[index[truth], index[guess]] += 1
    return counts


@reference
def precision_recall_f1(
    y_true,
    y_pred,
    average: str | None = "binary",
    pos_label=1,
    labels: Sequence | None = None,
    zero_division: float = 0.0,
) -> tuple:
    """Precision TP/(TP+FP), recall TP/(TP+FN) and F1 = 2TP/(2TP+FP+FN), as a tuple of three.

    ``average``: ``"binary"`` scores the class ``pos_label`` only; ``"macro"`` averages the per-class
    scores with equal weight; ``"weighted"`` weights them by support (the number of true examples
    of the class); ``"micro"`` pools the counts of all classes first; ``None`` returns one array
    per score with a value per class. A ratio whose denominator is 0 (a class never predicted has
    no precision) is ``zero_division``. Macro-F1 is the mean of the per-class F1 scores, not the
    F1 of the mean precision and mean recall.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    y_true, y_pred = _pair(y_true, y_pred)
    present = np.union1d(y_true, y_pred)
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"average='binary' needs two classes, found {len(present)}: {present.tolist()}; "
                             "choose average='macro', 'micro' or 'weighted'")
        labels = np.asarray([pos_label])
    elif labels is None:
        labels = present
    labels = np.asarray(labels)
    counts = confusion_matrix(y_true, y_pred, labels=np.union1d(present, labels))
    order = np.searchsorted(np.union1d(present, labels), labels)
    tp = np.diag(counts)[order].astype(float)  # (K,) per requested label
    predicted = counts.sum(axis=0)[order]  # TP + FP
    support = counts.sum(axis=1)[order]  # TP + FN
    if average == "micro":
        tp, predicted, support = tp.sum(), predicted.sum(), support.sum()
    precision = _safe_divide(tp, predicted, zero_division)
    recall = _safe_divide(tp, support, zero_division)
    f1 = _safe_divide(2 * tp, predicted + support, zero_division)  # 2TP / (2TP + FP + FN)
    if average in ("binary", "micro"):
        return float(np.ravel(precision)[0]), float(np.ravel(recall)[0]), float(np.ravel(f1)[0])
    if average is None:
        return precision, recall, f1
    if average == "weighted":
        if support.sum() == 0:
            return (float(zero_division),) * 3
        weights = support / support.sum()
    else:
        weights = np.full(len(labels), 1 / len(labels))
    return float(precision @ weights), float(recall @ weights), float(f1 @ weights)


def _binary_scores(y_true, y_score, pos_label) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_score = _pair(y_true, y_score)
    y_score = y_score.astype(float)
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or infinity")
    if pos_label is None:
        classes = np.unique(y_true)
        if not (np.array_equal(classes, [0, 1]) or np.array_equal(classes, [-1, 1])
                or np.array_equal(classes, [0]) or np.array_equal(classes, [1]) or np.array_equal(classes, [-1])):
            raise ValueError(f"y_true holds labels {classes.tolist()}: pass pos_label to say which one is positive")
        pos_label = 1
    return (y_true == pos_label).astype(float), y_score


def _cumulative_counts(is_positive: np.ndarray, y_score: np.ndarray):
    """TP and FP counts when everything with score >= t is called positive, for each distinct score t (descending)."""
    order = np.argsort(-y_score, kind="stable")
    scores, positives = y_score[order], is_positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]  # tied scores move together
    tps = np.cumsum(positives)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps, fps, scores[last_of_tie]


@reference
def roc_curve(y_true, y_score, pos_label=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds, one point per distinct score.

    Predicting "positive" for every score >= threshold gives one (FPR, TPR) point. Tied scores are
    one threshold, so they move the curve diagonally. The first point (0, 0) has threshold +inf.
    Equals ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    is_positive, y_score = _binary_scores(y_true, y_score, pos_label)
    tps, fps, thresholds = _cumulative_counts(is_positive, y_score)
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    thresholds = np.r_[np.inf, thresholds]
    n_pos, n_neg = tps[-1], fps[-1]
    fpr = fps / n_neg if n_neg > 0 else np.full(len(fps), np.nan)
    tpr = tps / n_pos if n_pos > 0 else np.full(len(tps), np.nan)
    return fpr, tpr, thresholds


@reference
def roc_auc(y_true, y_score, pos_label=None) -> float:
    """Area under the ROC curve (trapezoids; tied scores count one half), as ``sklearn.metrics.roc_auc_score``.

    It is the probability that a random positive scores higher than a random negative, ties
    counting 1/2. Undefined when ``y_true`` holds only one class: then it warns and returns NaN,
    as scikit-learn does.
    """
    is_positive, _ = _binary_scores(y_true, y_score, pos_label)
    if is_positive.min() == is_positive.max():
        warnings.warn("ROC AUC is undefined when y_true holds only one class; returning NaN", RuntimeWarning, stacklevel=2)
        return math.nan
    fpr, tpr, _ = roc_curve(y_true, y_score, pos_label)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


@reference
def precision_recall_curve(y_true, y_score, pos_label=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds like ``sklearn.metrics.precision_recall_curve``.

    Thresholds are the distinct scores in increasing order; precision[i] and recall[i] belong to
    "positive when score >= thresholds[i]", and a last point (precision 1, recall 0) closes the curve.
    """
    is_positive, y_score = _binary_scores(y_true, y_score, pos_label)
    tps, fps, thresholds = _cumulative_counts(is_positive, y_score)
    precision = _safe_divide(tps, tps + fps, 0.0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps, dtype=float)
    reverse = slice(None, None, -1)  # scikit-learn lists increasing thresholds
    return np.r_[precision[reverse], 1.0], np.r_[recall[reverse], 0.0], thresholds[reverse]


@reference
def average_precision(y_true, y_score, pos_label=None) -> float:
    """Sum over thresholds of (R_n - R_{n-1}) P_n: the precision averaged over the recall levels reached."""
    precision, recall, _ = precision_recall_curve(y_true, y_score, pos_label)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


# ---------------------------------------------------------------------- regression
def _regression_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _pair(y_true, y_pred)
    return y_true.astype(float), y_pred.astype(float)


@reference
def mean_absolute_error(y_true, y_pred) -> float:
    """MAE = mean |y - y_hat|, in the units of y."""
    y_true, y_pred = _regression_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


@reference
def mean_squared_error(y_true, y_pred) -> float:
    """MSE = mean (y - y_hat)^2, in squared units of y; large errors weigh quadratically."""
    y_true, y_pred = _regression_pair(y_true, y_pred)
    return float(np.mean((y_true - y_pred) ** 2))


@reference
def r2_score(y_true, y_pred) -> float:
    """R^2 = 1 - SS_res / SS_tot: the share of the variance of y around its mean that the model explains.

    It is 1 for perfect predictions, 0 for always predicting the mean of ``y_true``, and negative for
    anything worse. When ``y_true`` is constant (SS_tot = 0) it is 1.0 for perfect predictions and
    0.0 otherwise, scikit-learn's convention.
    """
    y_true, y_pred = _regression_pair(y_true, y_pred)
    ss_res = np.sum((y_true - y_pred) ** 2)
    ss_tot = np.sum((y_true - y_true.mean()) ** 2)
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return float(1 - ss_res / ss_tot)


@reference
def adjusted_r2(y_true, y_pred, n_features: int) -> float:
    """Adjusted R^2 = 1 - (1 - R^2)(n - 1)/(n - p - 1) for n examples and p features (plus an intercept).

    It compares unbiased estimates of the residual and total variance, so a feature that does not
    reduce the residuals enough to pay for its degree of freedom lowers it. Needs n - p - 1 > 0.
    """
    y_true, y_pred = _regression_pair(y_true, y_pred)
    n, p = len(y_true), int(n_features)
    if p < 0:
        raise ValueError(f"n_features must be >= 0, got {n_features}")
    if n - p - 1 <= 0:
        raise ValueError(f"adjusted R^2 needs more examples than features + 1; got n={n}, p={p}")
    return float(1 - (1 - r2_score(y_true, y_pred)) * (n - 1) / (n - p - 1))
