"""Model selection written from scratch (reference for chapter 7 and assignment a06).

* Grid and random search over hyperparameters: :func:`grid_values`, :func:`grid_search`,
  :class:`Uniform`, :class:`IntUniform`, :class:`Choice`, :func:`random_search`.
* Cross-validation splits: :func:`kfold_indices` (the same folds as scikit-learn's ``KFold``) and
  :func:`stratified_kfold_indices`.
* Bayesian optimisation in miniature: a Gaussian-process regressor with an RBF kernel
  (:class:`GaussianProcess`, the same posterior as scikit-learn's ``GaussianProcessRegressor``),
  :func:`expected_improvement`, and :func:`bayesian_optimisation`, which alternates the two on a
  1-D or 2-D box.

These teach the ideas. Real searches in the course use Optuna, a maintained library whose TPE
sampler and shared storages (SQLite, PostgreSQL) go far beyond this file.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from course_utils.grading import reference

DIRECTIONS = ("minimize", "maximize")


# ------------------------------------------------------------------ search spaces
@dataclass(frozen=True)
class Uniform:
    """A real hyperparameter drawn uniformly from [low, high], or log-uniformly with ``log=True``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not self.low < self.high:
            raise ValueError(f"Uniform needs low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-uniform range must be positive, got [{self.low}, {self.high}]")

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class IntUniform:
    """An integer hyperparameter drawn uniformly from {low, ..., high} (both ends included)."""

    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice:
    """A categorical hyperparameter: one of ``options``, each with the same probability."""

    options: tuple

    def __init__(self, options: Sequence):
        if len(options) == 0:
            raise ValueError("Choice needs at least one option")
        object.__setattr__(self, "options", tuple(options))

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]


@dataclass
class SearchResult:
    """What a search returns: the best configuration, its value, and every trial in the order run."""

    best_params: dict
    best_value: float
    trials: list[tuple[dict, float]] = field(default_factory=list)

    def values(self) -> np.ndarray:
        return np.array([value for _, value in self.trials])

    def best_so_far(self, direction: str = "maximize") -> np.ndarray:
        """The best value among the first k trials, for k = 1, 2, ... (for plots of search progress)."""
        accumulate = np.maximum.accumulate if direction == "maximize" else np.minimum.accumulate
        return accumulate(self.values())


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def _run_trials(objective, configurations, direction: str, progress: bool, desc: str, total: int | None) -> SearchResult:
    _check_direction(direction)
    better = (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)
    best_params, best_value, trials = None, math.nan, []
    for params in tqdm(configurations, desc=desc, total=total, disable=not progress, leave=False):
        value = float(objective(**params))
        trials.append((params, value))
        if best_params is None or better(value, best_value) or (math.isnan(best_value) and not math.isnan(value)):
            best_params, best_value = params, value
    if best_params is None:
        raise ValueError("the search ran no trial")
    return SearchResult(best_params, best_value, trials)


# ----------------------------------------------------------------- grid search
@reference
def grid_values(low: float, high: float, n: int, log: bool = False) -> np.ndarray:
    """``n`` evenly spaced values from ``low`` to ``high``, both end points included (log-spaced with ``log``)."""
    if n < 1:
        raise ValueError(f"a grid needs at least one value, got n={n}")
    if n == 1:
        return np.array([float(low)])
    if log:
        if low <= 0 or high <= 0:
            raise ValueError(f"a log-spaced grid needs positive end points, got {low} and {high}")
        return np.exp(np.linspace(math.log(low), math.log(high), n))
    return np.linspace(low, high, n)


@reference
def grid_search(
    objective: Callable[..., float],
    grid: Mapping[str, Sequence],
    direction: str = "maximize",
    progress: bool = False,
) -> SearchResult:
    """Evaluate ``objective(**params)`` at every combination of the values in ``grid`` (name -> values).

    The cost is the product of the grid sizes: it grows exponentially with the number of hyperparameters.
    Ties keep the first configuration evaluated (the order of ``itertools.product``).
    """
    names = list(grid)
    value_lists = [list(grid[name]) for name in names]
    total = math.prod(len(values) for values in value_lists)
    configurations = (dict(zip(names, combination)) for combination in itertools.product(*value_lists))
    return _run_trials(objective, configurations, direction, progress, "grid search", total)


# --------------------------------------------------------------- random search
def _sample(space: Mapping[str, Any], rng: np.random.Generator) -> dict:
    params = {}
    for name, dist in space.items():
        if isinstance(dist, (Uniform, IntUniform, Choice)):
            params[name] = dist.sample(rng)
        elif isinstance(dist, (list, tuple)):
            params[name] = Choice(dist).sample(rng)
        else:  # a fixed value
            params[name] = dist
    return params


@reference
def random_search(
    objective: Callable[..., float],
    space: Mapping[str, Any],
    n_trials: int,
    seed: int | None = 0,
    direction: str = "maximize",
    progress: bool = False,
) -> SearchResult:
    """Evaluate ``objective`` at ``n_trials`` configurations drawn independently from ``space``.

    ``space`` maps a name to a :class:`Uniform`, :class:`IntUniform` or :class:`Choice` (a list is a
    Choice; anything else a fixed value). One generator seeded once with ``seed`` draws every trial,
    so the trials differ from each other and the same seed repeats the same search.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    rng = np.random.default_rng(seed)
    configurations = (_sample(space, rng) for _ in range(n_trials))
    return _run_trials(objective, configurations, direction, progress, "random search", n_trials)


# ----------------------------------------------------------- cross-validation
@reference
def kfold_indices(n_samples: int, k: int, shuffle: bool = False, seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays for k-fold cross-validation: k test folds that partition range(n_samples).

    The first ``n_samples % k`` folds hold one example more than the others, as in scikit-learn's
    ``KFold``; without ``shuffle`` the folds are consecutive blocks.
    """
    if not 2 <= k <= n_samples:
        raise ValueError(f"k-fold needs 2 <= k <= n_samples, got k={k}, n_samples={n_samples}")
    order = np.random.default_rng(seed).permutation(n_samples) if shuffle else np.arange(n_samples)
    sizes = np.full(k, n_samples // k)
    sizes[: n_samples % k] += 1
    stops = np.cumsum(sizes)
    for stop, size in zip(stops, sizes):
        test = order[stop - size: stop]
        train = np.r_[order[: stop - size], order[stop:]]
        yield np.sort(train), np.sort(test)


@reference
def stratified_kfold_indices(y, k: int, seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) splits whose test folds keep each class's share: per class, fold sizes differ by at most 1.

    Each class's examples (shuffled when ``seed`` is given) are dealt out to the folds in turn,
    continuing where the previous class stopped so that the fold sizes stay balanced too.
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if not 2 <= k <= len(y):
        raise ValueError(f"stratified k-fold needs 2 <= k <= n_samples, got k={k}, n_samples={len(y)}")
    if counts.max() < k:
        raise ValueError(f"no class has k={k} examples; lower k")
    rng = np.random.default_rng(seed) if seed is not None else None
    fold_of = np.empty(len(y), dtype=int)
    start = 0
    for label in classes:
        members = np.flatnonzero(y == label)
        if rng is not None:
            members = rng.permutation(members)
        fold_of[members] = (start + np.arange(len(members))) % k
        start = (start + len(members)) % k
    for fold in range(k):
        yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


# ------------------------------------------------------- Gaussian-process surrogate
def rbf_kernel(A: np.ndarray, B: np.ndarray, length_scale: float, variance: float = 1.0) -> np.ndarray:
    """k(a, b) = variance * exp(-|a - b|^2 / (2 length_scale^2)) for every pair of rows: (len(A), len(B))."""
    A, B = np.atleast_2d(A), np.atleast_2d(B)
    squared_distances = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    return variance * np.exp(-0.5 * squared_distances / length_scale**2)


@reference
class GaussianProcess:
    """GP regression with an RBF kernel, fixed hyperparameters and observation noise ``noise`` (a variance).

    The posterior at test points X* given data (X, y) is Gaussian with

        mean = K*^T (K + noise I)^{-1} y,   var = k(x*, x*) - K*^T (K + noise I)^{-1} K*,

    computed with a Cholesky factor. The predicted standard deviation is that of the function, not of
    a new noisy observation, as in scikit-learn's ``GaussianProcessRegressor(alpha=noise)``.
    """

    def __init__(self, length_scale: float = 1.0, variance: float = 1.0, noise: float = 1e-6):
        self.length_scale, self.variance, self.noise = float(length_scale), float(variance), float(noise)

    def fit(self, X, y) -> "GaussianProcess":
        self.X = np.atleast_2d(np.asarray(X, float))  # (N, d)
        if self.X.shape[0] == 1 and np.ndim(X) == 1:
            self.X = self.X.T  # a 1-D input array is N points in one dimension
        self.y = np.asarray(y, float).ravel()  # (N,)
        K = rbf_kernel(self.X, self.X, self.length_scale, self.variance) + self.noise * np.eye(len(self.y))
        self.L = np.linalg.cholesky(K)  # K = L L^T
        self.alpha = np.linalg.solve(self.L.T, np.linalg.solve(self.L, self.y))  # (K + noise I)^{-1} y
        return self

    def _points(self, X) -> np.ndarray:
        X = np.asarray(X, float)
        return X[:, None] if X.ndim == 1 and self.X.shape[1] == 1 else np.atleast_2d(X)

    def predict(self, X, return_std: bool = False):
        """Posterior mean (M,) at X (M, d), and its standard deviation (M,) with ``return_std``."""
        X = self._points(X)
        K_star = rbf_kernel(self.X, X, self.length_scale, self.variance)  # (N, M)
        mean = K_star.T @ self.alpha
        if not return_std:
            return mean
        v = np.linalg.solve(self.L, K_star)  # (N, M)
        var = self.variance - (v**2).sum(axis=0)
        return mean, np.sqrt(np.clip(var, 0.0, None))

    def log_marginal_likelihood(self) -> float:
        """log p(y | X) = -y^T (K + noise I)^{-1} y / 2 - sum(log diag L) - N log(2 pi) / 2."""
        return float(-0.5 * self.y @ self.alpha - np.log(np.diag(self.L)).sum() - 0.5 * len(self.y) * math.log(2 * math.pi))


def fit_gp(X, y, length_scales: Sequence[float] = tuple(np.geomspace(0.1, 3.0, 25)), noise: float = 1e-6) -> GaussianProcess:
    """A GP (unit variance, for standardised y) whose length scale maximises the marginal likelihood among ``length_scales``.

    The default range suits inputs rescaled to [0, 1]: it assumes the function does not wiggle on
    scales shorter than a tenth of the box, which keeps a fit to the first few points from
    collapsing onto spikes at the data.
    """
    best, best_lml = None, -math.inf
    for length_scale in length_scales:
        try:
            gp = GaussianProcess(length_scale, 1.0, noise).fit(X, y)
        except np.linalg.LinAlgError:  # too long a length scale for nearby points: K is numerically singular
            continue
        lml = gp.log_marginal_likelihood()
        if lml > best_lml:
            best, best_lml = gp, lml
    if best is None:
        raise ValueError("no length scale gave a positive-definite kernel matrix; raise the noise")
    return best


@reference
def expected_improvement(mean, std, best: float, xi: float = 0.0) -> np.ndarray:
    """E[max(best - f - xi, 0)] for f ~ N(mean, std^2), for minimisation.

    With z = (best - mean - xi) / std: EI = (best - mean - xi) Phi(z) + std phi(z). The first term
    rewards a low predicted mean (exploitation), the second a large uncertainty (exploration).
    Where std = 0 it is max(best - mean - xi, 0).
    """
    from scipy.stats import norm

    mean, std = np.asarray(mean, float), np.asarray(std, float)
    gain = best - mean - xi
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, gain / np.where(std > 0, std, 1.0), 0.0)
        ei = gain * norm.cdf(z) + std * norm.pdf(z)
    return np.where(std > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


@dataclass
class BayesOptResult:
    """Every point tried (X (T, d)) and its value (y (T,)), in order; the first ``n_initial`` are random."""

    X: np.ndarray
    y: np.ndarray
    n_initial: int

    @property
    def best_x(self) -> np.ndarray:
        return self.X[int(np.argmin(self.y))]

    @property
    def best_y(self) -> float:
        return float(self.y.min())


@reference
def bayesian_optimisation(
    objective: Callable[[np.ndarray], float],
    bounds: Sequence[tuple[float, float]],
    n_initial: int = 3,
    n_iterations: int = 10,
    seed: int = 0,
    n_candidates: int = 2000,
    noise: float = 1e-6,
    progress: bool = False,
) -> BayesOptResult:
    """Minimise ``objective(x)`` over the box ``bounds`` ([(low, high)] per dimension) with GP + EI.

    ``n_initial`` random points, then ``n_iterations`` times: fit a GP to the (rescaled) points seen
    so far, and evaluate the objective where the expected improvement over the best value is largest
    among ``n_candidates`` random points of the box.
    """
    bounds = np.asarray(bounds, float)  # (d, 2)
    low, width = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
    rng = np.random.default_rng(seed)
    unit = list(rng.uniform(size=(n_initial, len(bounds))))  # points in [0, 1]^d
    values = [float(objective(low + width * u)) for u in unit]
    for _ in tqdm(range(n_iterations), desc="Bayesian optimisation", disable=not progress, leave=False):
        y = np.array(values)
        scale = y.std() if y.std() > 0 else 1.0
        gp = fit_gp(np.array(unit), (y - y.mean()) / scale, noise=noise)  # the surrogate lives on [0, 1]^d
        candidates = rng.uniform(size=(n_candidates, len(bounds)))
        mean, std = gp.predict(candidates, return_std=True)
        ei = expected_improvement(mean, std, best=(y.min() - y.mean()) / scale)
        chosen = candidates[int(np.argmax(ei))]
        unit.append(chosen)
        values.append(float(objective(low + width * chosen)))
    return BayesOptResult(low + width * np.array(unit), np.array(values), n_initial)
