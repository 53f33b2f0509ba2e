"""The NumPy MLP reference against torch autograd, finite differences and scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from course_utils import data
from course_utils import grading as G
from course_utils import numpy_nn as nn_np


def _torch_loss(params, X, labels):
    weights = [(torch.tensor(p["W"], requires_grad=True), torch.tensor(p["b"], requires_grad=True)) for p in params]
    h = torch.tensor(X)
    for i, (W, b) in enumerate(weights):
        h = h @ W + b
        if i < len(weights) - 1:
            h = torch.relu(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(labels))
    loss.backward()
    return loss.item(), [(W.grad.numpy(), b.grad.numpy()) for W, b in weights]


@pytest.mark.parametrize("sizes", [[2, 3], [4, 8, 3], [5, 7, 6, 4]])
def test_forward_and_backward_match_torch_autograd(sizes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(11, sizes[0]))
    labels = rng.integers(0, sizes[-1], size=11)
    params = nn_np.init_params(sizes, seed=3)
    probs, cache = nn_np.forward(params, X)
    grads = nn_np.backward(params, cache, probs, labels)
    loss_torch, grads_torch = _torch_loss(params, X, labels)
    assert nn_np.cross_entropy(probs, labels) == pytest.approx(loss_torch, rel=1e-10)
    for grad, (dW, db) in zip(grads, grads_torch):
        np.testing.assert_allclose(grad["W"], dW, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(grad["b"], db, rtol=1e-8, atol=1e-12)


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 3))
    labels = rng.integers(0, 3, size=6)
    params = nn_np.init_params([3, 5, 3], seed=0)
    probs, cache = nn_np.forward(params, X)
    grads = nn_np.backward(params, cache, probs, labels)

    def loss() -> float:
        return nn_np.cross_entropy(nn_np.forward(params, X)[0], labels)

    for layer, grad in zip(params, grads):
        for key in ("W", "b"):
            np.testing.assert_allclose(grad[key], G.numerical_gradient(loss, layer[key]), rtol=1e-5, atol=1e-8)


def test_cross_entropy_matches_sklearn():
    rng = np.random.default_rng(4)
    probs = nn_np.softmax(rng.normal(size=(20, 4)))
    labels = rng.integers(0, 4, size=20)
    assert nn_np.cross_entropy(probs, labels) == pytest.approx(log_loss(labels, probs, labels=range(4)), rel=1e-9)


def test_multistep_lr_matches_torch_scheduler():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 7], gamma=0.1)
    for epoch in range(10):
        assert nn_np.multistep_lr(0.5, epoch, [3, 7], 0.1) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()


def test_mlp_learns_spirals_and_beats_logistic_regression():
    X, y = data.make_toy("spirals", n_samples=600, noise=0.05, seed=0)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:450], order[450:]
    mlp, history = nn_np.train(X[train], y[train], hidden_sizes=(64, 64), epochs=150, lr=0.2, milestones=[100])
    logreg, _ = nn_np.train(X[train], y[train], hidden_sizes=(), epochs=150, lr=0.2)
    mlp_acc = np.mean(nn_np.predict(mlp, X[test]) == y[test])
    logreg_acc = np.mean(nn_np.predict(logreg, X[test]) == y[test])
    assert history["loss"][-1] < history["loss"][0]
    assert history["lr"][-1] == pytest.approx(0.02)
    assert mlp_acc > 0.9
    assert logreg_acc < 0.7 < mlp_acc
