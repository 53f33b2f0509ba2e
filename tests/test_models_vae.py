"""The VAE's formulas against torch.distributions, the reparameterisation's gradients, and the shipped VAE's record."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from course_utils import checkpoints
from course_utils.models import vae as V


def _gaussian(n=6, d=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * scale, torch.randn(n, d, generator=g) * scale


def test_gaussian_kl_matches_torch_distributions():
    for seed, scale in [(0, 1.0), (1, 3.0), (2, 0.01)]:
        mu, logvar = _gaussian(seed=seed, scale=scale)
        expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
        assert torch.allclose(V.gaussian_kl(mu, logvar), expected, rtol=1e-5, atol=1e-5)
    assert torch.allclose(V.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))  # q = p


def test_gaussian_kl_between_matches_torch_distributions():
    mu_q, logvar_q = _gaussian(seed=3)
    mu_p, logvar_p = _gaussian(seed=4, scale=1.0)
    expected = kl_divergence(Normal(mu_q, torch.exp(0.5 * logvar_q)), Normal(mu_p, torch.exp(0.5 * logvar_p))).sum(-1)
    assert torch.allclose(V.gaussian_kl_between(mu_q, logvar_q, mu_p, logvar_p), expected, rtol=1e-5, atol=1e-4)


def test_log_likelihoods_match_torch_distributions():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 1, 28, 28, generator=g) * 5
    x = (torch.rand(4, 1, 28, 28, generator=g) > 0.5).float()
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(V.bernoulli_log_likelihood(x, logits), expected, rtol=1e-5)
    assert torch.isfinite(V.bernoulli_log_likelihood(x, logits * 1000)).all()
    mean, log_scale = torch.rand(4, 1, 28, 28, generator=g), torch.tensor(-1.3)
    grey = torch.rand(4, 1, 28, 28, generator=g)
    expected = Normal(mean, log_scale.exp()).log_prob(grey).flatten(1).sum(1)
    assert torch.allclose(V.gaussian_log_likelihood(grey, mean, log_scale), expected, rtol=1e-5)


def test_elbo_is_log_likelihood_minus_kl():
    g = torch.Generator().manual_seed(6)
    x = (torch.rand(3, 1, 28, 28, generator=g) > 0.5).float()
    logits = torch.randn(3, 1, 28, 28, generator=g)
    mu, logvar = _gaussian(3, 4, seed=7, scale=1.0)
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1) - kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(V.elbo(x, logits, mu, logvar), expected, rtol=1e-5)


def test_reparameterisation_passes_gradients_to_mu_and_logvar():
    mu, logvar = _gaussian(4, 3, seed=8, scale=1.0)
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    z = V.reparameterize(mu, logvar)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))  # dz/dmu = 1
    assert torch.allclose(logvar.grad, 0.5 * (z - mu).detach(), atol=1e-6)  # dz/dlogvar = sigma eps / 2


def test_plain_sampling_passes_no_gradient():
    mu = torch.zeros(4, 3, requires_grad=True)
    std = torch.ones(4, 3, requires_grad=True)
    assert not Normal(mu, std).sample().requires_grad  # sample() cuts the graph
    torch.normal(mu, std).sum().backward()  # torch.normal is in the graph but its gradient is zero
    assert torch.count_nonzero(mu.grad) == 0 and torch.count_nonzero(std.grad) == 0


def test_reparameterised_samples_have_the_right_distribution():
    mu = torch.tensor([[-2.0, 0.0, 3.0]]).expand(20000, 3)
    logvar = torch.tensor([[0.0, -2.0, 1.5]]).expand(20000, 3)
    z = V.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), mu[0], atol=0.05)
    assert torch.allclose(z.std(0), torch.exp(0.5 * logvar[0]), rtol=0.03)
    with pytest.raises(ValueError, match="same shape"):
        V.reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("variant", list(V.VARIANTS))
def test_variants_shapes_and_structure(variant):
    model = V.VAE(latent_dim=5, width=8, **V.VARIANTS[variant])
    sizes = {"encoder": [], "decoder": []}
    for part in sizes:
        for module in getattr(model, part).modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.register_forward_hook(lambda m, i, o, part=part: sizes[part].append(o.shape[-1]))
    logits, mu, logvar = model(torch.rand(3, 1, 28, 28))
    assert logits.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == (3, 5)
    goes_up = any(b > a for a, b in zip(sizes["encoder"], sizes["encoder"][1:]))
    goes_down = any(b < a for a, b in zip(sizes["decoder"], sizes["decoder"][1:]))
    assert goes_up == V.VARIANTS[variant]["inner_decoder"], sizes
    assert goes_down == V.VARIANTS[variant]["inner_encoder"], sizes
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1


def test_vae_loss_is_the_negative_elbo_and_trains():
    torch.manual_seed(0)
    model = V.VAE(latent_dim=4, width=8)
    x = (torch.rand(2, 1, 28, 28) > 0.8).float().repeat(8, 1, 1, 1)  # two patterns
    terms = V.vae_loss(model, x)
    assert torch.allclose(terms["loss"], terms["reconstruction"] + terms["kl"])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = terms["loss"].item()
    for _ in range(15):
        loss = V.vae_loss(model, x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.8 * first
    gaussian = V.VAE(latent_dim=4, width=8, likelihood="gaussian")
    assert "log_scale" in dict(gaussian.named_parameters()) and torch.isfinite(V.vae_loss(gaussian, x)["loss"])
    with pytest.raises(ValueError, match="likelihood"):
        V.VAE(likelihood="poisson")


@pytest.mark.parametrize("name", ["vae_mnist", "vae_mnist_2d"])
def test_shipped_vae_reproduces_its_recorded_held_out_numbers(name, data_root, monkeypatch):
    from course_utils.generative import mnist_digits

    monkeypatch.setenv("COURSE_DATA_DIR", str(data_root))
    record = checkpoints.read_record(name)
    test_images, _, fallback = mnist_digits(False)
    if ("fallback" in record["data"]) != fallback:
        pytest.skip("the record was measured on other data than this machine has")
    held_out = V.evaluate_vae(checkpoints.load(name, verbose=False), test_images)
    assert held_out["elbo"] == pytest.approx(record["quality"]["held_out_elbo_nats"], abs=0.05)
    assert held_out["reconstruction"] == pytest.approx(record["quality"]["held_out_reconstruction_nats"], abs=0.05)
    assert held_out["kl"] == pytest.approx(record["quality"]["held_out_kl_nats"], abs=0.05)
