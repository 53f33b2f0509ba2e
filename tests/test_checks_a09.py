"""The a09_stackgan checks accept correct code and refuse wrong variants (fast; the nbgrader round trip with the
shipped mutants is in test_assignments)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import a09_stackgan as C
from course_utils.models import stackgan as S


# ------------------------------------------------------------------ a correct solution, written independently
def kl_to_standard_normal(mu, logvar):
    return torch.sum(mu * mu + torch.exp(logvar) - logvar - 1, dim=-1).mean() / 2


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    return F.softplus(-fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar)


class ConditioningAugmentation(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16):
        super().__init__()
        self.stats = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi, eps=None):
        mu, logvar = torch.chunk(self.stats(phi), 2, dim=-1)
        eps = torch.randn(mu.shape) if eps is None else eps
        return mu + eps * (0.5 * logvar).exp(), mu, logvar


class StageIGenerator(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, noise_dim=32):
        super().__init__()
        self.ca = ConditioningAugmentation(embed_dim, cond_dim)
        self.net = nn.Sequential(nn.Linear(noise_dim + cond_dim, 16 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (16, 7, 7)),
                                 nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, z, phi, eps=None):
        c, mu, logvar = self.ca(phi, eps)
        return torch.tanh(self.net(torch.cat([c, z], 1))), mu, logvar


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, channels, 1))

    def forward(self, x):
        return self.body(x) + x


class StageIIGenerator(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, n_residual=2):
        super().__init__()
        self.ca = ConditioningAugmentation(embed_dim, cond_dim)
        self.down = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU())  # 7x7
        self.mix = nn.Conv2d(16 + cond_dim, 16, 1)
        self.res = nn.Sequential(*(ResidualBlock(16) for _ in range(n_residual)))
        self.up = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Tanh())

    def forward(self, low_res, phi, eps=None):
        c, mu, logvar = self.ca(phi, eps)
        h = self.down(low_res)
        h = self.mix(torch.cat([h, c[..., None, None].repeat(1, 1, 7, 7)], 1))
        return self.up(self.res(h)), mu, logvar


def matching_aware_discriminator_loss(real_match, real_mismatch, fake_match):
    bce = F.binary_cross_entropy_with_logits
    return (bce(real_match, torch.ones_like(real_match)) + bce(real_mismatch, torch.zeros_like(real_mismatch)) / 2
            + bce(fake_match, torch.zeros_like(fake_match)) / 2)


def mismatched_indices(labels):
    labels = torch.as_tensor(labels)
    out = []
    for i in range(len(labels)):
        candidates = torch.nonzero(labels != labels[i]).flatten()
        if len(candidates) == 0:
            raise ValueError("one class")
        out.append(candidates[torch.randint(len(candidates), ())])
    return torch.stack(out)


RNG = lambda: np.random.default_rng(7)  # noqa: E731


def test_a_correct_solution_passes_every_check():
    C.check_kl(kl_to_standard_normal, generator_loss, RNG())
    C.check_conditioning_augmentation(ConditioningAugmentation, RNG(), reference_class=S.ConditioningAugmentation)
    C.check_stage_one(StageIGenerator, ConditioningAugmentation, RNG(), reference_class=S.StageIGenerator)
    C.check_residual_block(ResidualBlock, RNG())
    C.check_stage_two(StageIIGenerator, ResidualBlock, ConditioningAugmentation, RNG(), reference_class=S.StageIIGenerator)
    C.check_discriminator_loss(matching_aware_discriminator_loss, RNG())
    C.check_mismatched_indices(mismatched_indices, RNG(), reference_function=S.mismatched_indices)


def test_the_oracles_agree_with_the_reference():
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    torch.testing.assert_close(C.oracle_kl(mu, logvar), S.kl_to_standard_normal(mu.double(), logvar.double()))
    torch.testing.assert_close(C.closed_form_kl(mu, logvar), C.oracle_kl(mu, logvar))
    fake = torch.randn(5, generator=g)
    torch.testing.assert_close(C.oracle_generator_loss(fake, mu, logvar, 0.3),
                               S.stackgan_generator_loss(fake.double(), mu.double(), logvar.double(), 0.3))


# ------------------------------------------------------------------ wrong variants
def test_kl_mistakes_are_caught():
    def kl_without_minus_one(mu, logvar):
        return 0.5 * (mu ** 2 + logvar.exp() - logvar).sum(1).mean()

    def kl_sum_over_batch(mu, logvar):
        return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()

    def kl_std_for_variance(mu, logvar):  # sigma^2 taken as exp(logvar / 2)
        return 0.5 * (mu ** 2 + (0.5 * logvar).exp() - 1 - logvar).sum(1).mean()

    for kl in (kl_without_minus_one, kl_sum_over_batch, kl_std_for_variance):
        with pytest.raises(AssertionError, match="kl_to_standard_normal"):
            C.check_kl(kl, generator_loss, RNG())

    def loss_kl_weight_ignored(fake_logits, mu, logvar, kl_weight=1.0):
        return F.softplus(-fake_logits).mean() + kl_to_standard_normal(mu, logvar)

    def loss_saturating(fake_logits, mu, logvar, kl_weight=1.0):
        return -F.softplus(fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar)

    def loss_unstable(fake_logits, mu, logvar, kl_weight=1.0):
        return -torch.log(torch.sigmoid(fake_logits)).mean() + kl_weight * kl_to_standard_normal(mu, logvar)

    def loss_kl_detached(fake_logits, mu, logvar, kl_weight=1.0):
        return F.softplus(-fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar).detach()

    for loss in (loss_kl_weight_ignored, loss_saturating, loss_unstable, loss_kl_detached):
        with pytest.raises(AssertionError, match="generator_loss"):
            C.check_kl(kl_to_standard_normal, loss, RNG())


class _CA(nn.Module):
    """A conditioning augmentation whose forward a test replaces."""

    def __init__(self, embed_dim=32, cond_dim=16):
        super().__init__()
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)
        self.cond_dim = cond_dim


def _ca_variant(forward):
    return type("ConditioningAugmentation", (_CA,), {"forward": forward})


def test_conditioning_augmentation_mistakes_are_caught():
    def swapped_halves(self, phi, eps=None):
        logvar, mu = self.fc(phi).chunk(2, dim=1)
        eps = torch.randn_like(mu) if eps is None else eps
        return mu + torch.exp(logvar / 2) * eps, mu, logvar

    def eps_detached_sigma(self, phi, eps=None):  # gradient never reaches the logvar half
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        eps = torch.randn_like(mu) if eps is None else eps
        return mu + torch.exp(logvar / 2).detach() * eps, mu, logvar

    def ignores_given_eps(self, phi, eps=None):
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        return mu + torch.exp(logvar / 2) * torch.randn_like(mu), mu, logvar

    def one_eps_per_batch(self, phi, eps=None):
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        eps = torch.randn(1, mu.shape[1]).expand_as(mu) if eps is None else eps
        return mu + torch.exp(logvar / 2) * eps, mu, logvar

    def no_augmentation_without_eps(self, phi, eps=None):
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        return (mu if eps is None else mu + torch.exp(logvar / 2) * eps), mu, logvar

    def sampled_without_reparameterisation(self, phi, eps=None):
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        if eps is None:
            return torch.normal(mu.detach(), torch.exp(logvar / 2).detach()), mu, logvar
        return mu + torch.exp(logvar / 2) * eps, mu, logvar

    for forward in (swapped_halves, eps_detached_sigma, ignores_given_eps, one_eps_per_batch,
                    no_augmentation_without_eps, sampled_without_reparameterisation):
        with pytest.raises(AssertionError):
            C.check_conditioning_augmentation(_ca_variant(forward), RNG())

    class TwoLayers(nn.Module):
        def __init__(self, embed_dim=32, cond_dim=16):
            super().__init__()
            self.mu, self.logvar = nn.Linear(embed_dim, cond_dim), nn.Linear(embed_dim, cond_dim)

        def forward(self, phi, eps=None):
            mu, logvar = self.mu(phi), self.logvar(phi)
            eps = torch.randn_like(mu) if eps is None else eps
            return mu + torch.exp(logvar / 2) * eps, mu, logvar

    with pytest.raises(AssertionError, match="exactly one"):
        C.check_conditioning_augmentation(TwoLayers, RNG())


def test_a_copy_of_the_reference_is_refused():
    with pytest.raises(AssertionError, match="same structure"):
        C.check_conditioning_augmentation(S.ConditioningAugmentation, RNG(), reference_class=S.ConditioningAugmentation)
    with pytest.raises(AssertionError, match="same structure"):
        C.check_mismatched_indices(S.mismatched_indices, RNG(), reference_function=S.mismatched_indices)


def test_reference_code_is_blocked():
    with pytest.raises(AssertionError, match="reference"):
        C.check_discriminator_loss(S.matching_aware_discriminator_loss, RNG())
    with pytest.raises(AssertionError, match="reference"):
        C.check_residual_block(S.ResidualBlock, RNG())


def test_stage_one_mistakes_are_caught():
    class IgnoresZ(StageIGenerator):
        def forward(self, z, phi, eps=None):
            return super().forward(torch.zeros_like(z), phi, eps)

    class UsesMuNotC(StageIGenerator):
        def forward(self, z, phi, eps=None):
            _, mu, logvar = self.ca(phi, eps)
            return torch.tanh(self.net(torch.cat([mu, z], 1))), mu, logvar

    class NoTanh(StageIGenerator):
        def forward(self, z, phi, eps=None):
            c, mu, logvar = self.ca(phi, eps)
            return self.net(torch.cat([c, z], 1)) * 3, mu, logvar

    for variant, match in ((IgnoresZ, "noise z"), (UsesMuNotC, "eps"), (NoTanh, r"\[-1, 1\]")):
        with pytest.raises(AssertionError, match=match):
            C.check_stage_one(variant, ConditioningAugmentation, RNG())


def test_residual_and_stage_two_mistakes_are_caught():
    class ReluAfterSum(ResidualBlock):
        def forward(self, x):
            return torch.relu(x + self.body(x))

    class BodyOnly(ResidualBlock):
        def forward(self, x):
            return self.body(x)

    for variant in (ReluAfterSum, BodyOnly):
        with pytest.raises(AssertionError, match="ResidualBlock"):
            C.check_residual_block(variant, RNG())

    class IgnoresLowRes(StageIIGenerator):
        def forward(self, low_res, phi, eps=None):
            return super().forward(torch.zeros_like(low_res), phi, eps)

    class OneBlockTwice(StageIIGenerator):
        def forward(self, low_res, phi, eps=None):
            c, mu, logvar = self.ca(phi, eps)
            h = self.mix(torch.cat([self.down(low_res), c[..., None, None].repeat(1, 1, 7, 7)], 1))
            for _ in range(len(self.res)):
                h = self.res[0](h)
            return self.up(h), mu, logvar

    class NoiseOfItsOwn(StageIIGenerator):
        def forward(self, low_res, phi, eps=None):
            return super().forward(low_res + 0.1 * torch.randn_like(low_res), phi, eps)

    for variant, match in ((IgnoresLowRes, "Stage-I image"), (OneBlockTwice, "ResidualBlock"), (NoiseOfItsOwn, "same eps")):
        with pytest.raises(AssertionError, match=match):
            C.check_stage_two(variant, ResidualBlock, ConditioningAugmentation, RNG())


def test_discriminator_loss_mistakes_are_caught():
    bce = F.binary_cross_entropy_with_logits

    def equal_weights(real, wrong, fake):
        return bce(real, torch.ones_like(real)) + bce(wrong, torch.zeros_like(wrong)) + bce(fake, torch.zeros_like(fake))

    def thirds(real, wrong, fake):
        return (bce(real, torch.ones_like(real)) + bce(wrong, torch.zeros_like(wrong)) + bce(fake, torch.zeros_like(fake))) / 3

    def concatenated_fakes(real, wrong, fake):
        fakes = torch.cat([wrong, fake])
        return bce(real, torch.ones_like(real)) + bce(fakes, torch.zeros_like(fakes))

    def without_mismatch(real, wrong, fake):
        return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))

    def unstable(real, wrong, fake):
        return -(torch.log(torch.sigmoid(real)).mean()
                 + 0.5 * (torch.log(1 - torch.sigmoid(wrong)).mean() + torch.log(1 - torch.sigmoid(fake)).mean()))

    for loss in (equal_weights, thirds, concatenated_fakes, without_mismatch, unstable):
        with pytest.raises(AssertionError, match="matching_aware_discriminator_loss|d loss"):
            C.check_discriminator_loss(loss, RNG())


def test_mismatched_index_mistakes_are_caught():
    def any_other_image(labels):
        n = len(labels)
        return (torch.arange(n) + torch.randint(1, n, (n,))) % n

    def random_class_then_member(labels):  # uniform over classes, not over indices
        labels = torch.as_tensor(labels)
        out = []
        for i in range(len(labels)):
            classes = [c for c in torch.unique(labels).tolist() if c != labels[i]]
            if not classes:
                raise ValueError("one class")
            members = torch.nonzero(labels == classes[torch.randint(len(classes), ()).item()]).flatten()
            out.append(members[torch.randint(len(members), ())])
        return torch.stack(out)

    def no_error_for_one_class(labels):
        labels = torch.as_tensor(labels)
        allowed = (labels[None, :] != labels[:, None]).float() + 1e-12
        return torch.multinomial(allowed, 1).squeeze(1)

    def same_draw_for_a_class(labels):
        labels = torch.as_tensor(labels)
        out = torch.empty(len(labels), dtype=torch.long)
        for value in torch.unique(labels):
            candidates = torch.nonzero(labels != value).flatten()
            if len(candidates) == 0:
                raise ValueError("one class")
            out[labels == value] = candidates[torch.randint(len(candidates), ())]
        return out

    for variant in (any_other_image, random_class_then_member, no_error_for_one_class, same_draw_for_a_class):
        with pytest.raises(AssertionError, match="mismatched_indices"):
            C.check_mismatched_indices(variant, RNG())


def test_the_reference_module_executed_from_its_source_is_refused():
    """exec of the reference's source without its @reference marks: no readable source, or a bytecode copy."""
    import inspect
    import types

    module = types.ModuleType("my_stackgan")
    exec(compile(inspect.getsource(S).replace("@reference\n", "\n"), "my_stackgan.py", "exec"), module.__dict__)
    with pytest.raises(AssertionError, match="cannot be read|copy of the course's reference"):
        C.check_conditioning_augmentation(module.ConditioningAugmentation, RNG(), reference_class=S.ConditioningAugmentation)
    with pytest.raises(AssertionError, match="cannot be read|copy of the course's reference"):
        C.check_stage_two(module.StageIIGenerator, module.ResidualBlock, module.ConditioningAugmentation, RNG(),
                          reference_class=S.StageIIGenerator)
    with pytest.raises(AssertionError, match="cannot be read|copy of the course's reference"):
        C.check_residual_block(module.ResidualBlock, RNG())
    with pytest.raises(AssertionError, match="cannot be read"):
        C.check_mismatched_indices(module.mismatched_indices, RNG(), reference_function=S.mismatched_indices)


def test_reading_files_and_torch_distributions_are_refused():
    def reads_a_file(labels):
        with open(__file__) as handle:
            handle.read(1)
        return mismatched_indices(labels)

    with pytest.raises(AssertionError, match="reading files"):
        C.check_mismatched_indices(reads_a_file, RNG())

    def kl_from_distributions(mu, logvar):
        from torch.distributions import Normal, kl_divergence

        return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()

    with pytest.raises(AssertionError, match="torch.distributions"):
        C.check_kl(kl_from_distributions, generator_loss, RNG())
