"""course_utils.search: grid and random search, CV splits against scikit-learn, the GP against
scikit-learn's GaussianProcessRegressor, expected improvement against numerical integration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn import model_selection as skms
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from course_utils import search as S


def test_grid_values_include_both_end_points():
    np.testing.assert_allclose(S.grid_values(0.0, 1.0, 5), np.linspace(0, 1, 5))
    np.testing.assert_allclose(S.grid_values(1e-4, 1e-1, 4, log=True), np.geomspace(1e-4, 1e-1, 4))
    assert S.grid_values(2.0, 3.0, 1).tolist() == [2.0]
    with pytest.raises(ValueError, match="positive"):
        S.grid_values(0.0, 1.0, 3, log=True)


def test_grid_search_tries_every_combination_once_and_returns_the_best():
    calls = []

    def objective(a, b, c):
        calls.append((a, b, c))
        return -((a - 2) ** 2) - (b - 0.5) ** 2 + (c == "x")

    grid = {"a": [0, 1, 2, 3], "b": [0.0, 0.5, 1.0], "c": ["x", "y"]}
    result = S.grid_search(objective, grid)
    assert sorted(calls, key=str) == sorted(itertools.product(*grid.values()), key=str)
    assert result.best_params == {"a": 2, "b": 0.5, "c": "x"} and result.best_value == 1.0
    assert len(result.trials) == 24
    low = S.grid_search(objective, grid, direction="minimize")
    assert low.best_value == min(v for _, v in low.trials)


def test_grid_search_matches_sklearn_parameter_grid():
    grid = {"lr": [0.1, 0.01], "width": [8, 16, 32]}
    result = S.grid_search(lambda lr, width: lr * width, grid)
    ours = [params for params, _ in result.trials]
    assert sorted(map(str, ours)) == sorted(map(str, skms.ParameterGrid(grid)))


def test_random_search_draws_distinct_reproducible_trials_from_the_space():
    space = {"lr": S.Uniform(1e-4, 1e-1, log=True), "width": S.IntUniform(4, 9), "act": ["relu", "tanh"], "fixed": 3}
    result = S.random_search(lambda **p: -abs(math.log10(p["lr"]) + 2), space, n_trials=400, seed=5)
    lrs = np.array([p["lr"] for p, _ in result.trials])
    widths = np.array([p["width"] for p, _ in result.trials])
    assert len(set(lrs)) == 400, "every trial draws a new value"
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1
    assert stats.kstest(np.log10(lrs), stats.uniform(-4, 3).cdf).pvalue > 1e-3  # log-uniform
    assert set(widths) == set(range(4, 10))  # both integer end points reachable
    assert {p["act"] for p, _ in result.trials} == {"relu", "tanh"}
    assert all(p["fixed"] == 3 for p, _ in result.trials)
    assert result.best_value == max(v for _, v in result.trials)
    again = S.random_search(lambda **p: -abs(math.log10(p["lr"]) + 2), space, n_trials=400, seed=5)
    assert again.trials == result.trials
    other = S.random_search(lambda **p: 0.0, space, n_trials=5, seed=6)
    assert other.trials[0][0] != result.trials[0][0]


def test_random_search_beats_grid_when_one_of_two_hyperparameters_matters():
    """Bergstra and Bengio's point, on average over many searches with the same budget of 9 trials."""
    def objective(x, y):
        return -((x - 0.37) ** 2) - 0.001 * (y - 0.5) ** 2  # only x matters

    grid = S.grid_search(objective, {"x": S.grid_values(0, 1, 3), "y": S.grid_values(0, 1, 3)})
    randoms = [S.random_search(objective, {"x": S.Uniform(0, 1), "y": S.Uniform(0, 1)}, 9, seed=s).best_value
               for s in range(200)]
    assert np.mean(np.array(randoms) > grid.best_value) > 0.8


@pytest.mark.parametrize("n,k", [(10, 2), (10, 3), (11, 5), (7, 7), (100, 6)])
def test_kfold_matches_sklearn(n, k):
    ours = list(S.kfold_indices(n, k))
    theirs = list(skms.KFold(n_splits=k).split(np.zeros(n)))
    assert len(ours) == len(theirs) == k
    for (train, test), (sk_train, sk_test) in zip(ours, theirs):
        np.testing.assert_array_equal(train, sk_train)
        np.testing.assert_array_equal(test, sk_test)


def test_shuffled_kfold_partitions_the_data_with_sklearn_fold_sizes():
    ours = list(S.kfold_indices(23, 4, shuffle=True, seed=0))
    sk_sizes = [len(test) for _, test in skms.KFold(4, shuffle=True, random_state=0).split(np.zeros(23))]
    assert [len(test) for _, test in ours] == sk_sizes
    assert np.array_equal(np.sort(np.concatenate([test for _, test in ours])), np.arange(23))
    assert any(not np.array_equal(test, np.sort(test)) or test[-1] - test[0] != len(test) - 1 for _, test in ours)
    for train, test in ours:
        assert not set(train) & set(test) and len(train) + len(test) == 23


@pytest.mark.parametrize("seed", range(10))
def test_stratified_kfold_has_sklearn_class_counts_per_fold(seed):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=int(rng.integers(30, 90)), p=[0.6, 0.3, 0.1])
    k = int(rng.integers(2, 6))
    if np.bincount(y, minlength=3).min() < k:
        y[: 3 * k] = np.repeat(np.arange(3), k)
    ours = list(S.stratified_kfold_indices(y, k, seed=seed))
    theirs = list(skms.StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    def counts(splits):
        return sorted(tuple(np.bincount(y[test], minlength=3)) for _, test in splits)
    for mine, sk_counts in zip(counts(ours), counts(theirs)):
        assert np.abs(np.array(mine) - np.array(sk_counts)).max() <= 1
    assert np.array_equal(np.sort(np.concatenate([test for _, test in ours])), np.arange(len(y)))
    for _, test in ours:  # every class in every fold, in proportion
        per_class = np.bincount(y[test], minlength=3)
        assert np.all(np.abs(per_class - np.bincount(y, minlength=3) / k) < 1 + 1e-9)


def test_kfold_bad_input():
    with pytest.raises(ValueError, match="2 <= k"):
        list(S.kfold_indices(5, 6))
    with pytest.raises(ValueError, match="lower k"):
        list(S.stratified_kfold_indices([0, 0, 1, 1], 3))


@pytest.mark.parametrize("seed", range(8))
def test_gaussian_process_posterior_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 3))
    X = rng.uniform(-2, 2, size=(int(rng.integers(2, 15)), d))
    y = np.sin(X).sum(1) + 0.1 * rng.normal(size=len(X))
    length_scale, variance, noise = rng.uniform(0.3, 2), rng.uniform(0.5, 3), 10 ** rng.uniform(-6, -1)
    ours = S.GaussianProcess(length_scale, variance, noise).fit(X, y)
    theirs = GaussianProcessRegressor(ConstantKernel(variance) * RBF(length_scale), alpha=noise, optimizer=None).fit(X, y)
    X_test = rng.uniform(-3, 3, size=(40, d))
    mean, std = ours.predict(X_test, return_std=True)
    sk_mean, sk_std = theirs.predict(X_test, return_std=True)
    np.testing.assert_allclose(mean, sk_mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(std, sk_std, rtol=1e-5, atol=1e-6)
    assert ours.log_marginal_likelihood() == pytest.approx(theirs.log_marginal_likelihood_value_, rel=1e-8)


def test_gaussian_process_accepts_1d_inputs():
    x = np.linspace(0, 1, 5)
    gp = S.GaussianProcess(0.3).fit(x, x**2)
    assert gp.predict(np.array([0.5])).shape == (1,)
    np.testing.assert_allclose(gp.predict(x), x**2, atol=1e-4)  # interpolates the data


def test_fit_gp_picks_the_length_scale_that_maximises_sklearns_marginal_likelihood():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(12, 1))
    y = np.sin(6 * X[:, 0])
    y = (y - y.mean()) / y.std()
    length_scales = np.geomspace(0.03, 3, 60)
    ours = S.fit_gp(X, y, length_scales=length_scales)
    theirs = GaussianProcessRegressor(ConstantKernel(1.0, "fixed") * RBF(0.5), alpha=1e-6, optimizer=None).fit(X, y)
    sk_lml = [theirs.log_marginal_likelihood(np.log([ls])) for ls in length_scales]  # theta = log(length scale)
    assert ours.length_scale == pytest.approx(length_scales[int(np.argmax(sk_lml))])


@pytest.mark.parametrize("mean,std,best,xi", [(0.0, 1.0, 0.0, 0.0), (1.0, 0.3, 0.2, 0.0), (-1.0, 2.0, 0.5, 0.1), (3.0, 0.1, 0.0, 0.0)])
def test_expected_improvement_matches_numerical_integration(mean, std, best, xi):
    integrand = lambda f: max(best - f - xi, 0.0) * stats.norm.pdf(f, mean, std)
    expected, _ = integrate.quad(integrand, mean - 12 * std, mean + 12 * std, points=[best - xi], limit=200)
    assert float(S.expected_improvement(mean, std, best, xi)) == pytest.approx(expected, abs=1e-9, rel=1e-6)


def test_expected_improvement_without_uncertainty_is_the_plain_improvement():
    np.testing.assert_allclose(S.expected_improvement([0.0, 2.0], [0.0, 0.0], best=1.0), [1.0, 0.0])


def test_bayesian_optimisation_finds_the_minimum_of_a_1d_function():
    def f(x):
        return float(np.sin(3 * x[0]) + 0.3 * x[0] ** 2)

    grid = np.linspace(-3, 3, 100001)
    true_min = np.min(np.sin(3 * grid) + 0.3 * grid**2)
    result = S.bayesian_optimisation(f, [(-3, 3)], n_initial=3, n_iterations=12, seed=0)
    assert result.X.shape == (15, 1) and result.y.shape == (15,)
    assert result.best_y - true_min < 1e-2
    assert np.all((result.X >= -3) & (result.X <= 3))
