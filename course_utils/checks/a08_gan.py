"""Checks for assignment a08_gan: GAN losses, a DCGAN and the alternating training step.

Limits (stated in the notebook's instructions too):

* ``NO_COURSE_GAN`` for the losses and the networks: nothing of the course's GAN code
  (``course_utils.models.gan``) may run; its reference functions and classes are blocked anyway, and copies of the
  reference networks are recognised (``check_not_copied``). ``torch``, ``torch.nn``, ``torch.nn.functional``
  (``F.binary_cross_entropy_with_logits`` included) and ``torch.optim`` are allowed.
* ``STEP_LIMITS`` for ``train_step``: the same, and no reading of files.

Promise list (what the instructions promise for each graded function, and the check that holds it):

``discriminator_loss(real_logits, fake_logits)``
  - a scalar tensor: -(mean of log D(x) over the real logits + mean of log(1 - D(G(z))) over the fake logits),
    D = sigmoid(logit) (``check_discriminator_loss``: against ``F.binary_cross_entropy_with_logits`` in float64 on
    fixed and fresh random logits, real and fake batches of *different* sizes, so a mean over the concatenated
    batch or a swapped label is caught);
  - finite and exact for logits of magnitude 100 and more (numerically stable);
  - differentiable in both arguments, with the oracle's gradients; arguments unchanged.
``generator_loss(fake_logits, saturating=False)``
  - a scalar tensor; non-saturating (default): -mean log D(G(z)); ``saturating=True``: mean log(1 - D(G(z)))
    (``check_generator_loss``: both forms against the oracle on fixed and fresh random logits, the sign of each,
    large logits, gradients; the notes' -mean log(1 - D(G(z))) fails).
``Generator(latent_dim=64)``
  - z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1], for batch sizes 2 to 9 and latent sizes drawn at
    grading time (``check_generator``: shapes and range);
  - DCGAN structure, read from the modules its forward pass runs: at least two ``nn.ConvTranspose2d``,
    ``nn.BatchNorm2d``, ``nn.ReLU`` and no leaky ReLU, ``nn.Tanh`` last with no batch norm right before the output;
  - the DCGAN initialisation in the constructor: every convolution, transposed convolution and linear weight
    ~ N(0, 0.02), biases 0, batch-norm scales ~ N(1, 0.02) and shifts 0 (pooled statistics of the weights);
  - different noise gives different images; fewer than ``MAX_PARAMETERS`` parameters; a design of the student's
    own (``check_not_copied`` against ``course_utils.models.gan.DCGenerator``).
``Discriminator()``
  - images (N, 1, 28, 28) -> logits (N,) for batch sizes 2 to 9 in training mode and a single image in evaluation
    mode (shape (1,), not a 0-d tensor) (``check_discriminator``);
  - DCGAN structure: at least two strided ``nn.Conv2d`` and no pooling, ``nn.LeakyReLU`` with slope 0.2 and no
    ReLU, ``nn.BatchNorm2d`` on a later layer but **not** right after the first convolution, no sigmoid at the end;
  - the DCGAN initialisation; different images give different logits; fewer than ``MAX_PARAMETERS`` parameters;
    not a copy of ``course_utils.models.gan.DCDiscriminator``.
``train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False)``
  (``check_train_step``: three successive calls with the test's own small networks and optimisers that record
  every step, for both values of ``saturating``)
  - draws z ~ N(0, I) of shape (N, latent_dim), fresh every call (G's inputs are recorded), and runs G once: the
    same fakes are scored in both phases (G's forward calls are counted);
  - D's phase first: exactly one ``opt_D.step()``, with no gradient in G's parameters at that moment (the fake
    batch is detached) and D's gradient equal to the gradient of the D loss on ``real`` and G(z) (so the
    gradients were cleared first and the labels are right), and G's parameters untouched;
  - then G's phase: exactly one ``opt_G.step()``, with G's gradient equal to the gradient of the G loss (the form
    ``saturating`` asks for) of the *updated* D on G(z); D's parameters stay as D's step left them;
  - nothing else changes the parameters (no extra optimiser);
  - returns ``{"d_loss", "g_loss", "d_accuracy"}``: the D loss of D's phase, the G loss of G's phase, and the share
    of the 2N samples D classified correctly in D's phase (logit > 0 for real, < 0 for fake), all recomputed by the
    test from the logits it recorded.
``graded_run`` (the one timed training run; fewer than a quarter of the points)
  - a fresh ``Generator(64)`` and ``Discriminator()`` trained with the student's ``train_step`` for
    ``GRADED_STEPS`` steps of ``GRADED_BATCH`` training digits (the test's batches and Adam optimisers); D, in eval
    mode, must then classify at least ``GRADED_MIN_ACCURACY`` of held-out real digits and fresh fakes correctly, and
    its logits in evaluation mode must come from its parameters (a copy with other weights scores differently); in
    every step, the first forward pass of G and of D sees the parameters they had before the call (nothing but the
    optimisers' steps changes them).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from course_utils import grading as G
from course_utils.grading import Limits

NO_COURSE_GAN = Limits(modules=("course_utils.models.gan",),
                       rule="Do not use the course's GAN code (course_utils.models.gan); write these parts yourself.",
                       cells=("discriminator_loss", "generator_loss", "networks", "train_step"))
STEP_LIMITS = Limits(modules=("course_utils.models.gan",), no_files=True,
                     rule="train_step is your own: not the course's GAN code (course_utils.models.gan), and no files.",
                     cells=("train_step",))
MAX_PARAMETERS = 1_000_000
# The graded run: steps of the student's train_step, batch size, and the accuracy D must reach.
GRADED_STEPS = 25
GRADED_BATCH = 64
GRADED_LATENT = 64
GRADED_EVAL = 500
GRADED_MIN_ACCURACY = 0.8


# ------------------------------------------------------------------ oracles (binary cross-entropy, float64)
@G.reference  # an expected answer: graded code may not call it
def oracle_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    real, fake = real_logits.double(), fake_logits.double()
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


@G.reference  # an expected answer: graded code may not call it
def oracle_generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    fake = fake_logits.double()
    if saturating:  # mean log(1 - D) = -BCE(fake, label 0)
        return -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))  # -mean log D


def _scalar(value, name: str) -> torch.Tensor:
    G.check_true(torch.is_tensor(value), f"{name} should return a torch tensor, got {type(value).__name__}")
    G.check_true(value.dim() == 0, f"{name} should return a scalar (a tensor of shape ()), got shape {tuple(value.shape)}")
    return value


def _random_logits(rng: np.random.Generator, n: int, scale: float) -> torch.Tensor:
    return torch.randn(n, generator=G.torch_generator(rng)) * scale


# ------------------------------------------------------------------ parts 1 and 2: the losses
def check_discriminator_loss(discriminator_loss, rng: np.random.Generator | None = None, cases: int = 6) -> None:
    """A student's D loss against binary cross-entropy on random logits, unequal batch sizes, huge logits, gradients."""
    rng = rng if rng is not None else np.random.default_rng(0)
    for case in range(cases):
        n_real, n_fake = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        if n_real == n_fake:
            n_fake += 1  # unequal sizes tell a mean over the concatenation from the sum of two means
        scale = [0.5, 3.0, 8.0][case % 3]
        real, fake = _random_logits(rng, n_real, scale), _random_logits(rng, n_fake, scale)
        what = f"discriminator_loss on {n_real} real and {n_fake} fake logits of scale {scale}"
        result = _scalar(G.call_student(discriminator_loss, real.clone(), fake.clone(), limits=NO_COURSE_GAN), "discriminator_loss")
        G.check_close(result.detach(), oracle_discriminator_loss(real, fake),
                      f"{what} (expected -mean log D(real) - mean log(1 - D(fake)), D = sigmoid(logit))", rtol=1e-5, atol=1e-6)
    huge = torch.tensor([150.0, -150.0, 40.0])
    result = _scalar(G.call_student(discriminator_loss, huge.clone(), -huge.clone(), limits=NO_COURSE_GAN), "discriminator_loss")
    G.check_close(result.detach(), oracle_discriminator_loss(huge, -huge),
                  "discriminator_loss for logits of +-150 (compute log D and log(1 - D) from the logits, e.g. with "
                  "F.logsigmoid or F.binary_cross_entropy_with_logits: log(sigmoid(-150)) underflows to -inf)", rtol=1e-5)
    real = _random_logits(rng, 5, 2.0).requires_grad_(True)
    fake = _random_logits(rng, 7, 2.0).requires_grad_(True)
    real_ref, fake_ref = real.detach().double().requires_grad_(True), fake.detach().double().requires_grad_(True)
    G.call_student(discriminator_loss, real, fake, limits=NO_COURSE_GAN).backward()
    oracle_discriminator_loss(real_ref, fake_ref).backward()
    G.check_true(real.grad is not None and fake.grad is not None, "discriminator_loss must be differentiable in both arguments")
    G.check_close(real.grad, real_ref.grad, "d loss / d real_logits", rtol=1e-4, atol=1e-6)
    G.check_close(fake.grad, fake_ref.grad, "d loss / d fake_logits", rtol=1e-4, atol=1e-6)


def check_generator_loss(generator_loss, rng: np.random.Generator | None = None, cases: int = 4) -> None:
    """Both forms of a student's G loss against binary cross-entropy: values, signs, huge logits, gradients."""
    rng = rng if rng is not None else np.random.default_rng(0)
    for case in range(cases):
        n, scale = int(rng.integers(2, 12)), [0.5, 3.0, 8.0, 1.0][case % 4]
        fake = _random_logits(rng, n, scale)
        for saturating in (False, True):
            form = "saturating: mean log(1 - D(G(z)))" if saturating else "non-saturating: -mean log D(G(z))"
            kwargs = {"saturating": True} if saturating else {}
            result = _scalar(G.call_student(generator_loss, fake.clone(), limits=NO_COURSE_GAN, **kwargs), "generator_loss")
            G.check_close(result.detach(), oracle_generator_loss(fake, saturating),
                          f"generator_loss({n} logits of scale {scale}, saturating={saturating}) (expected the {form})",
                          rtol=1e-5, atol=1e-6)
    huge = torch.tensor([-150.0, 150.0, 3.0])
    for saturating in (False, True):
        result = _scalar(G.call_student(generator_loss, huge.clone(), saturating=saturating, limits=NO_COURSE_GAN), "generator_loss")
        G.check_close(result.detach(), oracle_generator_loss(huge, saturating),
                      f"generator_loss for logits of +-150 with saturating={saturating} (numerically stable form needed)",
                      rtol=1e-5)
    for saturating in (False, True):
        fake = _random_logits(rng, 6, 2.0).requires_grad_(True)
        fake_ref = fake.detach().double().requires_grad_(True)
        G.call_student(generator_loss, fake, saturating=saturating, limits=NO_COURSE_GAN).backward()
        oracle_generator_loss(fake_ref, saturating).backward()
        G.check_true(fake.grad is not None, "generator_loss must be differentiable in fake_logits")
        G.check_close(fake.grad, fake_ref.grad, f"d generator_loss / d fake_logits (saturating={saturating})", rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ parts 3 and 4: the networks
def _leaf_modules_run(module: nn.Module, run) -> list[nn.Module]:
    """The leaf modules of ``module`` in the order its forward pass runs them while ``run()`` executes."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in module.modules()
             if m is not module and not list(m.children())]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return order


def _kinds(order: list[nn.Module]) -> list[str]:
    return [type(m).__name__ for m in order]


def _check_initialisation(model: nn.Module, what: str) -> None:
    """Pooled statistics of the weights: DCGAN's N(0, 0.02) for layers, N(1, 0.02) for batch-norm scales, zero biases."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    weights = torch.cat([m.weight.detach().flatten() for m in layers])
    std, mean = weights.std().item(), weights.mean().item()
    G.check_true(abs(std - 0.02) < 0.003 and abs(mean) < 0.003,
                 f"{what}: the weights of its convolutions and linear layers have mean {mean:.4f} and standard deviation "
                 f"{std:.4f}; DCGAN initialises them from N(0, 0.02) (apply an init function to every layer in __init__)")
    biases = [m.bias for m in layers if m.bias is not None] + [m.bias for m in norms if m.bias is not None]
    G.check_true(all(torch.all(b.detach() == 0) for b in biases), f"{what}: DCGAN initialises every bias (and batch-norm shift) to 0")
    scales = torch.cat([m.weight.detach().flatten() for m in norms if m.weight is not None]) if norms else torch.ones(0)
    if len(scales) > 1:
        G.check_true(abs(scales.mean().item() - 1) < 0.01 and 0.01 < scales.std().item() < 0.03,
                     f"{what}: its batch-norm scales have mean {scales.mean().item():.4f} and standard deviation "
                     f"{scales.std().item():.4f}; DCGAN initialises them from N(1, 0.02)")


def _parameters(model: nn.Module, what: str) -> None:
    count = sum(p.numel() for p in model.parameters())
    G.check_true(0 < count < MAX_PARAMETERS, f"{what} has {count:,} parameters; keep it under {MAX_PARAMETERS:,}")


def check_generator(Generator, rng: np.random.Generator | None = None, reference=None) -> None:
    """Shapes, range, DCGAN structure and initialisation of a student's generator."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if reference is not None:
        G.check_not_copied(Generator, reference, "Generator")
    latents = [64, int(rng.choice([8, 16, 32, 100])), int(rng.integers(2, 130))]
    for latent in latents:
        torch.manual_seed(int(rng.integers(0, 2**31)))
        model = G.construct_student(Generator, latent, limits=NO_COURSE_GAN)
        what = f"Generator({latent})"
        G.check_true(isinstance(model, nn.Module), f"{what} should be an nn.Module")
        _parameters(model, what)
        model.train()
        for n in (2, int(rng.integers(3, 10))):
            z = torch.randn(n, latent, generator=G.torch_generator(rng))
            out: dict = {}
            order = _leaf_modules_run(model, lambda: out.update(images=G.call_student(model, z, limits=NO_COURSE_GAN)))
            images = out["images"]
            G.check_true(torch.is_tensor(images), f"{what}(z) should return a tensor")
            images = images.detach()
            G.check_shape(images, (n, 1, 28, 28), f"{what}(z) for z of shape ({n}, {latent})")
            G.check_finite(images, f"{what}(z)")
            G.check_true(float(images.abs().max()) <= 1.0 + 1e-6, f"{what}(z) has values up to {float(images.abs().max()):.3g}; "
                                                                   "the images must lie in [-1, 1] (tanh output)")
            G.check_true(not torch.allclose(images[0], images[1]), f"{what} gave the same image for two different noise vectors")
        kinds = _kinds(order)
        G.check_true(kinds.count("ConvTranspose2d") >= 2,
                     f"{what}: its forward pass runs {kinds.count('ConvTranspose2d')} nn.ConvTranspose2d layers (modules run: "
                     f"{kinds}); DCGAN's generator upsamples with transposed convolutions (at least two)")
        G.check_true("BatchNorm2d" in kinds, f"{what}: no nn.BatchNorm2d runs in the forward pass (modules run: {kinds}); "
                                             "DCGAN normalises the generator's hidden layers")
        G.check_true("ReLU" in kinds and "LeakyReLU" not in kinds,
                     f"{what}: the modules run are {kinds}; DCGAN's generator uses nn.ReLU (leaky ReLU belongs to the discriminator)")
        G.check_true(kinds and kinds[-1] == "Tanh", f"{what}: the last module run is {kinds[-1] if kinds else None}, "
                                                    "expected nn.Tanh (images in [-1, 1])")
        before_output = [k for k in kinds[:-1] if k not in ("Identity", "Dropout")][-1:]
        G.check_true(before_output != ["BatchNorm2d"], f"{what}: batch norm right before the output (modules run: {kinds}); "
                                                       "DCGAN has no batch norm on the generator's output layer")
        _check_initialisation(model, what)


def check_discriminator(Discriminator, rng: np.random.Generator | None = None, reference=None) -> None:
    """Shapes, DCGAN structure (leaky ReLU, no batch norm on the first layer, logits) and initialisation of a student's D."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if reference is not None:
        G.check_not_copied(Discriminator, reference, "Discriminator")
    torch.manual_seed(int(rng.integers(0, 2**31)))
    model = G.construct_student(Discriminator, limits=NO_COURSE_GAN)
    G.check_true(isinstance(model, nn.Module), "Discriminator() should be an nn.Module")
    _parameters(model, "Discriminator()")
    model.train()
    outputs: list[torch.Tensor] = []
    for n in (2, int(rng.integers(3, 10))):
        x = torch.rand(n, 1, 28, 28, generator=G.torch_generator(rng)) * 2 - 1
        out: dict = {}
        order = _leaf_modules_run(model, lambda: out.update(logits=G.call_student(model, x, limits=NO_COURSE_GAN)))
        logits = out["logits"]
        G.check_true(torch.is_tensor(logits), "Discriminator()(x) should return a tensor of logits")
        logits = logits.detach()
        outputs.append(logits.reshape(-1))
        G.check_shape(logits, (n,), f"Discriminator()(x) for {n} images (one logit per image)")
        G.check_finite(logits, "Discriminator()(x)")
        G.check_true(not torch.allclose(logits[0], logits[1]), "Discriminator() gave the same logit for two different images")
    model.eval()  # a single image (in evaluation mode, where batch norm works on one sample): still shape (1,)
    with torch.no_grad():
        single = G.call_student(model, torch.rand(1, 1, 28, 28, generator=G.torch_generator(rng)) * 2 - 1, limits=NO_COURSE_GAN)
    G.check_true(torch.is_tensor(single), "Discriminator()(x) should return a tensor of logits")
    G.check_shape(single, (1,), "Discriminator()(x) for one image in evaluation mode (one logit per image: shape (1,))")
    model.train()
    kinds = _kinds(order)
    convs = [m for m in order if isinstance(m, nn.Conv2d)]
    G.check_true(len(convs) >= 2 and sum(max(m.stride) >= 2 for m in convs) >= 2,
                 f"Discriminator(): modules run {kinds}; DCGAN's discriminator downsamples with strided nn.Conv2d layers (at least two)")
    G.check_true(not any("Pool" in k for k in kinds), f"Discriminator(): modules run {kinds}; DCGAN uses strided convolutions, not pooling")
    G.check_true("LeakyReLU" in kinds and "ReLU" not in kinds,
                 f"Discriminator(): modules run {kinds}; DCGAN's discriminator uses nn.LeakyReLU, not ReLU")
    slopes = sorted({m.negative_slope for m in order if isinstance(m, nn.LeakyReLU)})
    G.check_true(all(abs(s - 0.2) < 1e-9 for s in slopes), f"Discriminator(): leaky ReLU slopes {slopes}; DCGAN uses 0.2")
    G.check_true("BatchNorm2d" in kinds, f"Discriminator(): modules run {kinds}; DCGAN normalises the discriminator's inner layers")
    first = kinds.index("Conv2d")
    after_first = [k for k in kinds[first + 1:] if k not in ("Identity", "Dropout")][:1]
    G.check_true(after_first != ["BatchNorm2d"] and "BatchNorm2d" not in kinds[:first],
                 f"Discriminator(): modules run {kinds}; DCGAN puts no batch norm on the first layer, which sees the images")
    outputs_all = torch.cat(outputs)
    looks_like_probabilities = bool(((outputs_all > 0) & (outputs_all < 1)).all()) and abs(outputs_all.mean().item() - 0.5) < 0.15
    G.check_true(kinds[-1] != "Sigmoid" and not looks_like_probabilities,
                 f"Discriminator() returns values {np.round(outputs_all.numpy(), 3).tolist()[:5]}..., all in (0, 1) around 1/2: "
                 "it seems to end with a sigmoid. Return logits; the losses apply the sigmoid")
    _check_initialisation(model, "Discriminator()")


# ------------------------------------------------------------------ part 5: the training step
class TinyGenerator(nn.Module):
    """The test's own small generator (no batch norm, so every gradient can be recomputed exactly)."""

    def __init__(self, latent_dim: int, data_dim: int = 6) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 12), nn.Tanh(), nn.Linear(12, data_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TinyDiscriminator(nn.Module):
    """The test's own small discriminator: samples (N, data_dim) -> logits (N,)."""

    def __init__(self, data_dim: int = 6) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(data_dim, 10), nn.Tanh(), nn.Linear(10, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class RecordingSGD(torch.optim.SGD):
    """Plain SGD that logs every step: which optimiser, and the gradients and values of both networks' parameters then."""

    def __init__(self, params, lr: float, name: str, log: list, networks: dict[str, nn.Module]) -> None:
        super().__init__(params, lr=lr)
        self.name, self.log, self.networks = name, log, networks

    def step(self, closure=None):
        snapshot = {net: ([None if p.grad is None else p.grad.detach().clone() for p in module.parameters()],
                          [p.detach().clone() for p in module.parameters()])
                    for net, module in self.networks.items()}
        self.log.append(("step", self.name, snapshot))
        result = super().step(closure)
        self.log.append(("after", self.name, {net: [p.detach().clone() for p in module.parameters()]
                                              for net, module in self.networks.items()}))
        return result


def _grads_of(module: nn.Module, params: list[torch.Tensor], loss_fn) -> list[torch.Tensor]:
    """Gradient of ``loss_fn(module evaluated with params)`` with respect to ``params`` (copies; the module is untouched)."""
    names = [name for name, _ in module.named_parameters()]
    leaves = [p.detach().clone().double().requires_grad_(True) for p in params]
    loss = loss_fn(lambda x: functional_call(module, dict(zip(names, leaves)), (x.double(),)))
    return list(torch.autograd.grad(loss, leaves, allow_unused=True))


def _compare_grads(actual: list, expected: list, what: str) -> None:
    for index, (a, e) in enumerate(zip(actual, expected)):
        e = torch.zeros_like(a if a is not None else torch.zeros(1)) if e is None else e
        G.check_true(a is not None, f"{what}: parameter {index} has no gradient when the optimiser steps")
        G.check_close(a, e, f"{what} (parameter {index})", rtol=1e-4, atol=1e-6)


def check_train_step(train_step, rng: np.random.Generator | None = None, calls: int = 3) -> None:
    """Watch successive calls of a student's ``train_step`` with the test's networks and recording optimisers."""
    rng = rng if rng is not None else np.random.default_rng(0)
    for saturating in (False, True):
        latent, data_dim, n = int(rng.integers(4, 9)), 6, int(rng.integers(8, 14))
        torch.manual_seed(int(rng.integers(0, 2**31)))
        gen, disc = TinyGenerator(latent, data_dim), TinyDiscriminator(data_dim)
        log: list = []
        networks = {"G": gen, "D": disc}
        lr_g, lr_d = 0.05, 0.1
        opt_g = RecordingSGD(gen.parameters(), lr_g, "G", log, networks)
        opt_d = RecordingSGD(disc.parameters(), lr_d, "D", log, networks)
        noise_seen: list[torch.Tensor] = []
        for call in range(calls):
            real = torch.randn(n, data_dim, generator=G.torch_generator(rng)) * 0.5 + 1.0
            g_start = [p.detach().clone() for p in gen.parameters()]
            d_start = [p.detach().clone() for p in disc.parameters()]
            g_grad_start = [None if p.grad is None else p.grad.detach().clone() for p in gen.parameters()]
            log.clear()
            g_calls: list[tuple[int, torch.Tensor]] = []
            d_calls: list[tuple[int, torch.Tensor, torch.Tensor]] = []
            g_hook = gen.register_forward_hook(lambda m, i, o: g_calls.append((len(log), i[0].detach().clone())))
            d_hook = disc.register_forward_hook(lambda m, i, o: d_calls.append((len(log), i[0].detach().clone(), o.detach().clone())))
            try:
                kwargs = {"saturating": True} if saturating else {}
                result = G.call_student(train_step, gen, disc, opt_g, opt_d, real.clone(), latent, limits=STEP_LIMITS, **kwargs)
            finally:
                g_hook.remove()
                d_hook.remove()
            what = f"train_step (call {call + 1}, saturating={saturating})"
            steps = [(entry[1], index) for index, entry in enumerate(log) if entry[0] == "step"]
            G.check_true([name for name, _ in steps] == ["D", "G"],
                         f"{what}: the optimisers stepped in the order {[name for name, _ in steps]}; expected exactly one "
                         "opt_D.step() and then exactly one opt_G.step()")
            d_step, g_step = steps[0][1], steps[1][1]
            # the noise
            G.check_true(len(g_calls) >= 1 and g_calls[0][0] <= d_step, f"{what}: G was not called before D's step")
            for _, z in g_calls:
                G.check_shape(z, (n, latent), f"{what}: the noise z given to G for a batch of {n} with latent_dim={latent}")
            G.check_true(len(g_calls) == 1, f"{what}: G ran {len(g_calls)} times; generate the fake batch once, give "
                                            "fake.detach() to D in D's phase and score the same fakes again in G's phase")
            noise_seen.append(g_calls[0][1])
            # D's phase
            g_grads, g_values = log[d_step][2]["G"]
            d_grads, _ = log[d_step][2]["D"]
            unchanged = [g is None or not g.abs().sum() > 0 or (g0 is not None and torch.equal(g, g0))
                         for g, g0 in zip(g_grads, g_grad_start)]
            G.check_true(all(unchanged),
                         f"{what}: when opt_D.step() runs, G's parameters hold gradients from D's loss; detach the fake "
                         "batch in D's phase (fake.detach()) so that D's loss sends no gradient into G")
            G.check_true(all(torch.equal(a, b) for a, b in zip(g_values, g_start)), f"{what}: G's parameters changed before D's step")
            z_d = [z for index, z in g_calls if index <= d_step][-1]
            fake_d = _forward_with(gen, g_start, z_d)
            expected_d = _grads_of(disc, d_start, lambda D: oracle_discriminator_loss(D(real), D(fake_d)))
            _compare_grads(d_grads, expected_d,
                           f"{what}: D's gradient when opt_D.step() runs (expected the gradient of the D loss on the real batch "
                           "and G(z) alone: clear D's gradients first, label real 1 and fake 0)")
            d_after = log[d_step + 1][2]["D"]
            # G's phase
            g_grads, _ = log[g_step][2]["G"]
            _, d_values = log[g_step][2]["D"]
            G.check_true(all(torch.equal(a, b) for a, b in zip(d_values, d_after)),
                         f"{what}: D's parameters changed between D's step and G's step; only opt_D may update D, once")
            z_g = [z for index, z in g_calls if index <= g_step][-1]
            expected_g = _grads_of(gen, g_start, lambda Gf: oracle_generator_loss(
                _forward_with(disc, d_after, Gf(z_g), differentiable=True), saturating))
            _compare_grads(g_grads, expected_g,
                           f"{what}: G's gradient when opt_G.step() runs (expected the gradient of the "
                           f"{'saturating' if saturating else 'non-saturating'} G loss of the updated D on G(z))")
            final_g = [p.detach() for p in gen.parameters()]
            final_d = [p.detach() for p in disc.parameters()]
            G.check_true(all(torch.equal(a, b) for a, b in zip(final_g, log[g_step + 1][2]["G"])),
                         f"{what}: G's parameters changed after opt_G.step(); only opt_G may update G, once")
            G.check_true(all(torch.equal(a, b) for a, b in zip(final_d, d_after)),
                         f"{what}: D's parameters changed after D's step; only opt_D may update D, once")
            # the returned numbers, recomputed from the logits D produced in each phase
            G.check_true(isinstance(result, dict) and {"d_loss", "g_loss", "d_accuracy"} <= set(result),
                         f"{what} should return a dict with 'd_loss', 'g_loss' and 'd_accuracy'")
            for key in ("d_loss", "g_loss", "d_accuracy"):
                G.check_true(isinstance(result[key], (float, int)) and not isinstance(result[key], bool),
                             f"{what}: result[{key!r}] should be a Python float (use .item()), got {type(result[key]).__name__}")
            real_logits, fake_logits = _phase_logits(d_calls, d_step, real)
            G.check_close(result["d_loss"], oracle_discriminator_loss(real_logits, fake_logits).item(),
                          f"{what}: result['d_loss'] (the D loss of D's phase)", rtol=1e-4, atol=1e-6)
            accuracy = ((real_logits > 0).sum() + (fake_logits < 0).sum()).item() / (len(real_logits) + len(fake_logits))
            G.check_close(result["d_accuracy"], accuracy, f"{what}: result['d_accuracy'] (share of the {2 * n} samples of D's "
                                                          "phase classified correctly)", atol=1e-6)
            g_logits = [o for index, _, o in d_calls if d_step < index <= g_step]
            G.check_true(len(g_logits) >= 1, f"{what}: D did not score the fakes between D's step and G's step")
            G.check_close(result["g_loss"], oracle_generator_loss(g_logits[-1], saturating).item(),
                          f"{what}: result['g_loss'] (the G loss of G's phase)", rtol=1e-4, atol=1e-6)
        noise = torch.cat(noise_seen)
        G.check_true(not torch.equal(noise_seen[0], noise_seen[1]), "train_step used the same noise z in two calls: draw fresh z every call")
        G.check_true(abs(noise.mean().item()) < 0.5 and 0.6 < noise.std().item() < 1.4,
                     f"the noise z given to G has mean {noise.mean().item():.2f} and standard deviation {noise.std().item():.2f}; "
                     "draw z from N(0, I) (torch.randn)")


def _forward_with(module: nn.Module, params: list[torch.Tensor], x: torch.Tensor, differentiable: bool = False) -> torch.Tensor:
    """``module`` evaluated with the given parameter values (float64, on copies)."""
    names = [name for name, _ in module.named_parameters()]
    values = [p.detach().double() for p in params]
    out = functional_call(module, dict(zip(names, values)), (x.double(),))
    return out if differentiable else out.detach()


def _phase_logits(d_calls, d_step: int, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split D's calls before its step into logits of real rows and of the other (fake) rows."""
    real_rows = real.double()
    real_logits, fake_logits = [], []
    for index, x, out in d_calls:
        if index > d_step:
            continue
        is_real = (torch.cdist(x.double(), real_rows).min(dim=1).values < 1e-6)
        real_logits.append(out.double().reshape(-1)[is_real])
        fake_logits.append(out.double().reshape(-1)[~is_real])
    return torch.cat(real_logits), torch.cat(fake_logits)


# ------------------------------------------------------------------ part 6: the graded run
def digits(train: bool) -> torch.Tensor:
    """MNIST images scaled to [-1, 1] (N, 1, 28, 28), loaded by the tests themselves."""
    from course_utils.generative import mnist_digits

    return mnist_digits(train=train)[0] * 2 - 1


@torch.no_grad()
def discriminator_accuracy(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """D's share of correct calls (logit > 0 for real, < 0 for fake) in eval mode, measured by the test."""
    discriminator.eval()
    real_logits = G.call_student(discriminator, real, limits=NO_COURSE_GAN).reshape(-1)
    fake_logits = G.call_student(discriminator, fake, limits=NO_COURSE_GAN).reshape(-1)
    return {"real": (real_logits > 0).float().mean().item(), "fake": (fake_logits < 0).float().mean().item(),
            "accuracy": ((real_logits > 0).sum() + (fake_logits < 0).sum()).item() / (len(real) + len(fake))}


@torch.no_grad()
def _check_uses_its_layers(discriminator: nn.Module, images: torch.Tensor) -> None:
    """D's logits in evaluation mode must come from its trained parameters: a copy with other weights scores differently."""
    import copy

    probe = copy.deepcopy(discriminator)
    generator = torch.Generator().manual_seed(7)
    for parameter in probe.parameters():
        parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05 + (1.0 if parameter.dim() == 1 else 0.0))
    discriminator.eval()
    probe.eval()
    mine = G.call_student(discriminator, images, limits=NO_COURSE_GAN).reshape(-1)
    other = G.call_student(probe, images, limits=NO_COURSE_GAN).reshape(-1)
    G.check_true(not torch.allclose(mine, other, atol=1e-4),
                 "in evaluation mode D's logits stay the same when its parameters are replaced: D.forward must compute "
                 "the logits with its layers in evaluation mode too")


class _FirstCallSeesParameters:
    """Whether a network's first forward call inside a ``train_step`` call sees the parameters it had before the call."""

    def __init__(self, module: nn.Module, name: str) -> None:
        self.module, self.name = module, name
        self.before = [p.detach().clone() for p in module.parameters()]
        self.unchanged: bool | None = None

    def _pre(self, module, inputs) -> None:
        if self.unchanged is None:
            self.unchanged = all(torch.equal(a, p.detach()) for a, p in zip(self.before, module.parameters()))

    def __enter__(self) -> "_FirstCallSeesParameters":
        self.hook = self.module.register_forward_pre_hook(self._pre)
        return self

    def __exit__(self, *exc) -> None:
        self.hook.remove()

    def check(self, what: str) -> None:
        G.check_true(self.unchanged is not False,
                     f"{what}: {self.name}'s parameters changed before its first forward pass; only the optimisers' steps "
                     "may change them (no loaded weights)")


def graded_run(train_step, Generator, Discriminator, seed: int = 0) -> dict[str, float]:
    """Train the student's DCGAN for a few steps with their ``train_step``; D must then tell held-out digits from fakes."""
    from course_utils.runtime import seed_everything

    train_images, test_images = digits(train=True), digits(train=False)
    seed_everything(seed)
    gen = G.construct_student(Generator, GRADED_LATENT, limits=NO_COURSE_GAN)
    disc = G.construct_student(Discriminator, limits=NO_COURSE_GAN)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(2024))
    history = []
    for step in range(GRADED_STEPS):
        gen.train()
        disc.train()
        batch = train_images[order[step * GRADED_BATCH:(step + 1) * GRADED_BATCH]]
        with _FirstCallSeesParameters(gen, "G") as g_watch, _FirstCallSeesParameters(disc, "D") as d_watch:
            history.append(G.call_student(train_step, gen, disc, opt_g, opt_d, batch, GRADED_LATENT, limits=STEP_LIMITS))
        g_watch.check(f"train_step (graded run, step {step + 1})")
        d_watch.check(f"train_step (graded run, step {step + 1})")
    G.check_true(all(isinstance(h, dict) and np.isfinite(h.get("d_loss", np.nan)) and np.isfinite(h.get("g_loss", np.nan))
                     for h in history), "train_step returned a non-finite loss during the graded run")
    gen.eval()
    with torch.no_grad():
        fake = G.call_student(gen, torch.randn(GRADED_EVAL, GRADED_LATENT, generator=torch.Generator().manual_seed(seed + 1)),
                              limits=NO_COURSE_GAN)
    scores = discriminator_accuracy(disc, test_images[:GRADED_EVAL], fake)
    _check_uses_its_layers(disc, test_images[:16])
    print(f"graded run: {GRADED_STEPS} steps of {GRADED_BATCH} training digits; D (eval mode) classifies {scores['real']:.1%} of "
          f"{GRADED_EVAL} held-out digits as real and {scores['fake']:.1%} of {GRADED_EVAL} fakes as fake: accuracy "
          f"{scores['accuracy']:.1%} (at least {GRADED_MIN_ACCURACY:.0%} needed)")
    G.check_true(scores["accuracy"] >= GRADED_MIN_ACCURACY,
                 f"after {GRADED_STEPS} training steps D's accuracy on held-out digits and fresh fakes is {scores['accuracy']:.1%}, "
                 f"below {GRADED_MIN_ACCURACY:.0%}: check the labels of D's loss and that D's step uses opt_D")
    return scores
