"""Activation functions and their derivatives in NumPy (reference for chapter 2).

Each function takes an array of pre-activations ``z`` and works elementwise,
except :func:`softmax`, which normalises along the last axis.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from course_utils.grading import reference


@reference
def linear(z: np.ndarray) -> np.ndarray:
    """Identity: f(z) = z."""
    return np.asarray(z, dtype=float).copy()


@reference
def linear_grad(z: np.ndarray) -> np.ndarray:
    """f'(z) = 1."""
    return np.ones_like(np.asarray(z, dtype=float))


@reference
def binary_step(z: np.ndarray) -> np.ndarray:
    """1 where z >= 0, else 0."""
    return (np.asarray(z) >= 0).astype(float)


@reference
def binary_step_grad(z: np.ndarray) -> np.ndarray:
    """Zero everywhere (undefined at 0): why the step cannot be trained by gradients."""
    return np.zeros_like(np.asarray(z, dtype=float))


@reference
def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), computed without overflow for large |z|."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    exp_z = np.exp(z[~pos])  # z < 0 here, so exp cannot overflow
    out[~pos] = exp_z / (1.0 + exp_z)
    return out


@reference
def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """sigma(z) (1 - sigma(z)); at most 0.25."""
    s = sigmoid(z)
    return s * (1.0 - s)


@reference
def tanh(z: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, zero-centred, range (-1, 1)."""
    return np.tanh(np.asarray(z, dtype=float))


@reference
def tanh_grad(z: np.ndarray) -> np.ndarray:
    """1 - tanh(z)^2; at most 1."""
    return 1.0 - np.tanh(np.asarray(z, dtype=float)) ** 2


@reference
def relu(z: np.ndarray) -> np.ndarray:
    """max(0, z)."""
    return np.maximum(0.0, np.asarray(z, dtype=float))


@reference
def relu_grad(z: np.ndarray) -> np.ndarray:
    """1 where z > 0, else 0 (we use 0 at z = 0, as PyTorch does)."""
    return (np.asarray(z) > 0).astype(float)


@reference
def leaky_relu(z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """z for z > 0, alpha * z otherwise."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, alpha * z)


@reference
def leaky_relu_grad(z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """1 for z > 0, alpha otherwise: never exactly zero, so units cannot die."""
    return np.where(np.asarray(z) > 0, 1.0, alpha)


@reference
def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z_i - max z) / sum_j exp(z_j - max z) along the last axis.

    Subtracting the row maximum changes nothing mathematically but keeps
    ``exp`` from overflowing for large logits.
    """
    z = np.asarray(z, dtype=float)
    shifted = z - z.max(axis=-1, keepdims=True)
    exp_z = np.exp(shifted)
    return exp_z / exp_z.sum(axis=-1, keepdims=True)


class Activation(NamedTuple):
    """An activation function, its derivative and a one-line description."""

    fn: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]
    note: str


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(linear, linear_grad, "identity; stacking linear layers stays linear"),
    "binary step": Activation(binary_step, binary_step_grad, "zero gradient: cannot be trained by backprop"),
    "sigmoid": Activation(sigmoid, sigmoid_grad, "squashes to (0, 1); gradient at most 0.25"),
    "tanh": Activation(tanh, tanh_grad, "zero-centred, range (-1, 1); saturates"),
    "relu": Activation(relu, relu_grad, "cheap, no saturation for z > 0; can die for z < 0"),
    "leaky relu": Activation(leaky_relu, leaky_relu_grad, "small slope alpha for z < 0 keeps units alive"),
}
