"""The GAN losses against binary cross-entropy, the DCGAN architecture and initialisation, the alternating step's
phases, the toy ring's mode measure and the shipped DCGAN's record."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import checkpoints
from course_utils.models import gan as M


def _logits(n=64, scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * scale, torch.randn(n, generator=g) * scale


def test_losses_match_binary_cross_entropy_with_logits():
    for seed, scale in [(0, 1.0), (1, 5.0), (2, 0.01)]:
        real, fake = _logits(seed=seed, scale=scale)
        ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
        bce = F.binary_cross_entropy_with_logits
        assert torch.allclose(M.discriminator_loss(real, fake), bce(real, ones) + bce(fake, zeros), rtol=1e-6)
        assert torch.allclose(M.generator_loss(fake), bce(fake, ones), rtol=1e-6)  # non-saturating
        assert torch.allclose(M.generator_loss(fake, saturating=True), -bce(fake, zeros), rtol=1e-6)


def test_losses_are_the_value_function_written_with_probabilities():
    real, fake = _logits(seed=3, scale=2.0)
    d_real, d_fake = torch.sigmoid(real).double(), torch.sigmoid(fake).double()
    value = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    assert math.isclose(M.discriminator_loss(real, fake).item(), -value.item(), rel_tol=1e-5)
    assert math.isclose(M.generator_loss(fake, saturating=True).item(), torch.log(1 - d_fake).mean().item(), rel_tol=1e-5)
    assert math.isclose(M.generator_loss(fake).item(), -torch.log(d_fake).mean().item(), rel_tol=1e-5)
    # at D = 1/2 everywhere, -V = log 4
    assert math.isclose(M.discriminator_loss(torch.zeros(5), torch.zeros(5)).item(), math.log(4), rel_tol=1e-6)


def test_losses_stay_finite_and_exact_for_huge_logits():
    big = torch.tensor([-300.0, 300.0])
    for value in (M.discriminator_loss(big, big), M.generator_loss(big), M.generator_loss(big, saturating=True)):
        assert torch.isfinite(value)
    assert math.isclose(M.generator_loss(torch.tensor([-300.0])).item(), 300.0, rel_tol=1e-6)  # -log sigmoid(-300)


def test_generator_loss_gradients_against_d_of_g_z():
    """d loss / d logit: saturating -D (vanishes as D -> 0), non-saturating -(1 - D) (stays near -1)."""
    logits = torch.linspace(-8, 8, 33, requires_grad=True)
    d = torch.sigmoid(logits).detach()
    (grad_sat,) = torch.autograd.grad(M.generator_loss(logits, saturating=True) * len(logits), logits)
    (grad_ns,) = torch.autograd.grad(M.generator_loss(logits) * len(logits), logits)
    assert torch.allclose(grad_sat, -d, atol=1e-6)
    assert torch.allclose(grad_ns, -(1 - d), atol=1e-6)


@pytest.mark.parametrize("batch,latent", [(1, 8), (3, 64), (10, 100)])
def test_dcgan_shapes_and_ranges(batch, latent):
    G, D = M.DCGenerator(latent, width=8), M.DCDiscriminator(width=8)
    images = G(torch.randn(batch, latent))
    assert images.shape == (batch, 1, 28, 28) and images.abs().max() <= 1
    assert D(images).shape == (batch,)
    with pytest.raises(ValueError, match="noise of shape"):
        G(torch.randn(batch, latent + 1))
    with pytest.raises(ValueError, match="images of shape"):
        D(torch.rand(batch, 28, 28))


def _leaf_order(module, run):
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(type(m))) for m in module.modules() if not list(m.children())]
    run()
    for hook in hooks:
        hook.remove()
    return order


def test_dcgan_architecture_follows_the_paper():
    G, D = M.DCGenerator(16, width=8), M.DCDiscriminator(width=8)
    g_order = _leaf_order(G, lambda: G(torch.randn(2, 16)))
    d_order = _leaf_order(D, lambda: D(torch.rand(2, 1, 28, 28)))
    assert g_order.count(nn.ConvTranspose2d) == 3 and nn.BatchNorm2d in g_order and nn.LeakyReLU not in g_order
    assert g_order[-2:] == [nn.ConvTranspose2d, nn.Tanh]  # no batch norm on the output layer
    assert nn.ReLU not in d_order and nn.LeakyReLU in d_order and nn.BatchNorm2d in d_order
    assert d_order[:2] == [nn.Conv2d, nn.LeakyReLU]  # no batch norm on the input layer
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))


def test_dcgan_initialisation():
    torch.manual_seed(0)
    G = M.DCGenerator(64, width=32)
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    scales = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001
    assert abs(scales.mean().item() - 1) < 0.01 and 0.01 < scales.std().item() < 0.03
    assert all(torch.all(m.bias == 0) for m in G.modules() if getattr(m, "bias", None) is not None)


class _Spy(torch.optim.SGD):
    """SGD that records, at each step, which parameters of each network carry a non-zero gradient."""

    def __init__(self, params, log, name, networks):
        super().__init__(params, lr=0.1)
        self.log, self.name, self.networks = log, name, networks

    def step(self, closure=None):
        self.log.append((self.name, {net: any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
                                     for net, module in self.networks.items()}))
        return super().step(closure)


def test_gan_step_updates_each_network_only_in_its_phase():
    torch.manual_seed(0)
    G, D = M.MLPGenerator(4, (3,), hidden=8, tanh=False), M.MLPDiscriminator((3,), hidden=8)
    log: list = []
    networks = {"G": G, "D": D}
    opt_g, opt_d = _Spy(G.parameters(), log, "G", networks), _Spy(D.parameters(), log, "D", networks)
    g_before = [p.detach().clone() for p in G.parameters()]
    real = torch.randn(16, 3)
    stats = M.gan_step(G, D, opt_g, opt_d, real)
    # D steps first, while G has no gradient (the fake batch was detached); then G steps
    assert log[0] == ("D", {"G": False, "D": True})
    assert log[1][0] == "G" and log[1][1]["G"]
    assert set(stats) == {"d_loss", "g_loss", "d_real", "d_fake", "d_accuracy"}
    assert any(not torch.equal(a, p) for a, p in zip(g_before, G.parameters()))
    # a second step: D's gradient is D's own again (cleared after G's phase filled it)
    d_before = [p.detach().clone() for p in D.parameters()]
    fresh = torch.Generator().manual_seed(5)
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        fake = G(z)
    expected_loss = M.discriminator_loss(D(real), D(fake))
    grads = torch.autograd.grad(expected_loss, list(D.parameters()))
    M.gan_step(G, D, opt_g, opt_d, real, noise=fresh)
    for before, grad, after in zip(d_before, grads, D.parameters()):
        assert torch.allclose(after.detach(), before - 0.1 * grad, atol=1e-6)


def test_train_gan_learns_a_gaussian():
    torch.manual_seed(0)
    G, D = M.MLPGenerator(2, (1,), hidden=16, layers=1, tanh=False), M.MLPDiscriminator((1,), hidden=16, layers=1)
    data = 3.0 + 0.5 * torch.randn(2048, 1)
    batches = [(batch,) for batch in data.split(64)]
    history = M.train_gan(G, D, batches, epochs=15, optimizers=M.adam_pair(G, D, lr=2e-3), progress=False)
    assert history["epoch_end"][-1] == len(history["d_loss"]) == 15 * 32
    samples = G.sample(4000, generator=torch.Generator().manual_seed(0))
    assert abs(samples.mean().item() - 3.0) < 0.25 and 0.25 < samples.std().item() < 1.0


def test_ring_and_mode_coverage():
    g = torch.Generator().manual_seed(0)
    data = M.ring_of_gaussians(4000, generator=g)
    assert data.shape == (4000, 2)
    full = M.mode_coverage(data)
    assert full["modes_covered"] == 8 and full["close_share"] > 0.99 and abs(sum(full["shares"]) - full["close_share"]) < 1e-3
    two_modes = data[torch.cdist(data, M.ring_centres()[:2]).min(1).values < 0.1]
    assert M.mode_coverage(two_modes)["modes_covered"] == 2
    assert M.mode_coverage(torch.zeros(100, 2))["modes_covered"] == 0  # the centre is between all modes
    with pytest.raises(ValueError):
        M.mode_coverage(torch.zeros(10, 3))


def test_packed_discriminator_judges_packs():
    D = M.PackedDiscriminator(2, pack=4, hidden=8)
    assert D(torch.randn(12, 2)).shape == (3,)
    with pytest.raises(ValueError, match="multiple of 4"):
        D(torch.randn(10, 2))


def test_scaling_round_trip():
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(M.to_unit(M.to_signed(x)), x)
    assert M.to_signed(x).min() >= -1 and M.to_signed(x).max() <= 1


def test_shipped_dcgan_record_and_samples():
    record = checkpoints.verify("dcgan_mnist")
    assert record["model"]["class"] == "course_utils.models.gan:DCGAN"
    history = record["train_history"]
    assert len(history["fcd"]) == record["epochs"] == len(history["d_loss"])
    model = checkpoints.load("dcgan_mnist", verbose=False)
    samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (16, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert record["quality"]["samples"]["classes_covered"] >= 8


@pytest.mark.gpu
def test_dcgan_step_and_sampling_on_cuda():
    torch.manual_seed(0)
    model = M.DCGAN(16, width=8).cuda()
    opt_g, opt_d = M.adam_pair(model.generator, model.discriminator)
    real = M.to_signed(torch.rand(32, 1, 28, 28, device="cuda"))
    for noise in (None, torch.Generator().manual_seed(0)):
        stats = M.gan_step(model.generator, model.discriminator, opt_g, opt_d, real, noise=noise)
        assert all(math.isfinite(v) for v in stats.values())
    samples = model.sample(8, generator=torch.Generator().manual_seed(0))
    assert samples.device.type == "cuda" and samples.shape == (8, 1, 28, 28)
    assert all(p.device.type == "cuda" for p in model.parameters())
