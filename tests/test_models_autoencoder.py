"""Autoencoders and their regularisers against torch built-ins, torch.distributions and closed forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, kl_divergence

from course_utils.data import DeviceLoader
from course_utils.models import autoencoder as A


def _images(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model", [A.MLPAutoencoder(32), A.MLPAutoencoder(8, hidden=0, code_activation="sigmoid"),
                                   A.ConvAutoencoder(16, width=8)], ids=["mlp", "one-layer", "conv"])
def test_shapes(model):
    logits, code = model(_images())
    assert logits.shape == (8, 1, 28, 28) and code.shape == (8, model.latent_dim)


def test_unknown_code_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="code_activation"):
        A.MLPAutoencoder(code_activation="tanh")


def test_reconstruction_losses_match_torch():
    x, logits = _images(), torch.randn(8, 1, 28, 28)
    bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 8
    mse = F.mse_loss(torch.sigmoid(logits), x, reduction="sum") / 8
    assert torch.allclose(A.reconstruction_loss(logits, x, "bce"), bce, rtol=1e-5)
    assert torch.allclose(A.reconstruction_loss(logits, x, "mse"), mse, rtol=1e-5)
    assert torch.isfinite(A.reconstruction_loss(torch.full_like(x, 200.0), x))  # stable for huge logits
    with pytest.raises(ValueError, match="shape"):
        A.reconstruction_loss(logits[:, :, :27], x)


def test_sparsity_penalties_match_references():
    code = torch.rand(16, 10) * 0.9 + 0.05
    assert torch.allclose(A.l1_sparsity_penalty(code - 0.5), torch.linalg.vector_norm(code - 0.5, ord=1, dim=1).mean())
    expected = kl_divergence(Bernoulli(probs=torch.full((10,), 0.05)), Bernoulli(probs=code.mean(0))).sum()
    assert torch.allclose(A.kl_sparsity_penalty(code, 0.05), expected, rtol=1e-5)
    assert A.kl_sparsity_penalty(torch.full((4, 3), 0.05), 0.05).abs() < 1e-6  # on target: no penalty


def test_contractive_penalty_matches_the_closed_form_of_a_sigmoid_encoder():
    torch.manual_seed(0)
    model = A.MLPAutoencoder(latent_dim=6, hidden=0, code_activation="sigmoid")
    layer = model.encoder[1]
    x = _images(5)
    autograd = A.contractive_penalty(model.encoder, x)
    closed = A.contractive_penalty_sigmoid(layer.weight, layer.bias, x)
    assert torch.allclose(autograd, closed, rtol=1e-5)
    # and both equal the Frobenius norm of the per-sample Jacobian from torch.autograd.functional
    frob = torch.stack([torch.autograd.functional.jacobian(lambda v: model.encoder(v[None])[0], xi).pow(2).sum() for xi in x])
    assert torch.allclose(autograd, frob.mean(), rtol=1e-5)
    # the penalty is differentiable: its gradient matches the closed form's
    grad_autograd = torch.autograd.grad(A.contractive_penalty(model.encoder, x), layer.weight)[0]
    grad_closed = torch.autograd.grad(A.contractive_penalty_sigmoid(layer.weight, layer.bias, x), layer.weight)[0]
    assert torch.allclose(grad_autograd, grad_closed, rtol=1e-4, atol=1e-8)


def test_corruption_kinds():
    x = _images(64)
    noisy = A.corrupt(x, "gaussian", 0.5, generator=torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, x)
    masked = A.corrupt(torch.ones(64, 1, 28, 28), "masking", 0.3, generator=torch.Generator().manual_seed(0))
    assert set(masked.unique().tolist()) <= {0.0, 1.0} and abs(float((masked == 0).float().mean()) - 0.3) < 0.02
    with pytest.raises(ValueError, match="kind"):
        A.corrupt(x, "salt")


def test_training_reduces_the_reconstruction_loss():
    torch.manual_seed(0)
    prototypes = (_images(4) > 0.7).float()
    x = prototypes[torch.arange(64) % 4]  # four patterns: a code of 2 numbers is enough
    model = A.MLPAutoencoder(2, hidden=32)
    history = A.train_autoencoder(model, DeviceLoader(x, batch_size=16, seed=0), A.autoencoder_loss, epochs=10,
                                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), progress=False)
    assert len(history["loss"]) == 10 and history["loss"][-1] < 0.5 * history["loss"][0]
