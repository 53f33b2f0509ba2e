"""A multi-layer perceptron in plain NumPy: the reference for chapter 1 and assignment a01.

The network is a list of layers ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``.
Hidden layers use ReLU, the output layer softmax, the loss is the mean
cross-entropy. With no hidden layers the model is multinomial logistic
regression, which serves as the baseline.

Shapes: ``X`` is (N, n_features), ``labels`` is (N,) integers, ``probs`` is (N, K).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from course_utils.activations import relu, relu_grad, softmax
from course_utils.grading import reference

Params = list[dict[str, np.ndarray]]
Cache = list[tuple[np.ndarray, np.ndarray]]


@reference
def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) integer labels -> (N, n_classes) rows of zeros with a single 1."""
    labels = np.asarray(labels, dtype=int)
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


@reference
def cross_entropy(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean over the batch of -log p(correct class); ``eps`` guards log(0)."""
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels, dtype=int)
    picked = probs[np.arange(labels.shape[0]), labels]
    return float(-np.mean(np.log(np.clip(picked, eps, 1.0))))


@reference
def init_params(layer_sizes: Sequence[int], seed: int = 0) -> Params:
    """He-initialised weights (std sqrt(2 / n_in)) and zero biases for each layer."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        params.append({"W": W, "b": np.zeros(n_out)})
    return params


@reference
def forward(params: Params, X: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Return class probabilities (N, K) and the per-layer (input, pre-activation) cache."""
    A = np.asarray(X, dtype=float)
    cache: Cache = []
    for i, layer in enumerate(params):
        Z = A @ layer["W"] + layer["b"]  # (N, n_out)
        cache.append((A, Z))
        A = softmax(Z) if i == len(params) - 1 else relu(Z)
    return A, cache


@reference
def backward(params: Params, cache: Cache, probs: np.ndarray, labels: np.ndarray) -> Params:
    """Gradients of the mean cross-entropy with respect to every W and b.

    For softmax followed by cross-entropy the gradient with respect to the
    output logits is (probs - one_hot(labels)) / N.
    """
    n = probs.shape[0]
    dZ = (probs - one_hot(labels, probs.shape[1])) / n  # (N, K)
    grads: Params = [dict() for _ in params]
    for i in reversed(range(len(params))):
        A_prev, _ = cache[i]
        grads[i]["W"] = A_prev.T @ dZ  # (n_in, n_out)
        grads[i]["b"] = dZ.sum(axis=0)
        if i > 0:
            dA_prev = dZ @ params[i]["W"].T
            dZ = dA_prev * relu_grad(cache[i - 1][1])
    return grads


@reference
def sgd_step(params: Params, grads: Params, lr: float) -> None:
    """In place: theta <- theta - lr * grad for every parameter."""
    for layer, grad in zip(params, grads):
        for key in layer:
            layer[key] -= lr * grad[key]


@reference
def multistep_lr(base_lr: float, epoch: int, milestones: Sequence[int], gamma: float) -> float:
    """Learning rate for ``epoch`` (0-based): multiplied by ``gamma`` at each milestone passed."""
    passed = sum(1 for m in milestones if epoch >= m)
    return base_lr * gamma**passed


@reference
def predict(params: Params, X: np.ndarray) -> np.ndarray:
    """Most probable class for each row of ``X``."""
    probs, _ = forward(params, X)
    return probs.argmax(axis=1)


@reference
def train(
    X: np.ndarray,
    labels: np.ndarray,
    hidden_sizes: Sequence[int] = (64, 64),
    epochs: int = 100,
    batch_size: int = 32,
    lr: float = 0.1,
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Params, dict[str, list[float]]]:
    """Mini-batch SGD with multi-step learning-rate decay; returns params and per-epoch history."""
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels, dtype=int)
    n_classes = int(labels.max()) + 1
    params = init_params([X.shape[1], *hidden_sizes, n_classes], seed=seed)
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "lr": []}
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress):
        lr_now = multistep_lr(lr, epoch, milestones, gamma)
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            probs, cache = forward(params, X[batch])
            grads = backward(params, cache, probs, labels[batch])
            sgd_step(params, grads, lr_now)
        probs, _ = forward(params, X)
        history["loss"].append(cross_entropy(probs, labels))
        history["accuracy"].append(float(np.mean(probs.argmax(axis=1) == labels)))
        history["lr"].append(lr_now)
    return params, history
