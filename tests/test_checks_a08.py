"""The a08_gan checks accept correct code and refuse the classic mistakes (fast; the nbgrader round trip is in
test_assignments). Variants of the mutants in tests/mutants/a08_gan are caught here, where they cost little."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import a08_gan as C
from course_utils.models import gan as M


# ------------------------------------------------------------------ a correct solution, written independently
def discriminator_loss(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits, saturating=False):
    if saturating:
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def init_dcgan(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim=64):
        super().__init__()
        self.project = nn.Linear(latent_dim, 64 * 7 * 7, bias=False)
        self.norm0 = nn.BatchNorm1d(64 * 7 * 7)
        self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                                nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh())
        self.apply(init_dcgan)

    def forward(self, z):
        return self.up(self.norm0(self.project(z)).view(-1, 64, 7, 7))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1, bias=False),
                                  nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 49, 1))
        self.apply(init_dcgan)

    def forward(self, x):
        return self.body(x).view(-1)


def train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
    z = torch.randn(len(real), latent_dim)
    fake = G(z)
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    g_loss = generator_loss(D(fake), saturating)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    accuracy = ((real_logits > 0).float().sum() + (fake_logits < 0).float().sum()) / (2 * len(real))
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": accuracy.item()}


def _fails(check, *args, match=None, **kwargs):
    with pytest.raises((AssertionError, RuntimeError), match=match):
        check(*args, **kwargs)


# ------------------------------------------------------------------ the losses
def test_correct_losses_pass():
    rng = np.random.default_rng(0)
    C.check_discriminator_loss(discriminator_loss, rng)
    C.check_generator_loss(generator_loss, rng)


def test_loss_mistakes_fail():
    rng = np.random.default_rng(1)
    bce = F.binary_cross_entropy_with_logits
    one, zero = torch.ones_like, torch.zeros_like
    # labels swapped in one term, a mean over the concatenated batch, half the loss, probabilities through log(sigmoid)
    _fails(C.check_discriminator_loss, lambda r, f: bce(r, one(r)) + bce(f, one(f)), rng, match="discriminator_loss")
    _fails(C.check_discriminator_loss, lambda r, f: bce(torch.cat([r, f]), torch.cat([one(r), zero(f)])), rng)
    _fails(C.check_discriminator_loss, lambda r, f: (bce(r, one(r)) + bce(f, zero(f))) / 2, rng)
    _fails(C.check_discriminator_loss,
           lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()), rng, match="150")
    # the notes' sign error, the two forms exchanged, the saturating form with the wrong sign, unstable forms
    _fails(C.check_generator_loss, lambda f, saturating=False: -torch.log(1 - torch.sigmoid(f)).mean(), rng, match="non-saturating")
    _fails(C.check_generator_loss, lambda f, saturating=False: generator_loss(f, not saturating), rng)
    _fails(C.check_generator_loss, lambda f, saturating=False: bce(f, zero(f)) if saturating else bce(f, one(f)), rng,
           match="saturating=True")
    _fails(C.check_generator_loss, lambda f, saturating=False: generator_loss(f), rng, match="saturating=True")
    _fails(C.check_generator_loss, lambda f, saturating=False: (torch.log(1 - torch.sigmoid(f)).mean() if saturating
                                                               else -torch.log(torch.sigmoid(f)).mean()), rng)


def test_course_reference_losses_are_refused():
    _fails(C.check_discriminator_loss, lambda r, f: M.discriminator_loss(r, f), np.random.default_rng(2), match="course")
    _fails(C.check_generator_loss, M.generator_loss, np.random.default_rng(2), match="course")


# ------------------------------------------------------------------ the networks
def test_correct_networks_pass():
    C.check_generator(Generator, np.random.default_rng(3), reference=M.DCGenerator)
    C.check_discriminator(Discriminator, np.random.default_rng(3), reference=M.DCDiscriminator)


class _BatchNormFirst(Discriminator):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
                                  nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 49, 1))
        self.apply(init_dcgan)


class _ReluDiscriminator(Discriminator):
    def __init__(self):
        super().__init__()
        self.body[1] = nn.ReLU()


class _SigmoidDiscriminator(Discriminator):
    def forward(self, x):
        return torch.sigmoid(super().forward(x))


class _PoolingDiscriminator(Discriminator):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.LeakyReLU(0.2), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, 1, 1),
                                  nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 49, 1))
        self.apply(init_dcgan)


class _DefaultInitDiscriminator(Discriminator):
    def __init__(self):
        nn.Module.__init__(self)
        self.body = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
                                  nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 49, 1))


class _TwoDimLogits(Discriminator):
    def forward(self, x):
        return self.body(x)


def test_discriminator_mistakes_fail():
    rng = np.random.default_rng(5)
    _fails(C.check_discriminator, _BatchNormFirst, rng, match="first layer")
    _fails(C.check_discriminator, _ReluDiscriminator, rng, match="LeakyReLU")
    _fails(C.check_discriminator, _SigmoidDiscriminator, rng, match="sigmoid")
    _fails(C.check_discriminator, _PoolingDiscriminator, rng)
    _fails(C.check_discriminator, _DefaultInitDiscriminator, rng, match="N\\(0, 0.02\\)")
    _fails(C.check_discriminator, _TwoDimLogits, rng, match="shape")


class _NoTanh(Generator):
    def __init__(self, latent_dim=64):
        super().__init__(latent_dim)
        self.up[-1] = nn.Identity()


class _LeakyGenerator(Generator):
    def __init__(self, latent_dim=64):
        super().__init__(latent_dim)
        self.up[0] = nn.LeakyReLU(0.2)


class _FixedLatent(Generator):
    def __init__(self, latent_dim=64):
        super().__init__(100)


class _UpsampleGenerator(nn.Module):
    def __init__(self, latent_dim=64):
        super().__init__()
        self.project = nn.Linear(latent_dim, 64 * 49)
        self.body = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Upsample(scale_factor=2), nn.Conv2d(32, 1, 3, 1, 1), nn.Tanh())
        self.apply(init_dcgan)

    def forward(self, z):
        return self.body(self.project(z).view(-1, 64, 7, 7))


class _OutputBatchNorm(Generator):
    def __init__(self, latent_dim=64):
        super().__init__(latent_dim)
        self.up = nn.Sequential(*self.up[:-1], nn.BatchNorm2d(1), nn.Tanh())
        self.apply(init_dcgan)


def test_generator_mistakes_fail():
    rng = np.random.default_rng(6)
    _fails(C.check_generator, _NoTanh, rng, match="Tanh|\\[-1, 1\\]")
    _fails(C.check_generator, _LeakyGenerator, rng, match="ReLU")
    _fails(C.check_generator, _FixedLatent, rng)
    _fails(C.check_generator, _UpsampleGenerator, rng, match="ConvTranspose2d")
    _fails(C.check_generator, _OutputBatchNorm, rng, match="output")


def test_copies_of_the_reference_are_refused():
    _fails(C.check_generator, M.DCGenerator, np.random.default_rng(7), reference=M.DCGenerator, match="same structure")
    _fails(C.check_discriminator, M.DCDiscriminator, np.random.default_rng(7), reference=M.DCDiscriminator,
           match="same structure")

    class Sub(M.DCDiscriminator):  # subclassing runs the reference's code, which the guard refuses
        pass

    _fails(C.check_discriminator, Sub, np.random.default_rng(7), match="reference implementation")


# ------------------------------------------------------------------ the training step
def test_correct_train_step_passes():
    C.check_train_step(train_step, np.random.default_rng(8))


def test_train_step_that_runs_g_again_for_its_phase_fails():
    """The instructions: generate the fakes once and score the same fakes again in G's phase."""
    def fresh(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        with torch.no_grad():
            fake = G(torch.randn(len(real), latent_dim))
        real_logits, fake_logits = D(real), D(fake)
        d_loss = discriminator_loss(real_logits, fake_logits)
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        for p in D.parameters():
            p.requires_grad_(False)
        g_loss = generator_loss(D(G(torch.randn(len(real), latent_dim))), saturating)
        for p in D.parameters():
            p.requires_grad_(True)
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": correct.item() / (2 * len(real))}

    with pytest.raises(AssertionError, match="G ran 2 times"):
        C.check_train_step(fresh, np.random.default_rng(9))


def _variant(**changes):
    """train_step with one thing changed."""

    def step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        z = changes.get("noise", lambda n, d: torch.randn(n, d))(len(real), latent_dim)
        fake = G(z)
        real_logits = D(real)
        fake_logits = D(fake if changes.get("no_detach") else fake.detach())
        d_loss = changes.get("d_loss", discriminator_loss)(real_logits, fake_logits)
        if not changes.get("no_zero_d"):
            opt_D.zero_grad()
        d_loss.backward(retain_graph=bool(changes.get("no_detach")))
        opt_D.step()
        scored = changes.get("g_scores", lambda: D(fake))()
        g_loss = generator_loss(scored, changes.get("force_saturating", saturating))
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
        if changes.get("both_step"):
            opt_D.step()
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": changes.get("accuracy", correct.item() / (2 * len(real)))}

    return step


def test_train_step_mistakes_fail():
    rng = np.random.default_rng(10)
    _fails(C.check_train_step, _variant(no_detach=True), rng, match="detach")
    _fails(C.check_train_step, _variant(both_step=True), rng, match="order|only opt_D")
    _fails(C.check_train_step, _variant(no_zero_d=True), rng, match="D's gradient")
    _fails(C.check_train_step, _variant(force_saturating=False), rng, match="saturating")
    _fails(C.check_train_step, _variant(d_loss=lambda r, f: discriminator_loss(f, r)), rng, match="D's gradient")
    _fails(C.check_train_step, _variant(noise=lambda n, d: torch.rand(n, d)), rng, match="N\\(0, I\\)")
    _fails(C.check_train_step, _variant(noise=lambda n, d: torch.randn(n, d, generator=torch.Generator().manual_seed(0))), rng,
           match="fresh z")
    _fails(C.check_train_step, _variant(accuracy=0.5), rng, match="d_accuracy")

    def d_only(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        fake = G(torch.randn(len(real), latent_dim)).detach()
        d_loss = discriminator_loss(D(real), D(fake))
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        return {"d_loss": d_loss.item(), "g_loss": 0.0, "d_accuracy": 1.0}

    _fails(C.check_train_step, d_only, rng, match="order")

    def own_optimiser(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        result = train_step(G, D, opt_G, opt_D, real, latent_dim, saturating)
        extra = torch.optim.SGD(G.parameters(), lr=0.01)
        sum(p.sum() for p in G.parameters()).backward()
        extra.step()
        return result

    _fails(C.check_train_step, own_optimiser, rng, match="changed after")


def test_more_train_step_mistakes_fail():
    """Wrong steps written from the released instructions alone."""
    rng = np.random.default_rng(11)

    def g_phase_detached(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        fake = G(torch.randn(len(real), latent_dim)).detach()  # detached once, used in both phases
        real_logits, fake_logits = D(real), D(fake)
        d_loss = discriminator_loss(real_logits, fake_logits)
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        g_loss = generator_loss(D(fake), saturating)
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": correct.item() / (2 * len(real))}

    _fails(C.check_train_step, g_phase_detached, rng, match="no gradient|G's gradient")

    def zero_grad_after_backward(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        fake = G(torch.randn(len(real), latent_dim))
        real_logits, fake_logits = D(real), D(fake.detach())
        d_loss = discriminator_loss(real_logits, fake_logits)
        d_loss.backward()
        opt_D.zero_grad()  # clears the gradient it has just computed
        opt_D.step()
        g_loss = generator_loss(D(fake), saturating)
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": correct.item() / (2 * len(real))}

    _fails(C.check_train_step, zero_grad_after_backward, rng, match="no gradient|D's gradient")

    def accuracy_after_the_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
        result = train_step(G, D, opt_G, opt_D, real, latent_dim, saturating)
        with torch.no_grad():  # the real batch re-scored by the updated D: not the accuracy of D's phase
            result["d_accuracy"] = (D(real) > 0).float().mean().item()
        return result

    _fails(C.check_train_step, accuracy_after_the_step, rng, match="changed after|d_accuracy|G was not")


class _HeuristicInEvalMode(Discriminator):
    """A discriminator whose evaluation-mode logits ignore its layers (share of background pixels)."""

    def forward(self, x):
        if self.training:
            return super().forward(x)
        return 40 * ((x <= -0.99).float().mean(dim=(1, 2, 3)) - 0.3)


def test_a_discriminator_that_ignores_its_layers_in_eval_mode_fails():
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.manual_seed(0)
    C._check_uses_its_layers(Discriminator(), images)
    torch.manual_seed(0)
    _fails(C._check_uses_its_layers, _HeuristicInEvalMode(), images, match="parameters are replaced")


def test_parameters_changed_before_the_first_forward_pass_are_seen():
    torch.manual_seed(0)
    disc = Discriminator()
    x = torch.rand(2, 1, 28, 28)
    with C._FirstCallSeesParameters(disc, "D") as watch:
        disc(x)
    watch.check("an honest call")
    with C._FirstCallSeesParameters(disc, "D") as watch:
        with torch.no_grad():
            next(disc.parameters()).add_(1.0)  # weights loaded before D is used
        disc(x)
    _fails(watch.check, "a call that loads weights", match="changed before its first forward pass")
