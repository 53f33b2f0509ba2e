"""Checks for assignment a07_vae: a variational autoencoder from its formulas.

Limits (stated in the notebook's instructions too):

* ``NO_DISTRIBUTIONS`` for ``reparameterize``, ``gaussian_kl``, ``elbo``, ``vae_loss`` and the networks:
  nothing from ``torch.distributions`` may run; the formulas are the exercise.
* ``TRAINING_LIMITS`` for ``train_vae``: the same, and no reading of files (no loading of weights or
  checkpoints: the model must be trained from the images it is given).
* The course's reference implementations (``course_utils.models.vae``, ``course_utils.models.autoencoder``)
  are blocked while student code runs, and copies of them are recognised.

Promise list (what the instructions promise for each graded function, and the check that holds it):

``reparameterize(mu, logvar)``
  - returns z with the shape of ``mu`` (``check_reparameterize``: shape);
  - z = mu + exp(logvar / 2) * eps with eps ~ N(0, I): per coordinate, the mean of many draws is mu and the
    standard deviation exp(logvar / 2) (statistics over 4,000 draws of fresh random parameters);
  - differentiable in mu and logvar: dz/dmu = 1 and dz/dlogvar = (z - mu) / 2 (gradients after
    ``z.sum().backward()``; fails for plain sampling, for ``std = exp(logvar)`` and for ``mu + logvar * eps``);
  - fresh noise for every call and every entry (two calls differ; identical rows get different samples);
  - leaves its arguments unchanged; no ``torch.distributions``.
``gaussian_kl(mu, logvar)``
  - KL(N(mu, diag exp(logvar)) || N(0, I)) per row, summed over the latent dimensions, shape (N,)
    (``check_gaussian_kl``: against ``torch.distributions.kl_divergence`` on fresh random parameters, latent
    dimensions 1 to 20, log-variances from -8 to 8, and log-variances of size 12 to 20, where a clamp shows);
    zero for mu = 0, logvar = 0;
  - differentiable, with the oracle's gradients (also at log-variances of size 12 to 20); no ``torch.distributions``.
``elbo(x, logits, mu, logvar)``
  - the one-sample ELBO per image with Bernoulli pixels: log p(x | z) summed over all pixels minus the KL,
    shape (N,) (``check_elbo``: against ``Bernoulli(logits).log_prob(x)`` and ``kl_divergence``, binary and
    grey-valued x, images (N, 1, 28, 28) and (N, 784));
  - finite and correct for logits of size 100 and more (numerically stable).
``vae_loss(x, logits, mu, logvar)``
  - a scalar: minus the ELBO averaged over the batch (``check_elbo``: against the oracle, and its sign).
``Encoder(latent_dim, inner_decoder=False)``, ``Decoder(latent_dim, inner_encoder=False)``, ``VAE(latent_dim,
inner_decoder=False, inner_encoder=False)``
  - shapes: images (N, 1, 28, 28) -> mu, logvar (N, latent_dim); z (N, latent_dim) -> logits (N, 1, 28, 28);
    ``VAE(x)`` -> (logits, mu, logvar), for every variant and a latent size drawn at grading time
    (``check_architecture``);
  - the variants: with ``inner_decoder`` the encoder's 4-D outputs get smaller and then larger again,
    without it they only get smaller; with ``inner_encoder`` the decoder's get larger, smaller and larger,
    without it they only get larger (heights of the 4-D tensors returned by every submodule); ``VAE`` passes each
    flag to the right part (the same heights, seen in ``model.encoder`` and ``model.decoder`` of every variant);
  - the VAE samples: two forward passes on the same images give different logits, the encoder is
    deterministic, the reconstruction term's gradient reaches every encoder parameter; fewer than 1,000,000 parameters;
  - a design of the student's own, not the course's ``ConvEncoder`` / ``ConvDecoder`` (``check_not_copied``).
``train_vae(model, images, epochs, batch_size=32, lr=3e-3)``
  - trains ``model`` in place (parameters change) with the given ``lr`` (``lr=0`` changes nothing), for exactly
    ``epochs`` passes, each over every image once, in shuffled mini-batches of ``batch_size``, one ``model(x)``
    per mini-batch, in training mode even when the model is handed over in evaluation mode, starting from the
    parameters it was handed over with (the first ``model(x)`` sees them), and its encoder and decoder run in training
    mode only inside those calls (``check_train_vae_history`` and ``graded_run`` watch every forward call with hooks);
  - returns a history with ``"loss"``, ``"reconstruction"`` and ``"kl"``: per epoch, the mean per image of the
    negative ELBO, of -log p(x | z) and of the KL, for the batches ``model(x)`` produced (recomputed by the test
    from the recorded logits, mu and logvar with torch.distributions);
  - trains with the ELBO: the graded run (``graded_run``) trains a fresh ``VAE(16)`` on the training digits the
    test chooses (loaded by the test; the passes over them are watched) and measures, with the test's own formulas, the held-out reconstruction term at the posterior
    mean and the held-out negative ELBO; both must be below thresholds a decoder that ignores z cannot reach
    (this is the one timed training run; it carries fewer than a quarter of the points);
  - no ``torch.distributions``, no files.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import grading as G
from course_utils.grading import Limits

NO_DISTRIBUTIONS = Limits(modules=("torch.distributions",),
                          rule="Do not use torch.distributions in the graded functions: write the formulas yourself.")
TRAINING_LIMITS = NO_DISTRIBUTIONS + Limits(no_files=True, rule="train_vae must train from the images it is given, "
                                                                  "without reading files (no saved weights).")
MAX_PARAMETERS = 1_000_000
# The graded run: the test's training digits, epochs and thresholds (nats per held-out digit).
GRADED_TRAIN_SIZE = 2000
GRADED_EPOCHS = 3
GRADED_MAX_RECONSTRUCTION = 150.0
GRADED_MAX_NEGATIVE_ELBO = 170.0


# ------------------------------------------------------------------ oracles (torch.distributions)
@G.reference  # an expected answer: graded code may not call it
def oracle_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    from torch.distributions import Normal, kl_divergence

    mu, logvar = mu.double(), logvar.double()
    return kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


@G.reference  # an expected answer: graded code may not call it
def oracle_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    from torch.distributions import Bernoulli

    return Bernoulli(logits=logits.double(), validate_args=False).log_prob(x.double()).flatten(1).sum(1)


@G.reference  # an expected answer: graded code may not call it
def oracle_elbo(x, logits, mu, logvar) -> torch.Tensor:
    return oracle_log_likelihood(x, logits) - oracle_kl(mu, logvar)


def random_gaussian(rng: np.random.Generator, n: int, d: int, scale: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior parameters (mu, logvar) of shape (n, d), drawn from ``rng`` (float32)."""
    gen = G.torch_generator(rng)
    mu = torch.randn(n, d, generator=gen) * scale
    logvar = torch.randn(n, d, generator=gen) * scale
    return mu, logvar


def _tensor(value, name: str) -> torch.Tensor:
    G.check_true(torch.is_tensor(value), f"{name} should return a torch tensor, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------ part 1: reparameterize
def check_reparameterize(reparameterize, rng: np.random.Generator | None = None) -> None:
    """Shape, gradients, statistics and fresh noise of a student's ``reparameterize``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 7))
    mu, logvar = random_gaussian(rng, n, d, scale=1.0)
    mu_in, logvar_in = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = _tensor(G.call_student(reparameterize, mu_in, logvar_in, limits=NO_DISTRIBUTIONS), "reparameterize")
    G.check_shape(z, (n, d), "reparameterize(mu, logvar)")
    G.check_finite(z, "reparameterize(mu, logvar)")
    G.check_true(torch.equal(mu_in.detach(), mu) and torch.equal(logvar_in.detach(), logvar),
                 "reparameterize changed its arguments mu or logvar; compute z without modifying them")
    G.check_true(z.requires_grad and z.grad_fn is not None,
                 "z does not depend on mu and logvar in the autograd graph: gradients cannot reach the encoder. "
                 "Draw eps ~ N(0, I) and compute z = mu + sigma * eps from mu and logvar")
    z.sum().backward()
    G.check_true(mu_in.grad is not None and logvar_in.grad is not None,
                 "after z.sum().backward() mu.grad or logvar.grad is None: z must be computed from mu and logvar")
    G.check_close(mu_in.grad, torch.ones_like(mu), "dz/dmu (should be 1 for every entry)", rtol=1e-5, atol=1e-6)
    expected = 0.5 * (z - mu).detach()
    G.check_close(logvar_in.grad, expected, "dz/dlogvar (should be sigma * eps / 2 = (z - mu) / 2, since sigma = exp(logvar / 2))",
                  rtol=1e-4, atol=1e-5)
    # statistics over many draws: the mean is mu, the standard deviation exp(logvar / 2)
    draws = 4000
    mu_row, logvar_row = random_gaussian(rng, 1, d, scale=1.0)
    with torch.no_grad():
        many = _tensor(G.call_student(reparameterize, mu_row.expand(draws, d).clone(), logvar_row.expand(draws, d).clone(),
                                      limits=NO_DISTRIBUTIONS), "reparameterize")
    G.check_shape(many, (draws, d), "reparameterize on a batch of 4000 identical rows")
    std = torch.exp(0.5 * logvar_row[0])
    sample_mean, sample_std = many.mean(0), many.std(0)
    worst_mean = ((sample_mean - mu_row[0]).abs() / std).max().item()
    G.check_true(worst_mean < 0.1, f"over {draws} draws the mean of z differs from mu by {worst_mean:.2f} standard deviations; "
                                   f"means {np.round(sample_mean.numpy(), 3).tolist()}, mu {np.round(mu_row[0].numpy(), 3).tolist()}")
    ratio = (sample_std / std).numpy()
    G.check_true(np.all(np.abs(ratio - 1) < 0.08),
                 f"over {draws} draws the standard deviation of z is {np.round(sample_std.numpy(), 3).tolist()}, expected "
                 f"exp(logvar / 2) = {np.round(std.numpy(), 3).tolist()}: sigma is the square root of the variance exp(logvar)")
    again = G.call_student(reparameterize, mu_row.expand(draws, d).clone(), logvar_row.expand(draws, d).clone(), limits=NO_DISTRIBUTIONS)
    G.check_true(not torch.equal(again, many), "two calls of reparameterize returned the same z: draw fresh noise every call")


# ------------------------------------------------------------------ part 2: gaussian_kl
def check_gaussian_kl(gaussian_kl, rng: np.random.Generator | None = None, cases: int = 6) -> None:
    """A student's closed-form KL against ``torch.distributions.kl_divergence``, values and gradients."""
    rng = rng if rng is not None else np.random.default_rng(0)
    zero = _tensor(G.call_student(gaussian_kl, torch.zeros(3, 4), torch.zeros(3, 4), limits=NO_DISTRIBUTIONS), "gaussian_kl")
    G.check_close(zero, torch.zeros(3), "gaussian_kl(0, 0): q equals the prior, so the KL is 0 for every row", atol=1e-6)
    for case in range(cases):
        n, d = int(rng.integers(1, 8)), int(rng.integers(1, 21))
        mu, logvar = random_gaussian(rng, n, d, scale=[0.5, 2.0, 4.0][case % 3])
        logvar = logvar.clamp(-8, 8)
        result = _tensor(G.call_student(gaussian_kl, mu.clone(), logvar.clone(), limits=NO_DISTRIBUTIONS), "gaussian_kl")
        G.check_shape(result, (n,), f"gaussian_kl on mu, logvar of shape ({n}, {d}) (one KL per row, summed over the latent dimensions)")
        G.check_close(result.detach(), oracle_kl(mu, logvar),
                      f"gaussian_kl on random mu, logvar of shape ({n}, {d}) (compared with torch.distributions.kl_divergence)",
                      rtol=1e-4, atol=1e-4)
    mu, logvar = random_gaussian(rng, 4, 5, scale=1.0)
    mu_in, logvar_in = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    G.call_student(gaussian_kl, mu_in, logvar_in, limits=NO_DISTRIBUTIONS).sum().backward()
    mu_ref, logvar_ref = mu.double().requires_grad_(True), logvar.double().requires_grad_(True)
    oracle_kl(mu_ref, logvar_ref).sum().backward()
    G.check_true(mu_in.grad is not None and logvar_in.grad is not None, "gaussian_kl must be differentiable in mu and logvar")
    G.check_close(mu_in.grad, mu_ref.grad, "d KL / d mu", rtol=1e-4, atol=1e-5)
    G.check_close(logvar_in.grad, logvar_ref.grad, "d KL / d logvar", rtol=1e-4, atol=1e-5)
    # "any real log-variances": far beyond the examples -8 and 8, values and gradients (a clamp fails here)
    mu = torch.randn(3, 6, generator=G.torch_generator(rng))
    logvar = torch.from_numpy(rng.uniform(12.0, 20.0, size=(3, 6)) * rng.choice([-1.0, 1.0], size=(3, 6))).float()
    mu_in, logvar_in = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    result = _tensor(G.call_student(gaussian_kl, mu_in, logvar_in, limits=NO_DISTRIBUTIONS), "gaussian_kl")
    mu_ref, logvar_ref = mu.double().requires_grad_(True), logvar.double().requires_grad_(True)
    expected = oracle_kl(mu_ref, logvar_ref)
    G.check_close(result.detach().double(), expected.detach(), "gaussian_kl for log-variances between 12 and 20 in size "
                  "(it must work for any real log-variance: nothing clamped)", rtol=1e-4, atol=1e-4)
    result.sum().backward()
    expected.sum().backward()
    G.check_true(logvar_in.grad is not None, "gaussian_kl must be differentiable in logvar")
    G.check_close(logvar_in.grad.double(), logvar_ref.grad, "d KL / d logvar for log-variances between 12 and 20 in size",
                  rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ part 3: elbo and vae_loss
def _elbo_case(rng: np.random.Generator, n: int, d: int, binary: bool, flat: bool, logit_scale: float = 3.0):
    gen = G.torch_generator(rng)
    shape = (n, 784) if flat else (n, 1, 28, 28)
    x = torch.rand(shape, generator=gen)
    if binary:
        x = (x > 0.6).float()
    logits = torch.randn(shape, generator=gen) * logit_scale
    mu, logvar = random_gaussian(rng, n, d, scale=1.0)
    return x, logits, mu, logvar


def check_elbo(elbo, vae_loss, rng: np.random.Generator | None = None, cases: int = 4) -> None:
    """A student's ``elbo`` and ``vae_loss`` against Bernoulli log-likelihoods and the KL of torch.distributions."""
    rng = rng if rng is not None else np.random.default_rng(0)
    for case in range(cases):
        n, d = int(rng.integers(2, 7)), int(rng.integers(2, 17))
        binary, flat = case % 2 == 0, case == 3
        x, logits, mu, logvar = _elbo_case(rng, n, d, binary, flat)
        what = f"{'binary' if binary else 'grey-valued'} images of shape {tuple(x.shape)}, latent size {d}"
        result = _tensor(G.call_student(elbo, x, logits, mu, logvar, limits=NO_DISTRIBUTIONS), "elbo")
        G.check_shape(result, (n,), f"elbo on {what} (one ELBO per image)")
        expected = oracle_elbo(x, logits, mu, logvar)
        G.check_close(result.detach(), expected, f"elbo on {what}: log p(x | z) summed over pixels minus the KL summed over "
                      "latent dimensions", rtol=1e-4, atol=1e-2)
        loss = _tensor(G.call_student(vae_loss, x, logits, mu, logvar, limits=NO_DISTRIBUTIONS), "vae_loss")
        G.check_true(loss.dim() == 0, f"vae_loss should return a scalar (0-dimensional tensor), got shape {tuple(loss.shape)}")
        G.check_close(loss.detach(), -expected.mean(), f"vae_loss on {what} (minus the ELBO, averaged over the batch)",
                      rtol=1e-4, atol=1e-2)
    # large logits: a confident decoder must not produce inf or nan
    x, logits, mu, logvar = _elbo_case(rng, 3, 4, binary=True, flat=False, logit_scale=1.0)
    logits = torch.where(x > 0.5, 150.0, -150.0)
    logits[0, 0, 0, 0] = -150.0 if x[0, 0, 0, 0] > 0.5 else 150.0  # one confidently wrong pixel
    result = G.call_student(elbo, x, logits, mu, logvar, limits=NO_DISTRIBUTIONS)
    G.check_finite(result, "elbo with logits of +-150 (use a numerically stable form, e.g. F.binary_cross_entropy_with_logits)")
    G.check_close(result.detach(), oracle_elbo(x, logits, mu, logvar), "elbo with logits of +-150", rtol=1e-4, atol=1e-2)


# ------------------------------------------------------------------ part 4: the networks
def _heights(module: nn.Module, run) -> list[int]:
    """Heights of the 4-D tensors returned by every submodule of ``module`` while ``run()`` executes, in order."""
    heights: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o: heights.append(int(o.shape[-2])) if torch.is_tensor(o) and o.dim() == 4 else None)
             for m in module.modules() if m is not module]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return heights


def _collapse(heights: list[int]) -> list[int]:
    """Drop repeated heights: [28, 14, 14, 7, 7, 14] -> [28, 14, 7, 14]."""
    out: list[int] = []
    for h in heights:
        if not out or out[-1] != h:
            out.append(h)
    return out


def _down_up(heights: list[int]) -> tuple[bool, bool]:
    """(gets smaller somewhere, gets larger somewhere) along the sequence."""
    pairs = list(zip(heights, heights[1:]))
    return any(b < a for a, b in pairs), any(b > a for a, b in pairs)


def check_architecture(Encoder, Decoder, VAE, rng: np.random.Generator | None = None, reference_classes=()) -> None:
    """Shapes, variant structure, stochastic forward pass and gradient flow of the student's networks."""
    rng = rng if rng is not None else np.random.default_rng(0)
    for student, ref in zip((Encoder, Decoder), reference_classes):  # the layers are built in __init__
        G.check_not_copied(student.__init__, ref.__init__, f"{student.__name__}.__init__")
    latent = int(rng.integers(2, 21))
    n = int(rng.integers(2, 5))
    x = torch.rand(n, 1, 28, 28, generator=G.torch_generator(rng))
    z = torch.randn(n, latent, generator=G.torch_generator(rng))
    for inner in (False, True):
        encoder = G.construct_student(Encoder, latent, inner_decoder=inner, limits=NO_DISTRIBUTIONS)
        out: dict = {}
        heights = _collapse(_heights(encoder, lambda: out.update(r=G.call_student(encoder, x, limits=NO_DISTRIBUTIONS))))
        G.check_true(isinstance(out["r"], (tuple, list)) and len(out["r"]) == 2, "Encoder(x) should return a pair (mu, logvar)")
        mu, logvar = out["r"]
        G.check_shape(mu, (n, latent), f"mu of Encoder({latent}, inner_decoder={inner}) on images {tuple(x.shape)}")
        G.check_shape(logvar, (n, latent), f"logvar of Encoder({latent}, inner_decoder={inner})")
        down, up = _down_up([28] + heights)
        G.check_true(down, f"Encoder(inner_decoder={inner}) never reduces the height of its feature maps (heights seen: {heights}); "
                           "the encoder downsamples")
        G.check_true(up == inner, f"Encoder(inner_decoder={inner}): the heights of its 4-D feature maps go {[28] + heights}; "
                                  + ("with an inner decoder they must grow again after downsampling" if inner
                                     else "without an inner decoder they should only shrink"))
        decoder = G.construct_student(Decoder, latent, inner_encoder=inner, limits=NO_DISTRIBUTIONS)
        heights = _collapse(_heights(decoder, lambda: out.update(r=G.call_student(decoder, z, limits=NO_DISTRIBUTIONS))))
        G.check_shape(_tensor(out["r"], "Decoder"), (n, 1, 28, 28), f"logits of Decoder({latent}, inner_encoder={inner}) on z {tuple(z.shape)}")
        down, up = _down_up(heights)
        G.check_true(up, f"Decoder(inner_encoder={inner}) never increases the height of its feature maps (heights seen: {heights})")
        G.check_true(down == inner, f"Decoder(inner_encoder={inner}): the heights of its 4-D feature maps go {heights}; "
                                    + ("with an inner encoder they must shrink and grow again" if inner
                                       else "without an inner encoder they should only grow"))
    for inner_decoder, inner_encoder in ((False, False), (True, False), (False, True), (True, True)):
        model = G.construct_student(VAE, latent, inner_decoder=inner_decoder, inner_encoder=inner_encoder, limits=NO_DISTRIBUTIONS)
        what = f"VAE({latent}, inner_decoder={inner_decoder}, inner_encoder={inner_encoder})"
        G.check_true(isinstance(model, nn.Module) and hasattr(model, "encoder") and hasattr(model, "decoder"),
                     f"{what} should be an nn.Module with attributes encoder and decoder")
        parameters = sum(p.numel() for p in model.parameters())
        G.check_true(parameters < MAX_PARAMETERS, f"{what} has {parameters:,} parameters; keep it under {MAX_PARAMETERS:,}")
        result = G.call_student(model, x, limits=NO_DISTRIBUTIONS)
        G.check_true(isinstance(result, (tuple, list)) and len(result) == 3, f"{what}(x) should return (logits, mu, logvar)")
        logits, mu, logvar = result
        G.check_shape(logits, (n, 1, 28, 28), f"logits of {what}")
        G.check_shape(mu, (n, latent), f"mu of {what}")
        G.check_shape(logvar, (n, latent), f"logvar of {what}")
        # each flag reaches the right part: the same heights as above, seen inside model.encoder and model.decoder
        parts = (("encoder", inner_decoder, x, "smaller, then larger"), ("decoder", inner_encoder, z, "larger, smaller, then larger"))
        for part, inner, given, shape in parts:
            module = getattr(model, part)
            heights = _collapse(_heights(module, lambda: G.call_student(module, given, limits=NO_DISTRIBUTIONS)))
            down, up = _down_up(([28] if part == "encoder" else []) + heights)
            G.check_true((up if part == "encoder" else down) == inner,
                         f"{what}: the heights of its {part}'s 4-D feature maps go {heights}; "
                         + (f"with this flag the {part} must contain the extra stage (heights {shape})"
                            if inner else f"without this flag the {part} has no extra stage"))
        reconstruction = -oracle_log_likelihood(x, logits).mean()  # the KL term alone would reach the encoder anyway
        model.zero_grad()
        reconstruction.backward()
        without = [name for name, p in model.encoder.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
        G.check_true(not without, f"{what}: the reconstruction term's gradient does not reach encoder parameters {without[:3]}; "
                                  "the decoder must be fed z = reparameterize(mu, logvar), computed from mu and logvar")
    model.eval()
    with torch.no_grad():
        first, second = G.call_student(model, x, limits=NO_DISTRIBUTIONS), G.call_student(model, x, limits=NO_DISTRIBUTIONS)
        enc_first, enc_second = G.call_student(model.encoder, x, limits=NO_DISTRIBUTIONS), G.call_student(model.encoder, x, limits=NO_DISTRIBUTIONS)
    G.check_true(torch.allclose(enc_first[0], enc_second[0]), "the encoder should be deterministic: mu differs between two calls in eval mode")
    G.check_true(not torch.allclose(first[0], second[0]),
                 "two forward passes of the VAE on the same images gave the same logits: the decoder must get a fresh "
                 "sample z = reparameterize(mu, logvar), not mu itself")


# ------------------------------------------------------------------ part 5: training
class _TrainingWatch:
    """What ``train_vae`` does with a model: its forward calls in training mode (x, logits, mu, logvar), the training-mode
    calls of its encoder and decoder, and whether its first call saw the parameters the model was handed over with."""

    def __init__(self, model: nn.Module) -> None:
        self.calls: list[tuple[torch.Tensor, ...]] = []
        self.inner = {"encoder": 0, "decoder": 0}
        self.initial = [p.detach().clone() for p in model.parameters()]
        self.first_from_initial: bool | None = None
        self.hooks = [model.register_forward_pre_hook(self._before), model.register_forward_hook(self._after)]
        for part in self.inner:
            module = getattr(model, part, None)
            if isinstance(module, nn.Module):
                self.hooks.append(module.register_forward_hook(lambda m, i, o, part=part: self._part(m, part)))

    def _before(self, module, inputs) -> None:
        if self.first_from_initial is None and module.training:
            self.first_from_initial = all(torch.equal(a, p.detach()) for a, p in zip(self.initial, module.parameters()))

    def _after(self, module, inputs, output) -> None:
        if module.training and inputs and torch.is_tensor(inputs[0]) and isinstance(output, (tuple, list)) and len(output) == 3:
            self.calls.append(tuple(t.detach().clone() for t in (inputs[0], *output)))

    def _part(self, module, part: str) -> None:
        if module.training:
            self.inner[part] += 1

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()

    def check_trained_through_the_model(self) -> None:
        """The model trains from the parameters it was given, and only through ``model(x)``, once per mini-batch."""
        G.check_true(self.first_from_initial is not False,
                     "the model's parameters had changed before train_vae's first model(x): train the model you are given "
                     "from its initial parameters (no loaded weights, no training before the epochs)")
        for part, count in self.inner.items():
            G.check_true(count == len(self.calls),
                         f"model.{part} ran {count} times in training mode while model(x) ran {len(self.calls)} times: "
                         "train only through model(x), once per mini-batch")


def _split_epochs(calls: list, n_images: int) -> list[list]:
    """Group the recorded batches into epochs of ``n_images`` images each."""
    epochs, current, seen = [], [], 0
    for call in calls:
        current.append(call)
        seen += len(call[0])
        if seen >= n_images:
            G.check_true(seen == n_images, f"an epoch's mini-batches held {seen} images, but there are {n_images}: every image "
                                           "once per epoch, in mini-batches")
            epochs.append(current)
            current, seen = [], 0
    G.check_true(not current, f"after the last full epoch train_vae ran model(x) on {seen} more images; every epoch is one pass "
                              "over all the images")
    return epochs


def check_train_vae_history(train_vae, VAE, images: torch.Tensor, epochs: int = 2, batch_size: int | None = None) -> dict:
    """A short run, watched batch by batch: epochs, batches, shuffling, the history's means, training in place, lr."""
    torch.manual_seed(0)
    model = G.construct_student(VAE, 8, limits=NO_DISTRIBUTIONS)
    model.eval()  # handed over in evaluation mode: train_vae must switch it to training mode itself
    before = [p.detach().clone() for p in model.parameters()]
    watch = _TrainingWatch(model)
    calls = watch.calls
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    try:
        history = G.call_student(train_vae, model, images, epochs, limits=TRAINING_LIMITS, **kwargs)
    finally:
        watch.remove()
    G.check_true(isinstance(history, dict), f"train_vae should return a dict (the history), got {type(history).__name__}")
    for key in ("loss", "reconstruction", "kl"):
        G.check_true(key in history, f"the history returned by train_vae has no {key!r} entry")
        G.check_true(len(history[key]) == epochs, f"history[{key!r}] has {len(history[key])} values after {epochs} epochs; record one mean per epoch")
    G.check_true(len(calls) > 0, "train_vae never called model(x) in training mode; call model(x) once per mini-batch, after model.train()")
    watch.check_trained_through_the_model()
    watched = _split_epochs(calls, len(images))
    G.check_true(len(watched) == epochs, f"train_vae made {len(watched)} passes over the images with epochs={epochs}")
    if batch_size is not None:
        sizes = sorted({len(call[0]) for epoch in watched for call in epoch})
        G.check_true(max(sizes) == batch_size or (len(images) < batch_size and max(sizes) == len(images)),
                     f"with batch_size={batch_size} the mini-batches had sizes {sizes}")
    key = torch.randn(images[0].numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fingerprint = lambda x: torch.sort(x.double().flatten(1) @ key).values  # noqa: E731
    for number, epoch in enumerate(watched):
        seen = torch.cat([call[0] for call in epoch])
        G.check_close(fingerprint(seen), fingerprint(images), f"the images seen in epoch {number + 1} (each training image exactly once)",
                      rtol=1e-6, atol=1e-6)
    if epochs >= 2 and len(images) > 1:
        G.check_true(not torch.equal(watched[0][0][0], watched[1][0][0]), "the first mini-batch of epoch 1 and epoch 2 are the "
                                                                          "same: shuffle the images every epoch")
    expected = {"loss": [], "reconstruction": [], "kl": []}
    for epoch in watched:
        n = sum(len(call[0]) for call in epoch)
        kl = sum(float(oracle_kl(mu, logvar).sum()) for _, _, mu, logvar in epoch) / n
        rec = sum(float(-oracle_log_likelihood(x, logits).sum()) for x, logits, _, _ in epoch) / n
        expected["loss"].append(rec + kl)
        expected["reconstruction"].append(rec)
        expected["kl"].append(kl)
    for key_name in ("loss", "reconstruction", "kl"):
        G.check_close(np.asarray(history[key_name], dtype=float), np.asarray(expected[key_name]),
                      f"history[{key_name!r}]: the mean per image over each epoch of the batches model(x) produced", rtol=5e-4, atol=1e-2)
    changed = any(not torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))
    G.check_true(changed, "train_vae did not change the model's parameters; it should train the model it is given, in place")
    frozen = G.construct_student(VAE, 8, limits=NO_DISTRIBUTIONS)
    frozen_before = [p.detach().clone() for p in frozen.parameters()]
    G.call_student(train_vae, frozen, images[:64], 1, lr=0.0, limits=TRAINING_LIMITS)
    G.check_true(all(torch.equal(a, p.detach()) for a, p in zip(frozen_before, frozen.parameters())),
                 "with lr=0.0 train_vae still changed the parameters: use the lr argument for the optimizer")
    return history


@torch.no_grad()
def held_out_scores(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> dict[str, float]:
    """The test's own measurement: reconstruction term at the posterior mean and negative ELBO (one sample), per image."""
    model.eval()
    reconstruction = negative_elbo = 0.0
    generator = torch.Generator().manual_seed(0)
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        mu, logvar = G.call_student(model.encoder, x, limits=NO_DISTRIBUTIONS)
        logits_mean = G.call_student(model.decoder, mu, limits=NO_DISTRIBUTIONS)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
        logits_sample = G.call_student(model.decoder, z, limits=NO_DISTRIBUTIONS)
        reconstruction += float(-oracle_log_likelihood(x, logits_mean).sum())
        negative_elbo += float(-oracle_elbo(x, logits_sample, mu, logvar).sum())
    return {"reconstruction": reconstruction / len(images), "negative_elbo": negative_elbo / len(images)}


def digits(train: bool) -> torch.Tensor:
    """MNIST images in [0, 1] (N, 1, 28, 28), loaded by the tests themselves (a notebook's variables can be redefined)."""
    from course_utils.generative import mnist_digits

    return mnist_digits(train=train)[0]


def graded_run(train_vae, VAE, seed: int = 0) -> dict[str, float]:
    """Train a fresh ``VAE(16)`` with the student's ``train_vae`` on the test's digits and check the held-out scores."""
    from course_utils.runtime import seed_everything

    train_images, test_images = digits(train=True), digits(train=False)

    order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(2024))[:GRADED_TRAIN_SIZE]
    seed_everything(seed)
    model = G.construct_student(VAE, 16, limits=NO_DISTRIBUTIONS)
    watch = _TrainingWatch(model)
    calls = watch.calls
    try:
        history = G.call_student(train_vae, model, train_images[order], GRADED_EPOCHS, limits=TRAINING_LIMITS)
    finally:
        watch.remove()
    watch.check_trained_through_the_model()
    G.check_true(isinstance(history, dict) and len(history.get("loss", [])) == GRADED_EPOCHS,
                 f"train_vae should train exactly {GRADED_EPOCHS} epochs and return their history")
    G.check_true(len(_split_epochs(calls, len(order))) == GRADED_EPOCHS,
                 f"train_vae should make exactly {GRADED_EPOCHS} passes over the {len(order)} images it is given")
    scores = held_out_scores(model, test_images)
    print(f"graded run: {len(order)} training digits, {GRADED_EPOCHS} epochs; held-out reconstruction "
          f"{scores['reconstruction']:.1f} nats per digit (at most {GRADED_MAX_RECONSTRUCTION}), negative ELBO "
          f"{scores['negative_elbo']:.1f} (at most {GRADED_MAX_NEGATIVE_ELBO}), on {len(test_images)} held-out digits")
    G.check_finite(np.array([scores["reconstruction"], scores["negative_elbo"]]), "held-out scores")
    G.check_true(scores["reconstruction"] <= GRADED_MAX_RECONSTRUCTION,
                 f"held-out reconstruction term {scores['reconstruction']:.1f} nats per digit is above {GRADED_MAX_RECONSTRUCTION}: "
                 "the decoder does not reconstruct the digits from their codes well enough after the graded run")
    G.check_true(scores["negative_elbo"] <= GRADED_MAX_NEGATIVE_ELBO,
                 f"held-out negative ELBO {scores['negative_elbo']:.1f} nats per digit is above {GRADED_MAX_NEGATIVE_ELBO}: "
                 "train with the ELBO (reconstruction + KL) as the loss")
    return scores
