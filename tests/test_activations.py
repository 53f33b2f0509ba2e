"""Activations and derivatives checked against torch (functions and autograd), an oracle nobody here wrote."""

from __future__ import annotations

import inspect
import warnings
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import activations as A
from course_utils.grading import call_student, is_reference

# Pre-activations that include 0 exactly (the kink), tiny values around it, and huge ones (overflow).
Z = np.concatenate([np.linspace(-8.0, 8.0, 161), [0.0, 1e-12, -1e-12, 30.0, -30.0, 710.0, -710.0, 1e4, -1e4]])
ALPHAS = (0.01, 0.1, 0.3)

# The torch counterpart of every entry of ACTIVATIONS: torch.Tensor -> torch.Tensor.
ORACLES: dict[str, Callable[..., torch.Tensor]] = {
    "linear": lambda t: t * 1.0,
    "binary step": lambda t: torch.heaviside(t, torch.ones((), dtype=t.dtype)),  # 1 at z = 0, like ours
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky relu": lambda t, alpha=0.01: F.leaky_relu(t, negative_slope=alpha),
}


def takes_alpha(name: str) -> bool:
    return "alpha" in inspect.signature(A.ACTIVATIONS[name].fn).parameters


def _cases():
    """(name, kwargs) for every activation, with several alphas for leaky ReLU."""
    for name in A.ACTIVATIONS:
        for alpha in ALPHAS if takes_alpha(name) else (None,):
            yield pytest.param(name, {} if alpha is None else {"alpha": alpha}, id=f"{name}-{alpha}")


CASES = list(_cases())


def torch_value_and_grad(name: str, z: np.ndarray, kwargs: dict) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z) from torch; f' by autograd (binary step: 0, as torch cannot differentiate it)."""
    t = torch.tensor(z, dtype=torch.float64, requires_grad=name != "binary step")
    out = ORACLES[name](t, **kwargs)
    if name == "binary step":
        return out.numpy(), np.zeros_like(z)
    (grad,) = torch.autograd.grad(out.sum(), t)  # elementwise f, so d(sum f)/dz_i = f'(z_i)
    return out.detach().numpy(), grad.numpy()


def test_every_registered_activation_has_a_torch_oracle():
    assert set(A.ACTIVATIONS) == set(ORACLES)
    for name, act in A.ACTIVATIONS.items():
        assert callable(act.fn) and callable(act.grad) and act.note


@pytest.mark.parametrize("name, kwargs", CASES)
def test_activation_matches_torch(name, kwargs):
    expected, _ = torch_value_and_grad(name, Z, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings for |z| = 1e4
        actual = A.ACTIVATIONS[name].fn(Z, **kwargs)
    assert actual.shape == Z.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, kwargs", CASES)
def test_derivative_matches_torch_autograd(name, kwargs):
    _, expected = torch_value_and_grad(name, Z, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        actual = A.ACTIVATIONS[name].grad(Z, **kwargs)
    assert actual.shape == Z.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def test_binary_step_derivative_is_zero_by_finite_differences_away_from_zero():
    z = Z[np.abs(Z) > 1e-3]
    eps = 1e-6
    step = lambda v: torch.heaviside(torch.tensor(v), torch.ones((), dtype=torch.float64)).numpy()  # noqa: E731
    np.testing.assert_array_equal(A.binary_step_grad(z), (step(z + eps) - step(z - eps)) / (2 * eps))


@pytest.mark.parametrize("name, kwargs", CASES)
def test_elementwise_on_matrices_and_scalars(name, kwargs):
    act = A.ACTIVATIONS[name]
    matrix = np.random.default_rng(1).normal(0, 3, size=(4, 5))
    expected, expected_grad = torch_value_and_grad(name, matrix, kwargs)
    np.testing.assert_allclose(act.fn(matrix, **kwargs), expected, rtol=1e-12)
    np.testing.assert_allclose(act.grad(matrix, **kwargs), expected_grad, rtol=1e-12)
    scalar_value, scalar_grad = torch_value_and_grad(name, np.array(0.7), kwargs)
    np.testing.assert_allclose(act.fn(0.7, **kwargs), scalar_value)
    np.testing.assert_allclose(act.grad(0.7, **kwargs), scalar_grad)


def test_sigmoid_and_tanh_derivative_peaks():
    assert A.sigmoid_grad(np.array([0.0]))[0] == 0.25
    assert A.tanh_grad(np.array([0.0]))[0] == 1.0
    assert A.sigmoid_grad(Z).max() <= 0.25 and A.tanh_grad(Z).max() <= 1.0


@pytest.mark.parametrize("shape", [(7,), (5, 7), (2, 3, 7)])
def test_softmax_matches_torch_along_last_axis(shape):
    logits = np.random.default_rng(0).normal(0, 5, size=shape)
    expected = torch.softmax(torch.tensor(logits), dim=-1).numpy()
    np.testing.assert_allclose(A.softmax(logits), expected, rtol=1e-12, atol=1e-15)


def test_softmax_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 1001.0], [-1000.0, -1001.0], [1e4, -1e4], [0.0, 0.0], [710.0, 710.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would raise here
        probs = A.softmax(logits)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-12)
    expected = torch.softmax(torch.tensor(logits), dim=-1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(probs[0], [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-12)


def test_softmax_is_invariant_to_a_constant_shift():
    logits = np.random.default_rng(2).normal(size=(3, 4))
    np.testing.assert_allclose(A.softmax(logits + 123.0), A.softmax(logits), rtol=1e-12)


def test_softmax_jacobian_matches_autograd():
    logits = torch.tensor(np.random.default_rng(3).normal(size=5))
    jacobian = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=-1), logits).numpy()
    p = A.softmax(logits.numpy())
    np.testing.assert_allclose(np.diag(p) - np.outer(p, p), jacobian, atol=1e-12)


def test_inputs_are_not_modified():
    z = np.array([-1.0, 0.0, 2.0])
    for act in A.ACTIVATIONS.values():
        act.fn(z)
        act.grad(z)
    A.softmax(z)
    np.testing.assert_array_equal(z, [-1.0, 0.0, 2.0])


REFERENCE_FUNCTIONS = [
    fn for _, fn in inspect.getmembers(A, inspect.isfunction) if is_reference(fn)
]


def test_every_public_function_is_a_reference():
    public = {name for name, fn in inspect.getmembers(A, inspect.isfunction) if fn.__module__ == A.__name__}
    assert public == {fn.__name__ for fn in REFERENCE_FUNCTIONS}
    assert len(REFERENCE_FUNCTIONS) == 13  # 6 activations + 6 derivatives + softmax


@pytest.mark.parametrize("fn", REFERENCE_FUNCTIONS, ids=lambda fn: fn.__name__)
def test_reference_functions_are_blocked_while_grading(fn):
    z = np.array([[0.5, -1.0, 2.0]])
    assert is_reference(fn) and not hasattr(fn, "__wrapped__")  # no unguarded original to reach
    with pytest.raises(AssertionError, match="reference implementation"):
        call_student(lambda values: fn(values), z)
    assert np.all(np.isfinite(fn(z)))  # works as usual outside grading


def test_student_code_calling_the_reference_earns_nothing():
    def student_relu(z):
        return A.relu(z)

    with pytest.raises(AssertionError, match="reference implementation"):
        call_student(student_relu, np.array([1.0, -1.0]))
    with pytest.raises(AssertionError, match="reference implementation"):
        call_student(A.relu, np.array([1.0, -1.0]))
