"""course_utils.models.stackgan: conditioning augmentation, both stages, the matching-aware loss, one step."""

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D

from course_utils.models import stackgan as S


def _phi(n, dim=32, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def test_conditioning_augmentation_formula_and_gradients():
    torch.manual_seed(0)
    ca = S.ConditioningAugmentation(32, 16)
    phi = _phi(5)
    eps = torch.randn(5, 16)
    c, mu, logvar = ca(phi, eps)
    stats = ca.fc(phi)
    torch.testing.assert_close(mu, stats[:, :16])
    torch.testing.assert_close(logvar, stats[:, 16:])
    torch.testing.assert_close(c, mu + torch.exp(logvar / 2) * eps)
    # the gradient reaches both halves of the linear layer through eps
    c.sum().backward()
    assert ca.fc.weight.grad[:16].abs().sum() > 0 and ca.fc.weight.grad[16:].abs().sum() > 0
    # drawn noise: two calls differ; the ablation gives c = mu
    c1, _, _ = ca(phi)
    c2, _, _ = ca(phi)
    assert not torch.allclose(c1, c2)
    ablation = S.ConditioningAugmentation(32, 16, augment=False)
    c3, mu3, _ = ablation(phi)
    torch.testing.assert_close(c3, mu3)
    with pytest.raises(ValueError, match="eps must have shape"):
        ca(phi, torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"\(N, 32\)"):
        ca(torch.randn(5, 31))


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(7, 16, generator=g), torch.randn(7, 16, generator=g)
    q = D.Normal(mu, torch.exp(logvar / 2))
    p = D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = D.kl_divergence(q, p).sum(dim=1).mean()
    torch.testing.assert_close(S.kl_to_standard_normal(mu, logvar), expected)
    assert S.kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    with pytest.raises(ValueError):
        S.kl_to_standard_normal(mu, logvar[:, :3])


@pytest.mark.parametrize("n", [1, 4])
def test_shapes_of_both_stages(n):
    torch.manual_seed(0)
    g1, d1 = S.StageIGenerator(), S.StageIDiscriminator()
    g2, d2 = S.StageIIGenerator(), S.StageIIDiscriminator()
    for m in (g1, d1, g2, d2):
        m.eval()  # batch norm with a single sample
    phi = _phi(n)
    low, mu, logvar = g1(torch.randn(n, 32), phi)
    assert low.shape == (n, 1, 14, 14) and mu.shape == logvar.shape == (n, 16)
    assert low.abs().max() <= 1
    high, mu2, _ = g2(low, phi)
    assert high.shape == (n, 1, 28, 28) and mu2.shape == (n, 16)
    assert d1(low, phi).shape == (n,) and d2(high, phi).shape == (n,)
    with pytest.raises(ValueError, match="14, 14"):
        g2(high, phi)
    with pytest.raises(ValueError, match="text embeddings"):
        d2(high, _phi(n + 1))
    with pytest.raises(ValueError, match="noise"):
        g1(torch.randn(n, 5), phi)


def test_residual_block_is_identity_plus_body():
    torch.manual_seed(0)
    block = S.ResidualBlock(8).eval()
    x = torch.randn(2, 8, 7, 7)
    torch.testing.assert_close(block(x), x + block.body(x))
    torch.nn.init.zeros_(block.body[-1].weight)
    torch.testing.assert_close(block(x), x)


def test_stage_two_uses_the_stage_one_image_and_the_text():
    torch.manual_seed(0)
    g2 = S.StageIIGenerator().eval()
    phi, eps = _phi(3), torch.zeros(3, 16)
    low = torch.rand(3, 1, 14, 14, requires_grad=True) * 2 - 1
    low.retain_grad()
    out, _, _ = g2(low, phi, eps)
    out.sum().backward()
    assert low.grad.abs().sum() > 0
    other, _, _ = g2(low.detach(), _phi(3, seed=5), eps)
    assert not torch.allclose(out, other)


def test_matching_aware_loss_against_binary_cross_entropy():
    g = torch.Generator().manual_seed(2)
    real, wrong, fake = (torch.randn(6, generator=g) for _ in range(3))
    bce = F.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(6)) + 0.5 * (bce(wrong, torch.zeros(6)) + bce(fake, torch.zeros(6)))
    torch.testing.assert_close(S.matching_aware_discriminator_loss(real, wrong, fake), expected)
    # the mismatched pair counts as fake: a larger logit there raises the loss
    assert S.matching_aware_discriminator_loss(real, wrong + 1, fake) > S.matching_aware_discriminator_loss(real, wrong, fake)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    torch.testing.assert_close(S.stackgan_generator_loss(fake, mu, logvar, 0.5),
                               bce(fake, torch.ones(6)) + 0.5 * S.kl_to_standard_normal(mu, logvar))


def test_mismatched_indices_pick_another_class():
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    for seed in range(20):
        j = S.mismatched_indices(labels, torch.Generator().manual_seed(seed))
        assert (labels[j] != labels).all()
    draws = torch.stack([S.mismatched_indices(labels) for _ in range(200)])
    assert len(set(draws[:, 0].tolist())) == 5  # every other-class index gets drawn
    with pytest.raises(ValueError, match="single class"):
        S.mismatched_indices(torch.tensor([4, 4, 4]))


@pytest.mark.parametrize("stage", [1, 2])
def test_one_step_trains_both_networks(stage):
    torch.manual_seed(0)
    g1 = S.StageIGenerator(width=8)
    if stage == 1:
        gen, disc, real, first = g1, S.StageIDiscriminator(width=8), torch.rand(8, 1, 14, 14) * 2 - 1, None
    else:
        gen, disc, real, first = S.StageIIGenerator(width=8, n_residual=1), S.StageIIDiscriminator(width=8), \
            torch.rand(8, 1, 28, 28) * 2 - 1, g1
    before = [p.detach().clone() for p in list(gen.parameters()) + list(disc.parameters())]
    frozen = [p.detach().clone() for p in g1.parameters()]
    opt_g = torch.optim.Adam(gen.parameters(), 1e-3)
    opt_d = torch.optim.Adam(disc.parameters(), 1e-3)
    out = S.stackgan_step(gen, disc, opt_g, opt_d, real, _phi(8), torch.arange(8) % 3, stage_one=first)
    assert set(out) == {"d_loss", "g_loss", "kl", "d_real", "d_wrong", "d_fake"}
    after = list(gen.parameters()) + list(disc.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after) if a.numel() > 1)
    if stage == 2:
        assert all(torch.equal(a, b) for a, b in zip(frozen, g1.parameters()))


def test_generate_and_downsample():
    torch.manual_seed(0)
    g1, g2 = S.StageIGenerator(width=8), S.StageIIGenerator(width=8)
    low, high = S.generate(g1, _phi(4), g2)
    assert low.shape == (4, 1, 14, 14) and high.shape == (4, 1, 28, 28)
    assert g1.training and g2.training
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(S.downsample(x)[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    with pytest.raises(ValueError):
        S.downsample(torch.rand(2, 1, 14, 14))
