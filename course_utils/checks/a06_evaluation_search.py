"""Checks for assignment a06_evaluation_search: metrics, a dummy baseline, grid and random search.

Every graded function runs through :func:`course_utils.grading.call_student` under :data:`NUMPY_ONLY`:
NumPy and the Python standard library only (no scikit-learn, SciPy, pandas, statsmodels, mlxtend,
PyTorch, Optuna), and never the course's references in ``course_utils.metrics`` / ``course_utils.search``
(marked ``@reference``). The oracles are scikit-learn's functions, called by these checks outside the
guard, on random cases drawn at grading time (:func:`course_utils.grading.fresh_rng`).

Promise list: what the notebook promises for each graded function, and the check that holds it.

``confusion_matrix(y_true, y_pred, labels=None)``
  - an integer array (K, K); entry [i, j] counts true labels[i] predicted as labels[j]
    -> :func:`check_confusion_matrix` (against ``sklearn.metrics.confusion_matrix``).
  - labels default to the sorted union of both arrays: a class that is never predicted, or never
    true, still gets its row and column -> random cases with missing classes, one class only.
  - with ``labels``: that order; examples whose true or predicted label is not listed are not
    counted; listed labels that never occur give zero rows -> ``labels`` cases (shuffled, extra, missing).
  - works for string labels -> a string case.
  - lengths that differ raise ValueError -> :func:`check_raises`.
``precision_recall_f1(y_true, y_pred, average="binary", pos_label=1)``
  - returns three floats (precision, recall, F1) -> :func:`check_precision_recall_f1`.
  - binary: the class ``pos_label`` only, any labels (strings too) -> binary cases with pos_label 0/1/str.
  - macro / weighted / micro over the sorted union of labels; weighted by support; micro pools counts
    -> random multi-class cases per average.
  - a 0/0 ratio is 0 (class never predicted, never true, no positives at all) -> edge cases.
  - F1 per class is 2TP/(2TP+FP+FN), macro-F1 the mean of per-class F1 -> the macro cases.
  - "binary" with more than two distinct labels raises ValueError -> :func:`check_raises`.
``roc_auc(y_true, y_score)``
  - a float equal to ``sklearn.metrics.roc_auc_score`` for 0/1 labels and real scores; ties count 1/2
    -> :func:`check_roc_auc` (heavily tied integer scores, all-equal scores, continuous scores).
  - invariant to any strictly increasing transform of the scores -> covered by integer-valued cases.
  - only one class present raises ValueError -> :func:`check_raises`.
``r2_score(y_true, y_pred)`` / ``adjusted_r2(y_true, y_pred, n_features)``
  - R^2 equal to ``sklearn.metrics.r2_score``, including constant ``y_true`` (1.0 if perfect, else 0.0)
    -> :func:`check_regression_metrics`.
  - adjusted R^2 = 1 - (1 - R^2)(n - 1)/(n - p - 1); n - p - 1 <= 0 raises ValueError -> same check
    (expected value from scikit-learn's R^2 and the formula, which ``tests/test_metrics.py`` checks
    against statsmodels' OLS) and :func:`check_raises`.
``DummyBaseline(strategy)`` with ``fit(X, y)`` and ``predict(X)``
  - "most_frequent": the most frequent training label, the smallest one on a tie (as
    ``sklearn.dummy.DummyClassifier``); "mean" / "median": the training mean / median (as
    ``DummyRegressor``) -> :func:`check_dummy_baseline`.
  - ``fit`` returns the object itself; ``predict`` returns an array of len(X) whatever X holds; a
    second ``fit`` replaces what the first learnt; two objects do not share state; an unknown
    strategy raises ValueError -> same check.
``grid_values(low, high, n, log=False)``
  - n values, both end points included, evenly spaced (geometrically with ``log``); n = 1 gives
    [low] -> :func:`check_grid_values` (against ``np.linspace`` / ``np.geomspace``).
``grid_search(objective, grid, direction="maximize")``
  - calls ``objective(**params)`` exactly once for every combination of the grid and never otherwise
    -> :func:`check_grid_search` (counted calls, compared with ``sklearn.model_selection.ParameterGrid``).
  - history in the order of ``itertools.product`` (last name fastest), as (params, value) pairs.
  - returns (best_params, best_value, history); the best is the largest value (smallest with
    "minimize"), the first one on a tie -> known objectives whose optimum lies on the grid, ties.
``random_search(objective, space, n_trials, seed=0, direction="maximize")``
  - calls ``objective`` exactly ``n_trials`` times, one configuration per trial, every trial drawn
    anew from one generator seeded once -> :func:`check_random_search` (distinct configurations).
  - "uniform" and "log-uniform" stay in [low, high] with the right distribution (Kolmogorov-Smirnov
    test of the values, of their logarithms); "int" reaches both ends; a list is a choice among its
    options with equal probability (chi-square test) -> same check.
  - hyperparameters are drawn independently of each other (rank correlation between every two of them
    near 0) -> same check.
  - the same seed repeats the search, another seed gives another -> same check.
  - returns (best_params, best_value, history) like grid search; on a known objective, with its
    budget, the best of its trials is returned and is close to the optimum -> same check.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np

from course_utils import grading as G

NUMPY_ONLY = G.Limits(
    modules=("sklearn", "scipy", "pandas", "statsmodels", "mlxtend", "torchmetrics", "optuna", "torch", "skopt"),
    rule="Use NumPy and the Python standard library only: scikit-learn, SciPy, pandas, PyTorch and the "
         "course's course_utils.metrics and course_utils.search are switched off while your functions are graded.",
)


def _sk_metrics():
    import warnings

    from sklearn import metrics

    warnings.filterwarnings("ignore", module="sklearn")  # 0/0 warnings: the value is what we compare
    return metrics


def _show(array) -> str:
    array = np.asarray(array)
    return np.array2string(array, separator=", ", threshold=30, max_line_width=200) if array.size <= 30 else f"<{array.size} values>"


def graded(func, *args, **kwargs):
    """Call a student's function (or class, or method) under the guard with this assignment's limits."""
    return G.call_student(func, *args, limits=NUMPY_ONLY, **kwargs)


_call = graded


def _as_float(value: Any, what: str) -> float:
    if value is None:
        raise AssertionError(f"{what} returned None; did you forget a `return`?")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should be a number, got {type(value).__name__}: {value!r}") from None


# ------------------------------------------------------------------ random cases
def label_cases(rng: np.random.Generator, n_cases: int, n_classes: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(y_true, y_pred) pairs with the awkward cases mixed in: a class never predicted, one class only, perfect, tiny."""
    cases = []
    for i in range(n_cases):
        n = int(rng.choice([1, 2, 4, 7, 15, 40, 150]))
        k = n_classes or int(rng.integers(2, 6))
        offset = int(rng.integers(-1, 3))  # labels need not start at 0
        y_true, y_pred = rng.integers(0, k, n) + offset, rng.integers(0, k, n) + offset
        kind = i % 6
        if kind == 0:
            y_pred[y_pred == k - 1 + offset] = offset  # the last class is never predicted
        elif kind == 1:
            y_true[:] = y_true[0]  # one true class only
        elif kind == 2:
            y_pred[:] = y_pred[0]  # one class predicted for everything
        elif kind == 3:
            y_pred = y_true.copy()
        elif kind == 4:
            y_pred = np.where(rng.uniform(size=n) < 0.7, y_true, y_pred)  # mostly right
        cases.append((y_true, y_pred))
    return cases


def score_cases(rng: np.random.Generator, n_cases: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(y_true in {0, 1}, y_score) with both classes present: tied scores, all-equal scores, continuous scores."""
    cases = []
    for i in range(n_cases):
        n = int(rng.choice([2, 3, 6, 20, 75, 300]))
        y_true = rng.integers(0, 2, n)
        y_true[rng.choice(n, 2, replace=False)] = [0, 1]
        kind = i % 4
        if kind == 0:
            y_score = rng.integers(0, 4, n).astype(float)  # many ties
        elif kind == 1:
            y_score = np.round(rng.normal(size=n) + y_true, 1)  # some ties
        elif kind == 2:
            y_score = rng.normal(size=n) + rng.uniform(-1, 2) * y_true  # no ties; maybe worse than random
        else:
            y_score = np.full(n, float(rng.normal()))  # all equal
        cases.append((y_true, y_score))
    return cases


def regression_cases(rng: np.random.Generator, n_cases: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(y_true, y_pred): good, bad (R^2 < 0), perfect, the mean, and constant targets."""
    cases = []
    for i in range(n_cases):
        n = int(rng.choice([2, 3, 8, 30, 200]))
        y_true = rng.normal(size=n) * rng.uniform(0.1, 50) + rng.uniform(-100, 100)
        kind = i % 5
        if kind == 0:
            y_pred = y_true + rng.normal(size=n) * np.std(y_true) * rng.uniform(0.05, 3)
        elif kind == 1:
            y_pred = y_true.copy()
        elif kind == 2:
            y_pred = np.full(n, y_true.mean())
        elif kind == 3:
            y_true = np.full(n, float(rng.integers(-5, 5)))
            y_pred = y_true + (rng.normal(size=n) if i % 2 else 0.0)
        else:
            y_pred = rng.permutation(y_true)
        cases.append((y_true, y_pred))
    return cases


# ------------------------------------------------------------------ metrics
def check_confusion_matrix(confusion_matrix: Callable, rng: np.random.Generator, n_cases: int = 30) -> None:
    """The student's confusion matrix equals scikit-learn's on random cases, with and without ``labels``."""
    skm = _sk_metrics()
    for number, (y_true, y_pred) in enumerate(label_cases(rng, n_cases)):
        what = f"confusion_matrix(y_true={_show(y_true)}, y_pred={_show(y_pred)})"
        expected = skm.confusion_matrix(y_true, y_pred, labels=np.union1d(y_true, y_pred))
        actual = _call(confusion_matrix, y_true.copy(), y_pred.copy())
        _check_counts(actual, expected, what)
        if number % 3 == 0:
            present = np.union1d(y_true, y_pred)
            labels = rng.permutation(np.r_[present[rng.uniform(size=len(present)) < 0.7], present.max() + 1, y_true[0]])
            labels = np.unique(labels)[rng.permutation(len(np.unique(labels)))]
            expected = skm.confusion_matrix(y_true, y_pred, labels=labels)
            actual = _call(confusion_matrix, y_true.copy(), y_pred.copy(), labels=list(labels))
            _check_counts(actual, expected, f"{what[:-1]}, labels={list(labels)})")
    names = np.array(["cat", "dog", "bird"])
    y_true, y_pred = names[rng.integers(0, 3, 12)], names[rng.integers(0, 2, 12)]
    _check_counts(_call(confusion_matrix, y_true, y_pred), skm.confusion_matrix(y_true, y_pred),
                  f"confusion_matrix with string labels {list(y_true)} / {list(y_pred)}")


def _check_counts(actual, expected, what: str) -> None:
    if actual is None:
        raise AssertionError(f"{what} returned None; did you forget a `return`?")
    actual = np.asarray(actual)
    G.check_true(actual.shape == expected.shape, f"{what} has shape {actual.shape}, expected {expected.shape} "
                 "(one row and one column per label)")
    G.check_true(np.issubdtype(actual.dtype, np.integer), f"{what} should hold integer counts, got dtype {actual.dtype}")
    if not np.array_equal(actual, expected):
        i, j = np.argwhere(actual != expected)[0]
        raise AssertionError(f"{what}: entry [{i}, {j}] is {actual[i, j]}, expected {expected[i, j]}; "
                             f"expected matrix {expected.tolist()} (rows: true labels, columns: predicted)")


def check_precision_recall_f1(precision_recall_f1: Callable, rng: np.random.Generator, averages=("binary", "macro", "micro", "weighted"),
                              n_cases: int = 24) -> None:
    """(precision, recall, F1) equal scikit-learn's precision_recall_fscore_support(zero_division=0)."""
    skm = _sk_metrics()
    for average in averages:
        binary = average == "binary"
        for number, (y_true, y_pred) in enumerate(label_cases(rng, n_cases, n_classes=2 if binary else None)):
            kwargs = {"average": average}
            if binary:  # labels are {low, low + 1}; pos_label is one of them, present or not
                low = int(min(y_true.min(), y_pred.min())) if number % 3 else int(y_true.min())
                low = min(low, int(y_true.min()), int(y_pred.min()))
                y_true, y_pred = np.minimum(y_true, low + 1), np.minimum(y_pred, low + 1)
                pos_label = low + number % 2
                if number % 4 == 3:  # string labels
                    y_true = np.where(y_true == low, "no", "yes")
                    y_pred = np.where(y_pred == low, "no", "yes")
                    pos_label = "yes" if pos_label == low + 1 else "no"
                kwargs["pos_label"] = pos_label
            expected = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0.0, **kwargs)[:3]
            result = _call(precision_recall_f1, y_true.copy(), y_pred.copy(), **kwargs)
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            what = f"precision_recall_f1(y_true={_show(y_true)}, y_pred={_show(y_pred)}, {args})"
            G.check_true(isinstance(result, (tuple, list, np.ndarray)) and len(result) == 3,
                         f"{what} should return a tuple (precision, recall, f1), got {result!r}")
            for name, value, target in zip(("precision", "recall", "F1"), result, expected):
                value = _as_float(value, f"{what}: {name}")
                if not math.isclose(value, float(target), rel_tol=1e-9, abs_tol=1e-12):
                    raise AssertionError(f"{what}: {name} is {value:.6g}, expected {float(target):.6g}")


def check_roc_auc(roc_auc: Callable, rng: np.random.Generator, n_cases: int = 40) -> None:
    """roc_auc equals scikit-learn's roc_auc_score, ties counting one half."""
    skm = _sk_metrics()
    for y_true, y_score in score_cases(rng, n_cases):
        expected = skm.roc_auc_score(y_true, y_score)
        what = f"roc_auc(y_true={_show(y_true)}, y_score={_show(y_score)})"
        value = _as_float(_call(roc_auc, y_true.copy(), y_score.copy()), what)
        if not math.isclose(value, expected, abs_tol=1e-9):
            ties = len(y_score) - len(np.unique(y_score))
            hint = f" ({ties} tied scores here: a tied (positive, negative) pair counts 1/2)" if ties else ""
            raise AssertionError(f"{what} is {value:.6g}, expected {expected:.6g}{hint}")


def check_regression_metrics(r2_score: Callable, adjusted_r2: Callable, rng: np.random.Generator, n_cases: int = 25) -> None:
    """R^2 equals scikit-learn's r2_score; adjusted R^2 follows from it with n examples and p features."""
    skm = _sk_metrics()
    for y_true, y_pred in regression_cases(rng, n_cases):
        what = f"r2_score(y_true={_show(np.round(y_true, 3))}, y_pred={_show(np.round(y_pred, 3))})"
        expected = skm.r2_score(y_true, y_pred)
        value = _as_float(_call(r2_score, y_true.copy(), y_pred.copy()), what)
        if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9):
            constant = " (y_true is constant: return 1.0 if the predictions are perfect, else 0.0)" if np.ptp(y_true) == 0 else ""
            raise AssertionError(f"{what} is {value:.6g}, expected {expected:.6g}{constant}")
        n = len(y_true)
        if n >= 3:
            p = int(rng.integers(0, n - 1))  # n - p - 1 >= 1
            adjusted = 1 - (1 - expected) * (n - 1) / (n - p - 1)
            what = f"adjusted_r2(..., n_features={p}) with n={n} examples and R^2={expected:.6g}"
            value = _as_float(_call(adjusted_r2, y_true.copy(), y_pred.copy(), p), what)
            if not math.isclose(value, adjusted, rel_tol=1e-9, abs_tol=1e-9):
                raise AssertionError(f"{what} is {value:.6g}, expected {adjusted:.6g}")


def check_raises(func: Callable, args: tuple, kwargs: dict | None, what: str) -> None:
    """``func(*args, **kwargs)`` (graded) must raise ValueError."""
    try:
        _call(func, *args, **(kwargs or {}))
    except ValueError:
        return
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001 (any other exception is the wrong kind)
        raise AssertionError(f"{what} should raise ValueError, but raised {type(err).__name__}: {err}") from None
    raise AssertionError(f"{what} should raise ValueError, but returned normally")


# ------------------------------------------------------------------ dummy baseline
def check_dummy_baseline(DummyBaseline: type, rng: np.random.Generator, n_cases: int = 12) -> None:
    """DummyBaseline agrees with scikit-learn's DummyClassifier / DummyRegressor and keeps its state per object."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    for number in range(n_cases):
        n = int(rng.integers(1, 40))
        X = rng.normal(size=(n, int(rng.integers(1, 4))))
        X_new = rng.normal(size=(int(rng.integers(1, 10)), X.shape[1]))
        strategy = ["most_frequent", "mean", "median"][number % 3]
        if strategy == "most_frequent":
            k = int(rng.integers(1, 5))
            y = rng.integers(0, k, n) + int(rng.integers(-2, 3))
            if number % 2 and n >= 2:  # a tie between the two most frequent labels
                y = np.r_[np.full(n // 2, y.max()), np.full(n // 2, y.min() - 1)]
                X = X[: len(y)]
            expected = DummyClassifier(strategy="most_frequent").fit(X, y).predict(X_new)
        else:
            y = rng.normal(size=n) * 10
            expected = DummyRegressor(strategy=strategy).fit(X, y).predict(X_new)
        what = f"DummyBaseline({strategy!r}).fit(X, y={_show(np.round(y, 3))}).predict(X_new)"
        model = _call(DummyBaseline, strategy)
        returned = _call(model.fit, X, y)
        G.check_true(returned is model, f"{what}: fit should return the object itself (return self)")
        predictions = _call(model.predict, X_new)
        G.check_true(predictions is not None, f"{what}: predict returned None")
        predictions = np.asarray(predictions)
        G.check_true(predictions.shape == (len(X_new),), f"{what}: predict should return one value per row of X_new "
                     f"(shape ({len(X_new)},)), got shape {predictions.shape}")
        if strategy == "most_frequent":
            G.check_true(np.array_equal(predictions, expected), f"{what} gives {predictions.tolist()}, expected "
                         f"{expected.tolist()} (the most frequent label; the smallest one on a tie)")
        else:
            G.check_close(predictions.astype(float), expected, name=what, rtol=1e-9, atol=1e-9)
    # a second fit replaces the first; two objects keep their own state
    first, second = _call(DummyBaseline, "mean"), _call(DummyBaseline, "mean")
    _call(first.fit, np.zeros((3, 1)), np.array([1.0, 2.0, 3.0]))
    _call(second.fit, np.zeros((2, 1)), np.array([10.0, 30.0]))
    G.check_close(np.asarray(_call(first.predict, np.zeros((2, 1))), float), [2.0, 2.0],
                  name="a first DummyBaseline('mean') fitted on [1, 2, 3], after a second object was fitted on [10, 30]")
    _call(first.fit, np.zeros((2, 1)), np.array([-4.0, -6.0]))
    G.check_close(np.asarray(_call(first.predict, np.zeros((1, 1))), float), [-5.0],
                  name="DummyBaseline('mean') refitted on [-4, -6] (a second fit replaces the first)")
    check_raises(DummyBaseline, ("cleverest",), None, "DummyBaseline('cleverest') (an unknown strategy)")


# ------------------------------------------------------------------ searches
class CountingObjective:
    """An objective that records every call: ``value(**params)`` plus the list ``calls`` of the params it got."""

    def __init__(self, value: Callable[..., float]):
        self.value = value
        self.calls: list[dict] = []

    def __call__(self, **params) -> float:
        self.calls.append(dict(params))
        return float(self.value(**params))


def peaked_objective(centre: dict, scales: dict) -> Callable[..., float]:
    """A score of 1 at ``centre`` falling off with distance (per-hyperparameter ``scales``), pure Python."""
    def value(**params):
        distance = 0.0
        for name, c in centre.items():
            x = params[name]
            distance += ((math.log(x) - math.log(c)) if scales[name] == "log" else (x - c) / scales[name]) ** 2 \
                if not isinstance(c, str) else (0.0 if x == c else 1.0)
        return 1.0 / (1.0 + distance)
    return value


def check_grid_values(grid_values: Callable, rng: np.random.Generator, n_cases: int = 8) -> None:
    """grid_values equals np.linspace / np.geomspace: n values with both end points."""
    for number in range(n_cases):
        n = int(rng.integers(1, 9)) if number else 1
        log = bool(number % 2)
        low = float(10 ** rng.uniform(-5, -1)) if log else float(rng.uniform(-10, 5))
        high = low * float(10 ** rng.uniform(1, 4)) if log else low + float(rng.uniform(0.5, 20))
        expected = (np.geomspace(low, high, n) if log else np.linspace(low, high, n)) if n > 1 else np.array([low])
        what = f"grid_values({low:.6g}, {high:.6g}, {n}, log={log})"
        G.check_close(_call(grid_values, low, high, n, log=log), expected, name=what, rtol=1e-9, atol=1e-12)


def check_grid_search(grid_search: Callable, rng: np.random.Generator, n_cases: int = 6) -> None:
    """Every combination exactly once, in itertools.product order; the best (first on ties) returned."""
    from sklearn.model_selection import ParameterGrid

    for number in range(n_cases):
        names = ["lr", "width", "activation", "dropout"][: int(rng.integers(1, 5))]
        pools = {"lr": list(np.round(np.geomspace(1e-4, 1, int(rng.integers(1, 6))), 8)),
                 "width": [int(w) for w in rng.choice([8, 16, 32, 64, 128], int(rng.integers(1, 4)), replace=False)],
                 "activation": list(rng.permutation(["relu", "tanh", "gelu"])[: int(rng.integers(1, 4))]),
                 "dropout": list(np.round(rng.uniform(0, 0.8, int(rng.integers(1, 4))), 3))}
        grid = {name: pools[name] for name in names}
        combos = list(itertools.product(*grid.values()))
        best_combo = combos[int(rng.integers(len(combos)))]
        centre = dict(zip(names, best_combo))
        scales = {"lr": "log", "width": 50.0, "activation": None, "dropout": 0.3}
        value = peaked_objective(centre, scales)
        direction = "minimize" if number % 2 else "maximize"
        objective = CountingObjective(value if direction == "maximize" else (lambda **p: -value(**p)))
        what = f"grid_search(objective, grid={grid}, direction={direction!r})"
        result = _call(grid_search, objective, grid, direction=direction)
        best_params, best_value, history = _unpack(result, what)
        expected_calls = [dict(params) for params in ParameterGrid(grid)]
        G.check_true(len(objective.calls) == len(combos), f"{what} called the objective {len(objective.calls)} times; "
                     f"the grid has {len(combos)} combinations, each to be evaluated exactly once")
        G.check_true(sorted(map(_key, objective.calls)) == sorted(map(_key, expected_calls)),
                     f"{what} evaluated {objective.calls[:4]}...; expected every combination of the grid exactly once")
        product_order = [dict(zip(names, combo)) for combo in combos]
        G.check_true([_key(p) for p in objective.calls] == [_key(p) for p in product_order],
                     f"{what}: evaluate the combinations in the order of itertools.product(*grid.values()) "
                     f"(the last hyperparameter changes fastest): expected {product_order[:3]}..., got {objective.calls[:3]}...")
        _check_history(history, objective, what)
        G.check_true(_key(best_params) == _key(centre), f"{what} returned best_params {best_params}; the best combination is {centre}")
        G.check_true(math.isclose(_as_float(best_value, f"{what}: best_value"), objective.value(**centre)),
                     f"{what} returned best_value {best_value}, but the objective at {centre} is {objective.value(**centre)}")
    # ties: the first configuration in evaluation order wins
    grid = {"a": [3, 1, 2], "b": [0, 1]}
    objective = CountingObjective(lambda a, b: float(a != 3 and b == 1))  # (1, 1) and (2, 1) tie
    best_params, _, _ = _unpack(_call(grid_search, objective, grid), "grid_search on a tie")
    G.check_true(_key(best_params) == _key({"a": 1, "b": 1}), f"grid_search with grid {grid}: (a=1, b=1) and (a=2, b=1) "
                 f"tie for the best value; return the first one evaluated, got {best_params}")


def _key(params: dict) -> tuple:
    return tuple(sorted((str(k), str(v)) for k, v in dict(params).items()))


def _unpack(result: Any, what: str) -> tuple[dict, float, list]:
    G.check_true(isinstance(result, (tuple, list)) and len(result) == 3,
                 f"{what} should return a tuple (best_params, best_value, history), got {type(result).__name__}")
    best_params, best_value, history = result
    G.check_true(isinstance(best_params, dict), f"{what}: best_params should be a dict, got {type(best_params).__name__}")
    G.check_true(isinstance(history, (list, tuple)), f"{what}: history should be a list of (params, value), got {type(history).__name__}")
    return best_params, best_value, list(history)


def _check_history(history: list, objective: CountingObjective, what: str) -> None:
    G.check_true(len(history) == len(objective.calls), f"{what}: history has {len(history)} entries but the objective "
                 f"was called {len(objective.calls)} times; record one (params, value) pair per call")
    for k, (entry, called) in enumerate(zip(history, objective.calls)):
        G.check_true(isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], dict),
                     f"{what}: history[{k}] should be a pair (params dict, value), got {entry!r}")
        G.check_true(_key(entry[0]) == _key(called), f"{what}: history[{k}] holds params {entry[0]}, but call {k} "
                     f"evaluated {called}; keep the history in the order of the calls")
        G.check_true(math.isclose(_as_float(entry[1], f"{what}: history[{k}] value"), objective.value(**called)),
                     f"{what}: history[{k}] records the value {entry[1]}, but the objective returned {objective.value(**called)}")


def check_random_search(random_search: Callable, rng: np.random.Generator) -> None:
    """Budget, independence, distributions, reproducibility, and the best trial returned."""
    from scipy import stats

    low_lr, high_lr = float(10 ** rng.uniform(-6, -4)), float(10 ** rng.uniform(-2, 0))
    low_x, high_x = float(rng.uniform(-5, 0)), float(rng.uniform(1, 5))
    low_n, high_n = int(rng.integers(1, 5)), int(rng.integers(6, 9))
    options = list(rng.permutation(["relu", "tanh", "gelu", "silu"])[: int(rng.integers(2, 5))])
    space = {"lr": ("log-uniform", low_lr, high_lr), "x": ("uniform", low_x, high_x), "layers": ("int", low_n, high_n),
             "activation": options}
    n_trials, seed = int(rng.integers(300, 400)), int(rng.integers(0, 2**31))
    objective = CountingObjective(lambda lr, x, layers, activation: -abs(math.log(lr)) - x**2 - layers / 10 + (activation == options[0]))
    what = f"random_search(objective, space={space}, n_trials={n_trials}, seed={seed})"
    best_params, best_value, history = _unpack(_call(random_search, objective, space, n_trials, seed=seed), what)
    calls = objective.calls
    G.check_true(len(calls) == n_trials, f"{what} called the objective {len(calls)} times; it must run exactly n_trials={n_trials} trials")
    G.check_true(all(set(c) == set(space) for c in calls), f"{what}: every call needs exactly the names {sorted(space)}, got {calls[0]}")
    distinct = len({_key(c) for c in calls})
    G.check_true(distinct == n_trials, f"{what}: only {distinct} distinct configurations among {n_trials} trials; draw every "
                 "trial anew from one generator created once with the seed (not a new generator per trial)")
    _check_history(history, objective, what)
    lrs, xs = np.array([c["lr"] for c in calls], float), np.array([c["x"] for c in calls], float)
    layers, acts = np.array([c["layers"] for c in calls]), [c["activation"] for c in calls]
    G.check_true(lrs.min() >= low_lr and lrs.max() <= high_lr and xs.min() >= low_x and xs.max() <= high_x,
                 f"{what}: values outside their ranges (lr in [{lrs.min():.3g}, {lrs.max():.3g}], x in [{xs.min():.3g}, {xs.max():.3g}])")
    p_log = stats.kstest(np.log(lrs), stats.uniform(math.log(low_lr), math.log(high_lr) - math.log(low_lr)).cdf).pvalue
    G.check_true(p_log > 1e-4, f"{what}: the 'log-uniform' values are not uniform on a log scale (KS test p={p_log:.1e}); "
                 "draw the logarithm uniformly between log(low) and log(high)")
    p_lin = stats.kstest(xs, stats.uniform(low_x, high_x - low_x).cdf).pvalue
    G.check_true(p_lin > 1e-4, f"{what}: the 'uniform' values are not uniform on [{low_x:.3g}, {high_x:.3g}] (KS test p={p_lin:.1e})")
    G.check_true(all(float(v).is_integer() for v in layers) and set(layers.astype(int)) == set(range(low_n, high_n + 1)),
                 f"{what}: 'int' values should be whole numbers covering {low_n}..{high_n} (both ends included), got {sorted(set(layers.tolist()))}")
    counts = np.array([acts.count(o) for o in options])
    p_choice = stats.chisquare(counts).pvalue
    G.check_true(set(acts) <= set(options) and p_choice > 1e-4,
                 f"{what}: a list is a choice among its options with equal probability; counts {dict(zip(options, counts.tolist()))}")
    columns = {"lr": np.log(lrs), "x": xs, "layers": layers.astype(float)}
    for (name_a, a), (name_b, b) in itertools.combinations(columns.items(), 2):
        rho = stats.spearmanr(a, b).statistic
        G.check_true(abs(rho) < 0.3, f"{what}: the values of {name_a!r} and {name_b!r} move together (rank correlation "
                     f"{rho:.2f} over {n_trials} trials); hyperparameters must be drawn independently, all from one generator")
    values = [objective.value(**c) for c in calls]
    best_index = int(np.argmax(values))
    G.check_true(_key(best_params) == _key(calls[best_index]) and math.isclose(_as_float(best_value, "best_value"), values[best_index]),
                 f"{what} returned {best_params} with value {best_value}; the best trial it ran was {calls[best_index]} "
                 f"with value {values[best_index]}")
    # the same seed repeats the search; another seed gives another; minimisation
    again = CountingObjective(objective.value)
    _call(random_search, again, space, n_trials, seed=seed)
    G.check_true([_key(c) for c in again.calls] == [_key(c) for c in calls],
                 f"random_search run twice with the same seed ({seed}) tried different configurations; create one "
                 "generator with np.random.default_rng(seed) inside the function and draw everything from it")
    other = CountingObjective(objective.value)
    _call(random_search, other, space, n_trials, seed=seed + 1)
    G.check_true(len({_key(c) for c in other.calls} & {_key(c) for c in calls}) < n_trials // 10,
                 f"random_search with seeds {seed} and {seed + 1} ran (nearly) the same trials; the seed must matter")
    low = CountingObjective(lambda lr, x, layers, activation: abs(x - 0.5))
    best_params, best_value, _ = _unpack(_call(random_search, low, space, 50, seed=seed, direction="minimize"),
                                         "random_search(direction='minimize')")
    smallest = min(abs(c["x"] - 0.5) for c in low.calls)
    G.check_true(math.isclose(_as_float(best_value, "best_value"), smallest),
                 f"random_search(..., direction='minimize') returned {best_value}; the smallest value among its trials was {smallest}")
    # a known objective: one important hyperparameter whose good region is a fifth of its range
    centre = float(rng.uniform(0.2, 0.8))
    known = CountingObjective(lambda a, b: -abs(a - centre) - 1e-3 * b)
    n_trials = int(rng.integers(60, 90))
    best_params, best_value, _ = _unpack(_call(random_search, known, {"a": ("uniform", 0.0, 1.0), "b": ("uniform", 0.0, 1.0)},
                                               n_trials, seed=int(rng.integers(2**31))), "random_search on a known objective")
    G.check_true(len(known.calls) == n_trials and abs(best_params["a"] - centre) < 0.1,
                 f"random search with {n_trials} trials on an objective whose optimum is at a={centre:.3f} returned a="
                 f"{best_params['a']:.3f} after {len(known.calls)} calls; {n_trials} uniform draws land within 0.1 of it "
                 "with probability above 1 - 1e-5")


# ------------------------------------------------------------------ tools for the notebook
def bergstra_objective(x: float, y: float) -> float:
    """A score that depends strongly on x and hardly on y, on [0, 1]^2 (maximum about 1.05)."""
    return math.exp(-((x - 0.63) ** 2) / 0.01) + 0.05 * math.sin(3 * y)
