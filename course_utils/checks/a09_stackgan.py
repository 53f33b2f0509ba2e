"""Checks for assignment a09_stackgan: StackGAN's conditioning augmentation, both generators and its losses.

Conventions the instructions set (as in chapter 10 and Zhang et al., 2017): a text embedding phi_t is a float tensor
(N, embed_dim); images are in [-1, 1]; Stage-I draws 14x14 images, Stage-II 28x28 ones; a discriminator returns
one logit per pair. ``ConditioningAugmentation.forward(phi, eps=None)`` and both generators return
``(output, mu, logvar)`` with logvar = log sigma^2.

Limits (stated in the notebook's instructions too):

* ``NO_COURSE_STACKGAN`` for every graded function and class: nothing of ``course_utils.models.stackgan`` (the
  course's reference; its functions and classes are also marked ``@reference``) and nothing of
  ``torch.distributions`` may run while the student's code runs, and no file may be read. A generator or
  conditioning augmentation that is the reference with names changed is refused (``not_copied``:
  ``check_not_copied`` with ``COPY_THRESHOLD``, and a source that can be read, so no ``exec`` of a string).

Promise list (what the instructions promise for each graded function, and the check that holds it):

``kl_to_standard_normal(mu, logvar)``
  - a scalar tensor: KL(N(mu, diag exp(logvar)) || N(0, I)) **summed** over the dimensions and averaged over the
    batch (``check_kl``: against the closed form in float64 and ``torch.distributions.kl_divergence`` on fresh
    random parameters, dimensions 2 to 20, log-variances from -6 to 6); zero for mu = 0, logvar = 0;
  - differentiable, with the oracle's gradients.
``generator_loss(fake_logits, mu, logvar, kl_weight=1.0)``
  - -mean log D(fake, t) + kl_weight * KL (``check_kl``: against the oracle for the default weight, 0 and weights
    drawn at grading time; the KL term must be there and scale with ``kl_weight``; finite for logits of +-150;
    gradients reach mu and logvar).
``ConditioningAugmentation(embed_dim, cond_dim)``
  - exactly one ``nn.Linear(embed_dim, 2 * cond_dim)``: its first ``cond_dim`` outputs are mu, the last logvar
    (``check_conditioning_augmentation``: the test sets the layer's weights and compares mu and logvar with its
    own ``F.linear``, for sizes drawn at grading time);
  - ``forward(phi, eps)`` returns (c, mu, logvar), each (N, cond_dim), with c = mu + exp(logvar / 2) * eps exactly;
    its arguments unchanged;
  - gradients reach both halves of the linear layer through eps: for a loss sum(w * c) the layer's weight and
    bias gradients equal those of the formula (mu half: w; logvar half: w * sigma * eps / 2), with eps given and
    with eps drawn;
  - ``eps=None``: eps ~ N(0, I) drawn fresh on every call, independently for every entry ((c - mu) / sigma over
    4,000 identical rows has mean 0 and variance 1; two calls differ);
  - a design of the student's own (``check_not_copied`` against the reference class).
``StageIGenerator(embed_dim=32, cond_dim=16, noise_dim=32)`` (``check_stage_one``)
  - ``self.ca`` is a ``ConditioningAugmentation(embed_dim, cond_dim)`` of the student's class, and the returned
    (mu, logvar) are its outputs for phi;
  - ``forward(z, phi, eps=None)``: images (N, 1, 14, 14) in [-1, 1] for batch sizes and sizes drawn at grading time;
  - in eval mode, every image depends on its own z and its own phi (non-zero gradients) and on eps (another eps,
    another image; the same eps, the same image); without eps two calls differ (fresh eps);
  - fewer than ``MAX_PARAMETERS`` parameters; not a copy of the reference.
``ResidualBlock(channels)`` (``check_residual_block``)
  - ``self.body`` is F, a module whose output has the shape of its input; ``forward(x)`` returns exactly
    x + self.body(x), for channel counts and sizes drawn at grading time;
  - with the parameters of F's last layer set to zero, the block is the identity (x comes back exactly,
    negative entries included).
``StageIIGenerator(embed_dim=32, cond_dim=16, n_residual=2)`` (``check_stage_two``)
  - ``self.ca`` a ``ConditioningAugmentation`` of the student's class, (mu, logvar) its outputs;
  - ``forward(low_res, phi, eps=None)``: (N, 1, 14, 14) images -> (N, 1, 28, 28) in [-1, 1];
  - its forward pass runs exactly ``n_residual`` distinct ``ResidualBlock`` modules of the student's class;
  - in eval mode every output image depends on its own Stage-I image and on its own phi (non-zero gradients) and on
    eps; no noise of its own (same inputs and eps, same image); without eps two calls differ;
  - fewer than ``MAX_PARAMETERS`` parameters; not a copy of the reference.
``matching_aware_discriminator_loss(real_match, real_mismatch, fake_match)`` (``check_discriminator_loss``)
  - a scalar: -[mean log D(real, t) + (mean log(1 - D(real, t_wrong)) + mean log(1 - D(fake, t))) / 2] from
    logits, three batch means over batches of *different* sizes (against binary cross-entropy in float64 and the
    reference, fixed and fresh random logits);
  - the mismatched pair counts as fake with weight 1/2 (raising its logits by a raises the loss by the oracle's
    amount; its gradient is sigmoid(l) / (2 N));
  - finite and exact for logits of +-150; differentiable in all three arguments with the oracle's gradients.
``mismatched_indices(labels)`` (``check_mismatched_indices``)
  - a LongTensor (N,) of indices into the batch with labels[j] != labels[i] for every i (labels drawn at grading
    time, 2 to 10 classes, uneven class sizes); labels unchanged;
  - j uniform over the indices of the other classes, fresh on every call: every other-class index
    is drawn for every i, with frequencies within 6 standard deviations of uniform (600 calls, classes of sizes 1,
    2 and the rest); independently for every i (two images of the same digit get the same j about as often as
    chance says);
  - ``ValueError`` when some label has no other class in the batch (a batch of one class);
  - not a copy of the reference (``check_not_copied``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import grading as G
from course_utils.grading import Limits

GRADED_CELLS = ("kl", "conditioning_augmentation", "stage_one", "stage_two", "discriminator_loss", "mismatched")
NO_COURSE_STACKGAN = Limits(modules=("course_utils.models.stackgan", "torch.distributions"), no_files=True,
                            rule="Do not use the course's StackGAN code (course_utils.models.stackgan) or "
                                 "torch.distributions, and read no files: write these parts yourself.",
                            cells=GRADED_CELLS)
MAX_PARAMETERS = 2_000_000
# Share of AST structure (attribute names included) above which a class or function counts as the reference copied.
# The course's solution scores 0.53-0.64 against the reference; the reference pasted into a notebook cell with its
# names and attributes renamed scores 0.88-0.93 (a class from a notebook cell is compared method by method).
COPY_THRESHOLD = 0.8


# ------------------------------------------------------------------ oracles and small tools
def reference():
    """The course's reference module (the tests' oracle; blocked while student code runs)."""
    from course_utils.models import stackgan

    return stackgan


@G.reference  # an expected answer: graded code may not call it
def oracle_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) summed over dimensions, averaged over the batch, by torch.distributions."""
    from torch.distributions import Normal, kl_divergence

    mu, logvar = mu.double(), logvar.double()
    return kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1).mean()


def closed_form_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    mu, logvar = mu.double(), logvar.double()
    return (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(1).mean()


@G.reference  # an expected answer: graded code may not call it
def oracle_generator_loss(fake: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_weight: float = 1.0) -> torch.Tensor:
    fake = fake.double()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)) + kl_weight * oracle_kl(mu, logvar)


@G.reference  # an expected answer: graded code may not call it
def oracle_discriminator_loss(real_match: torch.Tensor, real_mismatch: torch.Tensor, fake_match: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: real + its text labelled 1 (weight 1); real + wrong text and fake + text labelled 0 (1/2 each)."""
    bce = F.binary_cross_entropy_with_logits
    real, wrong, fake = real_match.double(), real_mismatch.double(), fake_match.double()
    return bce(real, torch.ones_like(real)) + 0.5 * (bce(wrong, torch.zeros_like(wrong)) + bce(fake, torch.zeros_like(fake)))


def _tensor(value, name: str) -> torch.Tensor:
    G.check_true(torch.is_tensor(value), f"{name} should return a torch tensor, got {type(value).__name__}")
    return value


def _scalar(value, name: str) -> torch.Tensor:
    _tensor(value, name)
    G.check_true(value.dim() == 0, f"{name} should return a scalar (a tensor of shape ()), got shape {tuple(value.shape)}")
    return value


def _triple(result, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    G.check_true(isinstance(result, (tuple, list)) and len(result) == 3,
                 f"{name} should return a tuple of three tensors (output, mu, logvar), got {type(result).__name__}")
    return tuple(_tensor(r, name) for r in result)


def _parameters(model: nn.Module, what: str) -> None:
    count = sum(p.numel() for p in model.parameters())
    G.check_true(0 < count < MAX_PARAMETERS, f"{what} has {count:,} parameters; keep it between 1 and {MAX_PARAMETERS:,}")


def _seed(rng: np.random.Generator) -> None:
    torch.manual_seed(int(rng.integers(0, 2**31)))


def standard_normal_ok(z: torch.Tensor, what: str, sigmas: float = 6.0) -> None:
    """Fail unless the entries of ``z`` look like independent N(0, 1) draws (mean and variance)."""
    z = z.detach().double().flatten()
    n = z.numel()
    mean, var = float(z.mean()), float(z.var())
    G.check_true(abs(mean) < sigmas / math.sqrt(n), f"{what}: mean {mean:.3f} over {n} entries; eps should be N(0, 1) (mean 0)")
    G.check_true(abs(var - 1) < sigmas * math.sqrt(2 / n) + 0.01,
                 f"{what}: variance {var:.3f} over {n} entries; eps should be N(0, 1) (variance 1)")


def not_copied(student, reference_obj, what: str) -> None:
    """Fail for a class or function that is the course's reference with names changed, or whose source is unreadable.

    Code typed into a notebook cell always has a source; code made by ``exec`` of a string (the reference's
    source, say) has none, and the structural comparison could not see it.
    """
    G.check_has_source(student, what)
    G.check_not_copied(student, reference_obj, what, COPY_THRESHOLD)


def _module(value, what: str) -> nn.Module:
    G.check_true(isinstance(value, nn.Module), f"{what} should be an nn.Module, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------ part 1: the KL and the generator's loss
def check_kl(kl_to_standard_normal, generator_loss, rng: np.random.Generator | None = None, cases: int = 6) -> None:
    """The KL against the closed form and torch.distributions; the generator loss with its KL term and weight."""
    rng = rng if rng is not None else np.random.default_rng(0)
    gen = G.torch_generator(rng)
    zero = _scalar(G.call_student(kl_to_standard_normal, torch.zeros(3, 4), torch.zeros(3, 4), limits=NO_COURSE_STACKGAN),
                   "kl_to_standard_normal")
    G.check_close(zero.detach(), torch.tensor(0.0), "kl_to_standard_normal(0, 0) (the prior itself: KL 0)", atol=1e-7)
    for case in range(cases):
        n, d = int(rng.integers(1, 9)), int(rng.integers(2, 21))
        mu = torch.randn(n, d, generator=gen) * [0.5, 2.0, 3.0][case % 3]
        logvar = (torch.rand(n, d, generator=gen) * 2 - 1) * [1.0, 3.0, 6.0][case % 3]
        what = f"kl_to_standard_normal on mu, logvar of shape ({n}, {d})"
        result = _scalar(G.call_student(kl_to_standard_normal, mu.clone(), logvar.clone(), limits=NO_COURSE_STACKGAN), what)
        G.check_close(result.detach().double(), closed_form_kl(mu, logvar),
                      f"{what} (expected (mu^2 + sigma^2 - 1 - log sigma^2) / 2 summed over the {d} dimensions, averaged "
                      f"over the {n} rows)", rtol=1e-4, atol=1e-5)
        G.check_close(result.detach().double(), oracle_kl(mu, logvar), f"{what} against torch.distributions.kl_divergence",
                      rtol=1e-4, atol=1e-5)
    mu = (torch.randn(4, 6, generator=gen) * 1.5).requires_grad_(True)
    logvar = torch.randn(4, 6, generator=gen).requires_grad_(True)
    mu_ref, logvar_ref = mu.detach().double().requires_grad_(True), logvar.detach().double().requires_grad_(True)
    G.call_student(kl_to_standard_normal, mu, logvar, limits=NO_COURSE_STACKGAN).backward()
    oracle_kl(mu_ref, logvar_ref).backward()
    G.check_true(mu.grad is not None and logvar.grad is not None, "kl_to_standard_normal must be differentiable in mu and logvar")
    G.check_close(mu.grad, mu_ref.grad, "d KL / d mu", rtol=1e-4, atol=1e-6)
    G.check_close(logvar.grad, logvar_ref.grad, "d KL / d logvar", rtol=1e-4, atol=1e-6)

    # the generator's loss: adversarial term plus kl_weight times the KL
    for kl_weight in (None, 0.0, float(rng.uniform(0.2, 4.0))):
        n, d = int(rng.integers(2, 9)), int(rng.integers(2, 12))
        fake = torch.randn(n, generator=gen) * 3
        mu, logvar = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
        kwargs = {} if kl_weight is None else {"kl_weight": kl_weight}
        weight = 1.0 if kl_weight is None else kl_weight
        what = f"generator_loss({n} logits, mu and logvar ({n}, {d}){'' if kl_weight is None else f', kl_weight={kl_weight:.3f}'})"
        result = _scalar(G.call_student(generator_loss, fake.clone(), mu.clone(), logvar.clone(), limits=NO_COURSE_STACKGAN,
                                        **kwargs), what)
        G.check_close(result.detach().double(), oracle_generator_loss(fake, mu, logvar, weight),
                      f"{what} (expected -mean log D(fake, t) + kl_weight * KL; here the KL is "
                      f"{oracle_kl(mu, logvar).item():.4f})", rtol=1e-4, atol=1e-5)
    huge = torch.tensor([-150.0, 150.0, 2.0])
    mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)
    result = _scalar(G.call_student(generator_loss, huge.clone(), mu, logvar, limits=NO_COURSE_STACKGAN), "generator_loss")
    G.check_close(result.detach().double(), oracle_generator_loss(huge, mu, logvar),
                  "generator_loss for logits of +-150 (compute log D from the logits, e.g. with F.logsigmoid)", rtol=1e-5)
    fake = torch.randn(5, generator=gen).requires_grad_(True)
    mu = torch.randn(5, 3, generator=gen).requires_grad_(True)
    logvar = torch.randn(5, 3, generator=gen).requires_grad_(True)
    G.call_student(generator_loss, fake, mu, logvar, kl_weight=0.5, limits=NO_COURSE_STACKGAN).backward()
    refs = [t.detach().double().requires_grad_(True) for t in (fake, mu, logvar)]
    oracle_generator_loss(*refs, kl_weight=0.5).backward()
    for mine, ref, name in zip((fake, mu, logvar), refs, ("fake_logits", "mu", "logvar")):
        G.check_true(mine.grad is not None, f"generator_loss must be differentiable in {name} (the KL term reaches mu and logvar)")
        G.check_close(mine.grad, ref.grad, f"d generator_loss / d {name} with kl_weight=0.5", rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ part 2: conditioning augmentation
def _the_linear(ca: nn.Module, embed_dim: int, cond_dim: int, what: str) -> nn.Linear:
    linears = [m for m in ca.modules() if isinstance(m, nn.Linear)]
    G.check_true(len(linears) == 1, f"{what} has {len(linears)} nn.Linear layers; it should have exactly one, "
                                    f"nn.Linear({embed_dim}, {2 * cond_dim}), giving mu and logvar")
    layer = linears[0]
    G.check_true((layer.in_features, layer.out_features) == (embed_dim, 2 * cond_dim),
                 f"{what}: its linear layer is nn.Linear({layer.in_features}, {layer.out_features}); it should be "
                 f"nn.Linear({embed_dim}, {2 * cond_dim}) (mu and logvar, {cond_dim} each)")
    return layer


def check_conditioning_augmentation(ConditioningAugmentation, rng: np.random.Generator | None = None, reference_class=None) -> None:
    """One linear layer for mu and logvar, c = mu + exp(logvar / 2) eps, gradients through eps, fresh eps."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if reference_class is not None:
        not_copied(ConditioningAugmentation, reference_class, "ConditioningAugmentation")
    gen = G.torch_generator(rng)
    for embed_dim, cond_dim in ((32, 16), (int(rng.integers(3, 40)), int(rng.integers(2, 20)))):
        _seed(rng)
        what = f"ConditioningAugmentation({embed_dim}, {cond_dim})"
        ca = _module(G.construct_student(ConditioningAugmentation, embed_dim, cond_dim, limits=NO_COURSE_STACKGAN), what)
        layer = _the_linear(ca, embed_dim, cond_dim, what)
        with torch.no_grad():  # weights of the test's choosing: log-variances well away from 0
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.4)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.5)
        for n in (1, int(rng.integers(2, 9))):
            phi = torch.randn(n, embed_dim, generator=gen)
            eps = torch.randn(n, cond_dim, generator=gen)
            phi_in, eps_in = phi.clone(), eps.clone()
            ca.zero_grad(set_to_none=True)
            c, mu, logvar = _triple(G.call_student(ca, phi_in, eps_in, limits=NO_COURSE_STACKGAN), f"{what}(phi, eps)")
            for value, name in ((c, "c"), (mu, "mu"), (logvar, "logvar")):
                G.check_shape(value, (n, cond_dim), f"{name} of {what} for phi of shape ({n}, {embed_dim})")
            G.check_true(torch.equal(phi_in, phi) and torch.equal(eps_in, eps), f"{what} changed its arguments phi or eps")
            stats = F.linear(phi, layer.weight.detach(), layer.bias.detach())
            G.check_close(mu.detach(), stats[:, :cond_dim], f"mu of {what} (the first {cond_dim} outputs of the linear layer)",
                          rtol=1e-5, atol=1e-6)
            G.check_close(logvar.detach(), stats[:, cond_dim:], f"logvar of {what} (the last {cond_dim} outputs of the "
                          "linear layer)", rtol=1e-5, atol=1e-6)
            sigma = torch.exp(stats[:, cond_dim:] / 2)
            G.check_close(c.detach(), stats[:, :cond_dim] + sigma * eps,
                          f"c of {what} with a given eps (c = mu + sigma * eps, sigma = exp(logvar / 2): logvar is log sigma^2)",
                          rtol=1e-5, atol=1e-6)
            _check_ca_gradient(ca, layer, phi, c, eps, sigma, cond_dim, gen, f"{what} with a given eps")
        # eps drawn inside: N(0, I), fresh, independent per entry, and the gradient still flows through it
        draws = 4000
        phi_row = torch.randn(1, embed_dim, generator=gen)
        with torch.no_grad():
            c, mu, logvar = _triple(G.call_student(ca, phi_row.expand(draws, embed_dim).clone(), limits=NO_COURSE_STACKGAN),
                                    f"{what}(phi)")
        G.check_shape(c, (draws, cond_dim), f"c of {what}(phi) for {draws} identical rows of phi")
        implied = (c - mu) / torch.exp(logvar / 2)
        standard_normal_ok(implied, f"{what}(phi) without eps: the implied eps = (c - mu) / exp(logvar / 2) over {draws} "
                                    "identical rows")
        G.check_true(bool((implied.std(dim=0) > 0.5).all()),
                     f"{what}(phi) without eps: identical rows of phi got (nearly) the same c; draw eps for every row")
        again, _, _ = _triple(G.call_student(ca, phi_row.expand(draws, embed_dim).clone(), limits=NO_COURSE_STACKGAN), f"{what}(phi)")
        G.check_true(not torch.equal(again.detach(), c), f"two calls of {what}(phi) returned the same c: draw fresh eps every call")
        phi = torch.randn(5, embed_dim, generator=gen)
        ca.zero_grad(set_to_none=True)
        c, mu, logvar = _triple(G.call_student(ca, phi.clone(), limits=NO_COURSE_STACKGAN), f"{what}(phi)")
        sigma = torch.exp(logvar.detach() / 2)
        _check_ca_gradient(ca, layer, phi, c, (c.detach() - mu.detach()) / sigma, sigma, cond_dim, gen,
                           f"{what}(phi) with eps drawn inside")


def _check_ca_gradient(ca, layer, phi, c, eps, sigma, cond_dim, gen, what: str) -> None:
    """For the loss sum(w * c): the linear layer's gradients are those of c = mu + sigma * eps (both halves)."""
    G.check_true(c.requires_grad, f"{what}: c does not depend on the linear layer in the autograd graph")
    w = torch.randn(c.shape, generator=gen)
    (c * w).sum().backward()
    G.check_true(layer.weight.grad is not None and layer.bias.grad is not None,
                 f"{what}: after backward the linear layer has no gradient; compute c from its outputs")
    upstream = torch.cat([w, w * sigma * eps / 2], dim=1)  # d loss / d (mu, logvar)
    G.check_close(layer.weight.grad[:cond_dim], upstream[:, :cond_dim].T @ phi,
                  f"{what}: gradient of the mu half of the linear layer's weight", rtol=1e-4, atol=1e-5)
    G.check_close(layer.weight.grad[cond_dim:], upstream[:, cond_dim:].T @ phi,
                  f"{what}: gradient of the logvar half of the linear layer's weight (through sigma * eps: "
                  "d c / d logvar = sigma * eps / 2)", rtol=1e-4, atol=1e-5)
    G.check_close(layer.bias.grad, upstream.sum(0), f"{what}: gradient of the linear layer's bias", rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ the generators
def _check_ca_outputs(generator, ConditioningAugmentation, phi, eps, mu, logvar, what: str) -> None:
    ca = getattr(generator, "ca", None)
    G.check_true(isinstance(ca, ConditioningAugmentation),
                 f"{what}: self.ca should be your ConditioningAugmentation, got {type(ca).__name__}")
    _, mu_ca, logvar_ca = _triple(G.call_student(ca, phi.clone(), eps.clone(), limits=NO_COURSE_STACKGAN), f"{what}.ca")
    G.check_close(mu.detach(), mu_ca.detach(), f"{what}: the returned mu should be self.ca's mu for phi", rtol=1e-5, atol=1e-6)
    G.check_close(logvar.detach(), logvar_ca.detach(), f"{what}: the returned logvar should be self.ca's", rtol=1e-5, atol=1e-6)


def _rows_nonzero(grad, what: str) -> None:
    G.check_true(grad is not None, f"{what}: no gradient at all")
    norms = grad.detach().flatten(1).abs().sum(1)
    G.check_true(bool((norms > 0).all()), f"{what}: zero for rows {torch.nonzero(norms == 0).flatten().tolist()[:5]}")


def _check_dependence(generator, first: torch.Tensor, phi: torch.Tensor, cond_dim: int, gen, what: str, first_name: str) -> None:
    """In eval mode: each output depends on its own first input and phi; eps matters; fixed eps, fixed output; fresh eps."""
    generator.eval()
    n = len(phi)
    eps = torch.randn(n, cond_dim, generator=gen)
    x, p = first.clone().requires_grad_(True), phi.clone().requires_grad_(True)
    out, _, _ = _triple(G.call_student(generator, x, p, eps.clone(), limits=NO_COURSE_STACKGAN), what)
    G.check_true(out.requires_grad, f"{what}: the output is not connected to the inputs in the autograd graph")
    out.sum().backward()
    _rows_nonzero(x.grad, f"{what} in eval mode: the gradient of each output image with respect to its own {first_name}")
    _rows_nonzero(p.grad, f"{what} in eval mode: the gradient of each output image with respect to its own phi")
    with torch.no_grad():
        same, _, _ = _triple(G.call_student(generator, first.clone(), phi.clone(), eps.clone(), limits=NO_COURSE_STACKGAN), what)
        G.check_close(same, out.detach(), f"{what} in eval mode, called twice with the same inputs and the same eps "
                      "(no other randomness)", rtol=1e-5, atol=1e-6)
        other, _, _ = _triple(G.call_student(generator, first.clone(), phi.clone(), torch.randn(n, cond_dim, generator=gen),
                                             limits=NO_COURSE_STACKGAN), what)
        G.check_true(bool(((other - out.detach()).flatten(1).abs().sum(1) > 0).all()),
                     f"{what}: another eps gave the same image; pass eps to self.ca and feed its c to the network")
        a, _, _ = _triple(G.call_student(generator, first.clone(), phi.clone(), limits=NO_COURSE_STACKGAN), what)
        b, _, _ = _triple(G.call_student(generator, first.clone(), phi.clone(), limits=NO_COURSE_STACKGAN), what)
        G.check_true(not torch.equal(a, b), f"{what} without eps gave the same images twice: the conditioning augmentation "
                                            "should draw fresh eps")
    generator.train()


def _check_images(images: torch.Tensor, shape: tuple, what: str) -> None:
    images = images.detach()
    G.check_shape(images, shape, what)
    G.check_finite(images, what)
    G.check_true(float(images.abs().max()) <= 1.0 + 1e-6,
                 f"{what} has values up to {float(images.abs().max()):.3g}; images are in [-1, 1] (end with tanh)")


def _check_ends_in_tanh(generator: nn.Module, first: torch.Tensor, phi: torch.Tensor, eps: torch.Tensor, what: str) -> None:
    """The output is tanh of the last layer with parameters: with that layer's weights zeroed and its bias set to b,
    every pixel must be tanh(b) (0 without a bias). A sigmoid would give sigmoid(b), a ReLU max(b, 0)."""
    generator.eval()
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda module, inputs, output: order.append(module))
             for m in generator.modules() if not list(m.children()) and list(m.parameters(recurse=False))]
    try:
        with torch.no_grad():
            G.call_student(generator, first.clone(), phi.clone(), eps.clone(), limits=NO_COURSE_STACKGAN)
    finally:
        for hook in hooks:
            hook.remove()
    G.check_true(len(order) > 0, f"{what}: no layer with parameters ran in the forward pass")
    last = order[-1]
    bias = getattr(last, "bias", None)
    with torch.no_grad():
        saved = {name: value.clone() for name, value in last.named_parameters(recurse=False)}
        for name, value in last.named_parameters(recurse=False):
            value.zero_()
        if isinstance(bias, torch.Tensor):
            bias.fill_(-2.0)
        pre = -2.0 if isinstance(bias, torch.Tensor) else 0.0
        target = math.tanh(pre)
        try:
            images, _, _ = _triple(G.call_student(generator, first.clone(), phi.clone(), eps.clone(),
                                                  limits=NO_COURSE_STACKGAN), what)
        finally:
            for name, value in last.named_parameters(recurse=False):
                value.copy_(saved[name])
    G.check_close(images.detach().double(), torch.full_like(images.detach().double(), target),
                  f"{what} with its last layer ({type(last).__name__}) giving {pre:g} everywhere: the images "
                  "should be tanh of it (end with tanh, nothing after it)", rtol=1e-4, atol=1e-4)


def check_stage_one(StageIGenerator, ConditioningAugmentation, rng: np.random.Generator | None = None, reference_class=None) -> None:
    """Shapes, range, its CA's mu and logvar, and dependence on z, phi and eps."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if reference_class is not None:
        not_copied(StageIGenerator, reference_class, "StageIGenerator")
    gen = G.torch_generator(rng)
    configs = [(None, None, None), (int(rng.integers(4, 48)), int(rng.integers(2, 24)), int(rng.integers(2, 64)))]
    for embed_dim, cond_dim, noise_dim in configs:
        _seed(rng)
        if embed_dim is None:
            what, (embed_dim, cond_dim, noise_dim) = "StageIGenerator()", (32, 16, 32)
            model = G.construct_student(StageIGenerator, limits=NO_COURSE_STACKGAN)
        else:
            what = f"StageIGenerator(embed_dim={embed_dim}, cond_dim={cond_dim}, noise_dim={noise_dim})"
            model = G.construct_student(StageIGenerator, embed_dim=embed_dim, cond_dim=cond_dim, noise_dim=noise_dim,
                                   limits=NO_COURSE_STACKGAN)
        _module(model, what)
        _parameters(model, what)
        model.train()
        for n in (2, int(rng.integers(3, 10))):
            z = torch.randn(n, noise_dim, generator=gen)
            phi = torch.randn(n, embed_dim, generator=gen)
            eps = torch.randn(n, cond_dim, generator=gen)
            images, mu, logvar = _triple(G.call_student(model, z.clone(), phi.clone(), eps.clone(), limits=NO_COURSE_STACKGAN),
                                         f"{what}(z, phi, eps)")
            _check_images(images, (n, 1, 14, 14), f"{what}(z, phi, eps) for a batch of {n}")
            G.check_shape(mu, (n, cond_dim), f"mu of {what}")
            _check_ca_outputs(model, ConditioningAugmentation, phi, eps, mu, logvar, what)
        _check_dependence(model, torch.randn(4, noise_dim, generator=gen), torch.randn(4, embed_dim, generator=gen),
                          cond_dim, gen, what, "noise z")
        _check_ends_in_tanh(model, torch.randn(3, noise_dim, generator=gen), torch.randn(3, embed_dim, generator=gen),
                            torch.randn(3, cond_dim, generator=gen), what)


def check_residual_block(ResidualBlock, rng: np.random.Generator | None = None) -> None:
    """forward(x) = x + self.body(x) exactly; with F's last layer zeroed, the identity."""
    rng = rng if rng is not None else np.random.default_rng(0)
    gen = G.torch_generator(rng)
    for channels in (8, int(rng.integers(2, 20))):
        _seed(rng)
        what = f"ResidualBlock({channels})"
        block = _module(G.construct_student(ResidualBlock, channels, limits=NO_COURSE_STACKGAN), what)
        body = getattr(block, "body", None)
        G.check_true(isinstance(body, nn.Module), f"{what}: store F, the block's layers, as self.body (an nn.Module)")
        block.eval()
        n, h, w = int(rng.integers(2, 5)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
        x = torch.randn(n, channels, h, w, generator=gen)
        with torch.no_grad():
            out = _tensor(G.call_student(block, x.clone(), limits=NO_COURSE_STACKGAN), what)
            G.check_shape(out, tuple(x.shape), f"{what}(x) for x of shape {tuple(x.shape)}")
            f_x = _tensor(G.call_student(body, x.clone(), limits=NO_COURSE_STACKGAN), f"{what}.body")
            G.check_shape(f_x, tuple(x.shape), f"{what}.body(x) (F keeps the shape of x)")
            G.check_true(float((f_x).abs().max()) > 0, f"{what}.body(x) is zero everywhere before any change: F should be layers")
            G.check_close(out, x + f_x, f"{what}(x) (a residual block returns x + F(x) with F = self.body)", rtol=1e-5, atol=1e-5)
            last = [m for m in body.modules() if list(m.parameters(recurse=False))]
            G.check_true(len(last) > 0, f"{what}.body has no layer with parameters")
            leaves = [m for m in body.modules() if not list(m.children())]
            G.check_true(leaves[-1] is last[-1], f"{what}.body ends in {type(leaves[-1]).__name__}, a layer without "
                         "parameters; its last layer should have parameters (such as nn.Conv2d or nn.BatchNorm2d)")
            for p in last[-1].parameters(recurse=False):
                p.zero_()
            identity = _tensor(G.call_student(block, x.clone(), limits=NO_COURSE_STACKGAN), what)
            G.check_close(identity, x, f"{what}(x) with the parameters of F's last layer ({type(last[-1]).__name__}) set to zero: "
                          "F(x) = 0, so the block should return x itself (the identity path, nothing after the addition)",
                          rtol=1e-6, atol=1e-6)


def check_stage_two(StageIIGenerator, ResidualBlock, ConditioningAugmentation, rng: np.random.Generator | None = None,
                    reference_class=None) -> None:
    """Shapes, range, n_residual residual blocks run, its CA, and dependence on the Stage-I image, phi and eps."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if reference_class is not None:
        not_copied(StageIIGenerator, reference_class, "StageIIGenerator")
    gen = G.torch_generator(rng)
    configs = [(None, None, None), (int(rng.integers(4, 48)), int(rng.integers(2, 24)), int(rng.choice([1, 3])))]  # not the default 2
    for embed_dim, cond_dim, n_residual in configs:
        _seed(rng)
        if embed_dim is None:
            what, (embed_dim, cond_dim, n_residual) = "StageIIGenerator()", (32, 16, 2)
            model = G.construct_student(StageIIGenerator, limits=NO_COURSE_STACKGAN)
        else:
            what = f"StageIIGenerator(embed_dim={embed_dim}, cond_dim={cond_dim}, n_residual={n_residual})"
            model = G.construct_student(StageIIGenerator, embed_dim=embed_dim, cond_dim=cond_dim, n_residual=n_residual,
                                   limits=NO_COURSE_STACKGAN)
        _module(model, what)
        _parameters(model, what)
        model.train()
        for n in (2, int(rng.integers(3, 8))):
            low = torch.rand(n, 1, 14, 14, generator=gen) * 2 - 1
            phi = torch.randn(n, embed_dim, generator=gen)
            eps = torch.randn(n, cond_dim, generator=gen)
            ran: list[nn.Module] = []
            hooks = [m.register_forward_hook(lambda m, i, o: ran.append(m)) for m in model.modules()
                     if isinstance(m, ResidualBlock)]
            try:
                images, mu, logvar = _triple(G.call_student(model, low.clone(), phi.clone(), eps.clone(), limits=NO_COURSE_STACKGAN),
                                             f"{what}(low_res, phi, eps)")
            finally:
                for hook in hooks:
                    hook.remove()
            _check_images(images, (n, 1, 28, 28), f"{what}(low_res, phi, eps) for a batch of {n} Stage-I images")
            distinct = len({id(m) for m in ran})
            G.check_true(distinct == n_residual and len(ran) == n_residual,
                         f"{what}: its forward pass ran {len(ran)} ResidualBlock calls ({distinct} distinct blocks); it should "
                         f"run {n_residual} ResidualBlock modules of your class, each once")
            G.check_shape(mu, (n, cond_dim), f"mu of {what}")
            _check_ca_outputs(model, ConditioningAugmentation, phi, eps, mu, logvar, what)
        _check_dependence(model, torch.rand(3, 1, 14, 14, generator=gen) * 2 - 1, torch.randn(3, embed_dim, generator=gen),
                          cond_dim, gen, what, "Stage-I image")
        _check_ends_in_tanh(model, torch.rand(3, 1, 14, 14, generator=gen) * 2 - 1, torch.randn(3, embed_dim, generator=gen),
                            torch.randn(3, cond_dim, generator=gen), what)


# ------------------------------------------------------------------ part 5: the matching-aware discriminator's loss
def check_discriminator_loss(loss, rng: np.random.Generator | None = None, cases: int = 6) -> None:
    """Against binary cross-entropy and the reference; the mismatched pair is fake with weight 1/2; stable; gradients."""
    rng = rng if rng is not None else np.random.default_rng(0)
    gen = G.torch_generator(rng)
    S = reference()
    for case in range(cases):
        sizes = [int(s) for s in rng.choice(np.arange(2, 12), size=3, replace=False)]  # three different batch sizes
        scale = [0.5, 3.0, 8.0][case % 3]
        real, wrong, fake = (torch.randn(s, generator=gen) * scale for s in sizes)
        what = (f"matching_aware_discriminator_loss on {sizes[0]} real+matching, {sizes[1]} real+mismatched and {sizes[2]} "
                f"fake+matching logits of scale {scale}")
        result = _scalar(G.call_student(loss, real.clone(), wrong.clone(), fake.clone(), limits=NO_COURSE_STACKGAN), what)
        expected = oracle_discriminator_loss(real, wrong, fake)
        G.check_close(result.detach().double(), expected, f"{what} (expected -[mean log D(real, t) + (mean log(1 - D(real, "
                      "t_wrong)) + mean log(1 - D(fake, t))) / 2], one mean per batch)", rtol=1e-5, atol=1e-6)
        G.check_close(expected, S.matching_aware_discriminator_loss(real.double(), wrong.double(), fake.double()),
                      "the oracle against the course's reference", rtol=1e-9, atol=1e-9)
        # the mismatched pair alone: raising its logits by a changes the loss by the oracle's amount
        shift = float(rng.uniform(1.0, 4.0))
        shifted = _scalar(G.call_student(loss, real.clone(), wrong + shift, fake.clone(), limits=NO_COURSE_STACKGAN), what)
        change = float(shifted.detach()) - float(result.detach())
        expected_change = float(oracle_discriminator_loss(real, wrong + shift, fake) - expected)
        G.check_true(abs(change - expected_change) <= 1e-4 * (1 + abs(expected_change)),
                     f"{what}: raising the real+mismatched logits by {shift:.2f} changed the loss by {change:+.4f}, expected "
                     f"{expected_change:+.4f}: the mismatched pair counts as fake (label 0) with weight 1/2")
    huge = torch.tensor([150.0, -150.0, 30.0])
    result = _scalar(G.call_student(loss, huge.clone(), -huge.clone(), huge.clone(), limits=NO_COURSE_STACKGAN),
                     "matching_aware_discriminator_loss")
    G.check_close(result.detach().double(), oracle_discriminator_loss(huge, -huge, huge),
                  "matching_aware_discriminator_loss for logits of +-150 (compute log D and log(1 - D) from the logits, "
                  "e.g. with F.logsigmoid: log(sigmoid(-150)) underflows to -inf)", rtol=1e-5)
    tensors = [(torch.randn(s, generator=gen) * 2).requires_grad_(True) for s in (4, 6, 5)]
    refs = [t.detach().double().requires_grad_(True) for t in tensors]
    G.call_student(loss, *tensors, limits=NO_COURSE_STACKGAN).backward()
    oracle_discriminator_loss(*refs).backward()
    for mine, ref, name in zip(tensors, refs, ("real_match", "real_mismatch", "fake_match")):
        G.check_true(mine.grad is not None, f"matching_aware_discriminator_loss must be differentiable in {name}")
        G.check_close(mine.grad, ref.grad, f"d loss / d {name}" + (" (sigmoid(l) / (2 N): fake, weight 1/2)"
                                                                  if name == "real_mismatch" else ""), rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ part 6: mismatched captions
def _labels(rng: np.random.Generator, n: int, classes: int) -> torch.Tensor:
    """Labels of n items over ``classes`` classes (at least two present), uneven class sizes, shuffled."""
    weights = rng.dirichlet(np.ones(classes))
    labels = rng.choice(classes, size=n, p=weights)
    labels[:2] = rng.choice(classes, size=2, replace=False)
    rng.shuffle(labels)
    return torch.as_tensor(labels, dtype=torch.long)


def check_mismatched_indices(mismatched_indices, rng: np.random.Generator | None = None, reference_function=None) -> None:
    """Always another class; every other-class index reachable, about uniformly, fresh each call; one class: ValueError."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if reference_function is not None:
        not_copied(mismatched_indices, reference_function, "mismatched_indices")
    for n, classes in ((int(rng.integers(4, 12)), 2), (int(rng.integers(10, 40)), int(rng.integers(3, 11))), (2, 2)):
        labels = _labels(rng, n, classes)
        for _ in range(3):
            given = labels.clone()
            j = _tensor(G.call_student(mismatched_indices, given, limits=NO_COURSE_STACKGAN), "mismatched_indices")
            what = f"mismatched_indices(labels={labels.tolist()})"
            G.check_true(torch.equal(given, labels), f"{what} changed its argument")
            G.check_shape(j, (n,), what)
            G.check_true(not j.is_floating_point() and not j.dtype == torch.bool, f"{what} should return integer indices, got {j.dtype}")
            G.check_true(bool(((j >= 0) & (j < n)).all()), f"{what} returned {j.tolist()}: indices must be in 0..{n - 1}")
            same = torch.nonzero(labels[j] == labels).flatten().tolist()
            G.check_true(not same, f"{what} returned {j.tolist()}: for i = {same[:3]} the chosen caption has the same label "
                                   "as the image; a mismatched caption must come from another class")
    # reachability and uniformity: three classes of very different sizes (1, 2 and the rest)
    n = int(rng.integers(7, 11))
    classes = rng.permutation(10)[:3]
    labels = torch.as_tensor(rng.permutation([classes[0]] + [classes[1]] * 2 + [classes[2]] * (n - 3)), dtype=torch.long)
    calls = 600
    draws = torch.stack([_tensor(G.call_student(mismatched_indices, labels.clone(), limits=NO_COURSE_STACKGAN),
                                 "mismatched_indices") for _ in range(calls)])
    for i in range(n):
        others = [k for k in range(n) if labels[k] != labels[i]]
        counts = torch.bincount(draws[:, i].long(), minlength=n)
        missing = [k for k in others if counts[k] == 0]
        G.check_true(not missing, f"mismatched_indices(labels={labels.tolist()}) over {calls} calls never chose {missing} for "
                                  f"i = {i}: j should be drawn at random among all {len(others)} indices of other classes, "
                                  "fresh on every call")
        p = 1 / len(others)
        sd = math.sqrt(calls * p * (1 - p))
        worst = max(abs(int(counts[k]) - calls * p) for k in others) / max(sd, 1e-9)
        G.check_true(worst < 6, f"mismatched_indices(labels={labels.tolist()}) over {calls} calls chose the indices "
                                f"{others} for i = {i} {[int(counts[k]) for k in others]} times; each should be drawn with "
                                f"probability 1/{len(others)} (uniform over the indices of the other classes)")
    # independent draws: the two images of the class of size 2 share their candidates, but not their draws
    a, b = torch.nonzero(labels == int(classes[1])).flatten().tolist()
    k = n - 2
    equal = int((draws[:, a] == draws[:, b]).sum())
    limit = calls / k + 6 * math.sqrt(calls * (1 / k) * (1 - 1 / k))
    G.check_true(equal <= limit, f"mismatched_indices(labels={labels.tolist()}): over {calls} calls, images {a} and {b} (the same "
                                 f"digit) got the same mismatched index {equal} times; draw j independently for every i "
                                 f"(expected about {calls / k:.0f} times)")
    # a batch of one class has no mismatch
    single = torch.full((int(rng.integers(2, 6)),), int(rng.integers(0, 10)))
    try:
        G.call_student(mismatched_indices, single.clone(), limits=NO_COURSE_STACKGAN)
    except ValueError:
        return
    raise AssertionError(f"mismatched_indices({single.tolist()}) should raise ValueError: a batch of one class has no "
                         "caption of another class")
