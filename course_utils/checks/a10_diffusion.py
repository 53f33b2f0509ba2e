"""Checks for assignment a10_diffusion: a denoising diffusion model's formulas, written by the student.

Conventions the instructions set (as in chapter 11 and Ho et al., 2020): timesteps t = 1, ..., T; every
schedule tensor has T + 1 entries indexed by t, with ``betas[0] = 0`` and ``alpha_bars[0] = 1`` (x_0 is the
data); a noise-prediction model is called as ``model(x_t, t, labels)`` with ``t`` a LongTensor of shape (N,).

Limits (stated in the notebook's instructions too):

* ``NO_COURSE_DIFFUSION`` for every graded function: nothing of ``course_utils.models.diffusion`` (the
  course's reference, whose functions are also marked ``@reference``) and nothing of a diffusion library
  (``diffusers``) may run while the student's code runs. Sources copied from the reference with names
  changed are refused too (``not_copied``, an AST comparison, for every graded function but the one-line
  ``alpha_bars_from_betas``).

Promise list (what the instructions promise for each graded function, and the check that holds it):

``linear_betas(T, beta_1=1e-4, beta_T=0.02)``
  - a 1-D tensor of T + 1 entries, ``betas[0] = 0`` and beta_1..beta_T evenly spaced from ``beta_1`` to
    ``beta_T`` (``check_schedules``: against the reference for T and endpoints drawn at grading time);
``cosine_betas(T, s=0.008, max_beta=0.999)``
  - T + 1 entries, ``betas[0] = 0``, beta_t = 1 - f(t) / f(t - 1) with f(t) = cos^2((t / T + s) / (1 + s) pi / 2),
    clipped to at most ``max_beta`` (``check_schedules``: the reference's values for a T, an s and a
    ``max_beta`` drawn at grading time; the last beta is clipped; a smaller ``max_beta`` clips more steps;
    the offset s changes beta_1);
``alpha_bars_from_betas(betas)``
  - the cumulative **product** of 1 - beta_t, same length, entry 0 equal to 1 (``check_schedules``: against
    ``torch.cumprod`` on random betas; values between 0 and 1 and decreasing);
``q_sample(x0, t, alpha_bars, noise)``
  - x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise with one t per image, t a LongTensor (N,), for
    images of any shape (``check_q_sample``: against the reference on fresh random tensors, 4-D and 2-D,
    t = 0 gives x0 back; the statistics of many draws match those of the one-step process iterated t times
    by the test itself);
``noise_prediction_loss(model, x0, alpha_bars, labels=None)``
  - draws one t per image uniformly from {1, ..., T} (never 0, T included) and fresh standard normal noise,
    calls ``model(x_t, t, labels)`` once with x_t = q_sample(...), and returns the mean squared error between
    the prediction and the noise, a differentiable scalar (``check_loss``: a recording model; the noise is
    recovered from x_t and x0 and must be N(0, I) and fresh; the loss must equal the MSE of what the model
    returned against that noise; gradients reach the model; the labels arrive unchanged; over many draws t
    covers 1..T and only 1..T);
``reverse_mean_variance(x_t, t, noise_pred, betas)``
  - the mean (x_t - beta_t / sqrt(1 - alpha_bar_t) noise_pred) / sqrt(alpha_t) and the posterior variance
    beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) of p(x_{t-1} | x_t), for an int t in 1..T; the variance
    is 0 at t = 1 (``check_reverse``: against the reference on fresh random tensors, linear and cosine betas,
    t = 1, t = T and t drawn at grading time; with the true noise, equal to the mean and variance of
    q(x_{t-1} | x_t, x_0) obtained by Gaussian conditioning);
``reverse_step(x_t, t, noise_pred, betas)``
  - x_{t-1} = mean + sqrt(variance) z with fresh z ~ N(0, I) for t > 1, and the mean itself at t = 1 (no
    noise at the last step) (``check_reverse``: residuals divided by the standard deviation have mean 0 and
    variance 1 over many draws; two calls differ; t = 1 returns the mean exactly);
``sample(model, shape, betas, labels=None)``
  - starts from x_T ~ N(0, I) of ``shape``, calls ``model(x, t, labels)`` once for each t = T, T - 1, ..., 1
    in that order with t a LongTensor (N,) and the given labels, takes one reverse step each time, and
    returns x_0 of ``shape`` (``check_sample``: a watched model records every call; the first input is
    standard normal; every step's output is the reverse step of its input (residuals N(0, 1), checked with
    the reference formulas); the last step adds no noise; fresh noise on every call of ``sample``);
``partial_denoise(model, x0, t_start, betas, labels=None)``
  - returns ``(x_t, x0_hat)``: x_t = q_sample of x0 at t_start with fresh noise, then the reverse process
    from t_start down to 1 (model calls at t_start, ..., 1 only), x0_hat of x0's shape
    (``check_partial_denoise``: the same watched model; x_t's noise recovered and N(0, I); the first call
    receives x_t; every step checked as in ``sample``; t_start drawn at grading time, including 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course_utils import grading as G
from course_utils.grading import Limits

NO_COURSE_DIFFUSION = Limits(modules=("course_utils.models.diffusion", "diffusers"),
                             rule="Do not use the course's diffusion code (course_utils.models.diffusion) or a diffusion "
                                  "library: write the formulas yourself.")


# ------------------------------------------------------------------ oracles and small tools
def reference():
    """The course's reference module (the tests' oracle; blocked while student code runs)."""
    from course_utils.models import diffusion

    return diffusion


def _tensor(value, name: str) -> torch.Tensor:
    G.check_true(torch.is_tensor(value), f"{name} should return a torch tensor, got {type(value).__name__}")
    return value


def _float(value, name: str) -> float:
    if torch.is_tensor(value):
        G.check_true(value.numel() == 1, f"{name} should be a number or a one-element tensor, got shape {tuple(value.shape)}")
        value = value.item()
    G.check_true(isinstance(value, (int, float, np.floating)), f"{name} should be a number, got {type(value).__name__}")
    return float(value)


def _close(actual, expected, what: str, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    actual = _tensor(actual, what).detach().double()
    G.check_shape(actual, tuple(expected.shape), what)
    G.check_close(actual, expected.double(), what, rtol=rtol, atol=atol)


def standard_normal_ok(z: torch.Tensor, what: str, sigmas: float = 6.0) -> None:
    """Fail unless the entries of ``z`` look like independent N(0, 1) draws (mean, variance, no copies)."""
    z = z.detach().double().flatten()
    n = z.numel()
    mean, var = float(z.mean()), float(z.var())
    G.check_true(abs(mean) < sigmas / math.sqrt(n),
                 f"{what}: the implied noise has mean {mean:.3f} over {n} entries; it should be standard normal (mean 0)")
    G.check_true(abs(var - 1) < sigmas * math.sqrt(2 / n) + 0.01,
                 f"{what}: the implied noise has variance {var:.3f} over {n} entries; it should be standard normal (variance 1)")


def not_copied(*pairs) -> None:
    """Fail for a student function that is the course's reference with names changed (its source, not only its calls)."""
    for student, reference_function, what in pairs:
        G.check_not_copied(student, reference_function, what)


def random_betas(rng: np.random.Generator, T: int) -> torch.Tensor:
    """Betas of a random schedule of T steps (linear or cosine, parameters drawn from ``rng``), float64."""
    D = reference()
    if rng.random() < 0.5:
        beta_1 = float(rng.uniform(1e-4, 5e-3))
        return D.linear_betas(T, beta_1, float(rng.uniform(max(0.05, beta_1), 0.3)))
    return D.cosine_betas(T, s=float(rng.uniform(0.004, 0.02)))


# ------------------------------------------------------------------ part 1: schedules
def check_schedules(linear_betas, cosine_betas, alpha_bars_from_betas, rng: np.random.Generator | None = None) -> None:
    """Linear and cosine betas against the reference (including the clipping), alpha_bar as a product."""
    rng = rng if rng is not None else np.random.default_rng(0)
    D = reference()
    not_copied((linear_betas, D.linear_betas, "linear_betas"), (cosine_betas, D.cosine_betas, "cosine_betas"))
    for T in (int(rng.integers(5, 40)), 1000):
        beta_1, beta_T = float(rng.uniform(1e-5, 1e-3)), float(rng.uniform(0.01, 0.05))
        result = G.call_student(linear_betas, T, beta_1, beta_T, limits=NO_COURSE_DIFFUSION)
        _close(result, D.linear_betas(T, beta_1, beta_T), f"linear_betas({T}, {beta_1:.2e}, {beta_T:.3f}) "
               f"(T + 1 entries: betas[0] = 0, then {T} values evenly spaced from beta_1 to beta_T)", rtol=1e-5, atol=1e-9)
    for T, s, max_beta in ((int(rng.integers(8, 60)), float(rng.uniform(0.002, 0.03)), 0.999), (1000, 0.008, 0.999),
                           (int(rng.integers(20, 80)), 0.008, float(rng.uniform(0.3, 0.6)))):
        result = _tensor(G.call_student(cosine_betas, T, s=s, max_beta=max_beta, limits=NO_COURSE_DIFFUSION), "cosine_betas")
        expected = D.cosine_betas(T, s, max_beta)
        what = f"cosine_betas({T}, s={s:.4f}, max_beta={max_beta:.3f})"
        G.check_shape(result, (T + 1,), f"{what} (T + 1 entries, betas[0] = 0)")
        clipped = int((expected >= max_beta).sum())
        G.check_true(float(result.max()) <= max_beta + 1e-9,
                     f"{what}: the largest beta is {float(result.max()):.4f}; clip every beta to at most max_beta = {max_beta}")
        _close(result, expected, f"{what} (beta_t = 1 - f(t) / f(t - 1), clipped at max_beta; {clipped} of the {T} betas "
               "are clipped here)", rtol=1e-4, atol=1e-9)
    # the offset s matters at the start of the schedule
    no_offset = _tensor(G.call_student(cosine_betas, 1000, s=0.0, limits=NO_COURSE_DIFFUSION), "cosine_betas")
    _close(no_offset[:4], D.cosine_betas(1000, 0.0)[:4], "cosine_betas(1000, s=0) for t = 0..3 (the offset s enters f(t))",
           rtol=1e-4, atol=1e-12)
    # alpha_bar: a product of (1 - beta), not a sum
    for T in (int(rng.integers(3, 20)), 1000):
        betas = random_betas(rng, T)
        result = G.call_student(alpha_bars_from_betas, betas.clone(), limits=NO_COURSE_DIFFUSION)
        _close(result, torch.cumprod(1 - betas, 0), f"alpha_bars_from_betas on {T}-step betas (alpha_bar_t = product of "
               "(1 - beta_s) for s <= t)", rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------ part 2: the forward process in closed form
def check_q_sample(q_sample, alpha_bars_from_betas, rng: np.random.Generator | None = None) -> None:
    """Values against the reference, and the statistics of many draws against iterated one-step noising."""
    rng = rng if rng is not None else np.random.default_rng(0)
    D = reference()
    not_copied((q_sample, D.q_sample, "q_sample"))
    gen = G.torch_generator(rng)
    T = int(rng.integers(50, 400))
    betas = random_betas(rng, T)
    alpha_bars = torch.cumprod(1 - betas, 0)
    for shape in ((int(rng.integers(2, 6)), 1, 6, 6), (int(rng.integers(2, 6)), 7)):
        x0 = torch.rand(shape, generator=gen) * 2 - 1
        noise = torch.randn(shape, generator=gen)
        t = torch.as_tensor(rng.integers(0, T + 1, shape[0]))
        t[0] = 0
        result = G.call_student(q_sample, x0.clone(), t.clone(), alpha_bars.clone(), noise.clone(), limits=NO_COURSE_DIFFUSION)
        expected = D.q_sample(x0.double(), t, alpha_bars, noise.double())
        _close(result, expected, f"q_sample on images of shape {shape} with t = {t.tolist()} (sqrt(alpha_bar_t) x0 + "
               "sqrt(1 - alpha_bar_t) noise, one t per image)", rtol=1e-4, atol=1e-5)
        G.check_close(result[0].double(), x0[0].double(), "q_sample at t = 0 (alpha_bar_0 = 1: the data itself)", atol=1e-6)
    # statistics: the closed form against the one-step process iterated t times (in float64, by the test)
    n, d = 20_000, 3
    x0 = torch.rand(d, generator=gen, dtype=torch.float64) * 2 - 1
    for t in (int(rng.integers(1, 6)), int(rng.integers(T // 3, T + 1))):
        x = x0.expand(n, d).clone()
        for step in range(1, t + 1):
            x = math.sqrt(1 - float(betas[step])) * x + math.sqrt(float(betas[step])) * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        closed = G.call_student(q_sample, x0.expand(n, d).clone(), torch.full((n,), t), alpha_bars.clone(),
                                torch.randn((n, d), generator=gen, dtype=torch.float64), limits=NO_COURSE_DIFFUSION)
        closed = _tensor(closed, "q_sample").double()
        se_mean = torch.sqrt(x.var(0) / n + closed.var(0) / n)
        worst = float(((closed.mean(0) - x.mean(0)).abs() / se_mean).max())
        G.check_true(worst < 6, f"q_sample at t = {t}: over {n} draws the mean differs from that of {t} iterated one-step "
                                f"noisings by {worst:.1f} standard errors (means {closed.mean(0).numpy().round(4).tolist()} "
                                f"vs {x.mean(0).numpy().round(4).tolist()})")
        ratio = (closed.var(0) / x.var(0)).numpy()
        G.check_true(np.all(np.abs(ratio - 1) < 0.06), f"q_sample at t = {t}: variances {closed.var(0).numpy().round(5).tolist()}, "
                                                      f"iterated noising gives {x.var(0).numpy().round(5).tolist()}")
    # the student's own alpha_bars feed the same closed form
    mine = _tensor(G.call_student(alpha_bars_from_betas, betas.clone(), limits=NO_COURSE_DIFFUSION), "alpha_bars_from_betas")
    G.check_close(mine.double(), alpha_bars, "alpha_bars_from_betas (needed by q_sample)", rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------ part 3: the loss
class RecordingModel(torch.nn.Module):
    """A noise predictor with one learnable scale that records every call (x_t, t, labels, prediction)."""

    def __init__(self, scale: float = 0.5) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]] = []

    def forward(self, x_t, t, labels=None):
        G.check_true(torch.is_tensor(t) and t.shape == (len(x_t),) and not t.is_floating_point(),
                     f"the model must be called with t as an integer tensor of shape (N,) = ({len(x_t)},), got "
                     f"{f'a {t.dtype} tensor of shape {tuple(t.shape)}' if torch.is_tensor(t) else repr(t)}")
        prediction = self.scale * torch.tanh(x_t) + 0.01 * t.to(x_t.dtype).reshape(-1, *[1] * (x_t.dim() - 1))
        self.calls.append((x_t.detach().clone(), t.detach().clone(), None if labels is None else labels.detach().clone(),
                           prediction.detach().clone()))
        return prediction


def check_loss(noise_prediction_loss, rng: np.random.Generator | None = None) -> None:
    """The loss recomputed from what the model saw: t in 1..T, fresh N(0, I) noise, MSE, gradients, labels."""
    rng = rng if rng is not None else np.random.default_rng(0)
    not_copied((noise_prediction_loss, reference().noise_prediction_loss, "noise_prediction_loss"))
    gen = G.torch_generator(rng)
    T = int(rng.integers(4, 9))
    betas = random_betas(rng, T)
    alpha_bars = torch.cumprod(1 - betas, 0).float()
    n = int(rng.integers(200, 400))
    x0 = torch.rand(n, 1, 4, 4, generator=gen) * 2 - 1
    labels = torch.as_tensor(rng.integers(0, 10, n))
    model = RecordingModel(float(rng.uniform(0.2, 0.8)))
    loss = _tensor(G.call_student(noise_prediction_loss, model, x0.clone(), alpha_bars.clone(), labels.clone(),
                                  limits=NO_COURSE_DIFFUSION), "noise_prediction_loss")
    G.check_true(loss.dim() == 0, f"noise_prediction_loss should return a scalar, got shape {tuple(loss.shape)}")
    G.check_true(len(model.calls) == 1, f"noise_prediction_loss called the model {len(model.calls)} times; call it once on the "
                                        "whole batch")
    x_t, t, seen_labels, prediction = model.calls[0]
    G.check_shape(x_t, tuple(x0.shape), "the x_t passed to the model")
    G.check_true(seen_labels is not None and torch.equal(seen_labels, labels),
                 "the labels must be passed to the model unchanged: model(x_t, t, labels)")
    G.check_true(int(t.min()) >= 1 and int(t.max()) <= T,
                 f"t must be drawn from 1..T = 1..{T}; the model saw t from {int(t.min())} to {int(t.max())} (t = 0 is the "
                 "data itself, and sampling starts at t = T)")
    G.check_true(set(t.tolist()) == set(range(1, T + 1)),
                 f"over {n} images every t in 1..{T} should appear; the model saw {sorted(set(t.tolist()))}")
    alpha_bar = alpha_bars.double()[t].reshape(-1, 1, 1, 1)
    noise = (x_t.double() - alpha_bar.sqrt() * x0.double()) / (1 - alpha_bar).sqrt()  # recovered from x_t
    standard_normal_ok(noise, "noise_prediction_loss (noise recovered as (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t))")
    expected = float(((prediction.double() - noise) ** 2).mean())
    G.check_close(np.array(float(loss.detach())), np.array(expected), "the loss: the mean over all pixels and images of "
                  "(model prediction - noise)^2, with the noise that made x_t", rtol=1e-4, atol=1e-6)
    G.check_true(loss.requires_grad, "the loss must be differentiable in the model's parameters (do not detach the "
                                     "prediction or compute the loss under torch.no_grad())")
    loss.backward()
    G.check_true(model.scale.grad is not None and float(model.scale.grad.abs()) > 0,
                 "the loss must be differentiable in the model's parameters (do not detach the prediction)")
    # fresh noise and fresh t every call
    again = RecordingModel()
    G.call_student(noise_prediction_loss, again, x0.clone(), alpha_bars.clone(), None, limits=NO_COURSE_DIFFUSION)
    G.check_true(again.calls and again.calls[0][2] is None, "with labels=None the model must be called with labels None")
    G.check_true(not torch.equal(again.calls[0][0], x_t), "two calls of noise_prediction_loss gave the model the same x_t: draw "
                                                          "fresh noise and fresh t every call")


# ------------------------------------------------------------------ part 4: one reverse step
def _gaussian_conditioning(x0: torch.Tensor, x_t: torch.Tensor, alpha_bar_prev: float, beta: float) -> tuple[torch.Tensor, float]:
    """q(x_{t-1} | x_t, x_0) from the joint Gaussian of (x_{t-1}, x_t) given x_0 (Schur complement)."""
    mean_prev, var_prev = math.sqrt(alpha_bar_prev) * x0, 1 - alpha_bar_prev
    a = math.sqrt(1 - beta)
    var_t, cov = a * a * var_prev + beta, a * var_prev
    return mean_prev + cov / var_t * (x_t - a * mean_prev), var_prev - cov * cov / var_t


def check_reverse(reverse_mean_variance, reverse_step, rng: np.random.Generator | None = None) -> None:
    """Mean and variance against the reference and Gaussian conditioning; the step's noise; no noise at t = 1."""
    rng = rng if rng is not None else np.random.default_rng(0)
    D = reference()
    not_copied((reverse_mean_variance, D.reverse_mean_variance, "reverse_mean_variance"), (reverse_step, D.reverse_step, "reverse_step"))
    gen = G.torch_generator(rng)
    for kind in ("linear", "cosine"):
        T = int(rng.integers(20, 1001))
        betas = D.linear_betas(T) if kind == "linear" else D.cosine_betas(T, s=float(rng.uniform(0.004, 0.02)))
        alpha_bars = torch.cumprod(1 - betas, 0)
        for t in sorted({1, T, int(rng.integers(2, T + 1)), int(rng.integers(2, min(T, 10) + 1))}):
            shape = (int(rng.integers(2, 5)), 1, 5, 5)
            x0 = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
            noise = torch.randn(shape, generator=gen, dtype=torch.float64)
            x_t = D.q_sample(x0, t, alpha_bars, noise)
            noise_pred = noise + 0.3 * torch.randn(shape, generator=gen, dtype=torch.float64)
            result = G.call_student(reverse_mean_variance, x_t.clone(), t, noise_pred.clone(), betas.clone(), limits=NO_COURSE_DIFFUSION)
            G.check_true(isinstance(result, (tuple, list)) and len(result) == 2, "reverse_mean_variance should return (mean, variance)")
            mean, variance = result
            ref_mean, ref_var = D.reverse_mean_variance(x_t, t, noise_pred, betas)
            what = f"{kind} schedule, T = {T}, t = {t}"
            _close(mean, ref_mean, f"reverse_mean_variance mean ({what}): (x_t - beta_t / sqrt(1 - alpha_bar_t) noise_pred) / "
                   "sqrt(alpha_t)", rtol=1e-4, atol=1e-6)
            G.check_close(np.array(_float(variance, "the variance")), np.array(ref_var),
                          f"reverse_mean_variance variance ({what}): beta_t (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t)"
                          + (" (0 at t = 1)" if t == 1 else ""), rtol=1e-4, atol=1e-12)
            # with the true noise, the step is the posterior q(x_{t-1} | x_t, x_0)
            mean_true, variance_true = G.call_student(reverse_mean_variance, x_t.clone(), t, noise.clone(), betas.clone(),
                                                      limits=NO_COURSE_DIFFUSION)
            q_mean, q_var = _gaussian_conditioning(x0, x_t, float(alpha_bars[t - 1]), float(betas[t]))
            _close(mean_true, q_mean, f"reverse_mean_variance with the true noise ({what}) should be the mean of "
                   "q(x_(t-1) | x_t, x_0)", rtol=1e-4, atol=1e-6)
            G.check_close(np.array(_float(variance_true, "the variance")), np.array(q_var),
                          f"reverse_mean_variance variance ({what}) should be that of q(x_(t-1) | x_t, x_0)", rtol=1e-4, atol=1e-12)
    # the step: mean + sqrt(variance) z, fresh z; the mean itself at t = 1
    T = int(rng.integers(50, 300))
    betas = D.cosine_betas(T)
    n = 20_000
    x_t = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    noise_pred = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    t = int(rng.integers(2, T + 1))
    mean, variance = D.reverse_mean_variance(x_t, t, noise_pred, betas)
    first = _tensor(G.call_student(reverse_step, x_t.clone(), t, noise_pred.clone(), betas.clone(), limits=NO_COURSE_DIFFUSION), "reverse_step")
    G.check_shape(first, (n, 2), "reverse_step's result")
    standard_normal_ok((first.double() - mean) / math.sqrt(variance), f"reverse_step at t = {t}: (x_(t-1) - mean) / sqrt(variance)")
    second = G.call_student(reverse_step, x_t.clone(), t, noise_pred.clone(), betas.clone(), limits=NO_COURSE_DIFFUSION)
    G.check_true(not torch.equal(first, second), "two calls of reverse_step gave the same x_(t-1): draw fresh noise z every call")
    last = G.call_student(reverse_step, x_t[:50].clone(), 1, noise_pred[:50].clone(), betas.clone(), limits=NO_COURSE_DIFFUSION)
    _close(last, D.reverse_mean_variance(x_t[:50], 1, noise_pred[:50], betas)[0],
           "reverse_step at t = 1 (the last step returns the mean: no noise is added to x_0)", rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ parts 5 and 6: sampling and partial denoising
class WatchedModel(torch.nn.Module):
    """A fixed noise predictor (no training needed) that records every call in order."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.a = float(torch.empty(()).uniform_(0.2, 0.6, generator=generator))
        self.b = float(torch.empty(()).uniform_(-0.2, 0.2, generator=generator))
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def forward(self, x, t, labels=None):
        G.check_true(torch.is_tensor(t) and t.shape == (len(x),) and not t.is_floating_point(),
                     f"the model must be called with t as an integer tensor of shape (N,) = ({len(x)},), got "
                     f"{f'a {t.dtype} tensor of shape {tuple(t.shape)}' if torch.is_tensor(t) else repr(t)}")
        self.calls.append((x.detach().clone(), t.detach().clone(), None if labels is None else labels.detach().clone()))
        shift = self.b * torch.cos(t.to(x.dtype) / 7).reshape(-1, *[1] * (x.dim() - 1))
        if labels is not None:
            shift = shift + 0.05 * labels.to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))
        return self.a * x + shift


def _check_chain(model: WatchedModel, result: torch.Tensor, betas: torch.Tensor, t_start: int, labels, what: str) -> None:
    """Every recorded call is one reverse step of the previous one, t_start down to 1, and the result is the last step."""
    D = reference()
    ts = [int(call[1][0]) for call in model.calls]
    G.check_true(ts == list(range(t_start, 0, -1)),
                 f"{what} called the model at t = {ts[:5]}{'...' if len(ts) > 5 else ''} ({len(ts)} calls); it should call it "
                 f"once at each t = {t_start}, {t_start - 1}, ..., 1, in that order" if t_start > 1 else
                 f"{what} called the model at t = {ts}; from t = 1 there is one step, at t = 1")
    for x, t, seen in model.calls:
        G.check_true(bool((t == t[0]).all()), f"{what}: all images of a step share the same t")
        if labels is None:
            G.check_true(seen is None, f"{what}: without labels, call the model with labels None")
        else:
            G.check_true(seen is not None and torch.equal(seen.cpu(), labels), f"{what}: pass the labels to every model call")
    outputs = [call[0] for call in model.calls[1:]] + [_tensor(result, what).detach()]
    residuals = []
    for (x, t, seen), x_next in zip(model.calls, outputs):
        step = int(t[0])
        G.check_shape(x_next, tuple(x.shape), f"{what}: x at t = {step - 1}")
        noise_pred = model.a * x.double() + model.b * math.cos(step / 7) + (0.05 * seen.double().reshape(-1, *[1] * (x.dim() - 1)) if seen is not None else 0)
        mean, variance = D.reverse_mean_variance(x.double(), step, noise_pred, betas)
        if step == 1:
            G.check_close(x_next.double(), mean, f"{what}: the last step (t = 1) should return the mean of p(x_0 | x_1) without "
                          "adding noise", rtol=1e-4, atol=1e-5)
        else:
            residuals.append(((x_next.double() - mean) / math.sqrt(variance)).flatten())
    if residuals:
        standard_normal_ok(torch.cat(residuals), f"{what}: every step x_(t-1) = mean + sqrt(variance) z (the residuals "
                                                 "(x_(t-1) - mean) / sqrt(variance) over all steps)")


def check_sample(sample, rng: np.random.Generator | None = None) -> None:
    """Starts from N(0, I) at t = T, one watched model call per t down to 1, each a reverse step, ends at x_0."""
    rng = rng if rng is not None else np.random.default_rng(0)
    T = int(rng.integers(15, 40))
    betas = random_betas(rng, T)
    for with_labels in (False, True):
        shape = (int(rng.integers(40, 80)), 1, int(rng.integers(3, 7)), int(rng.integers(3, 7)))
        labels = torch.as_tensor(rng.integers(0, 10, shape[0])) if with_labels else None
        model = WatchedModel(int(rng.integers(0, 2**31)))
        result = G.call_student(sample, model, shape, betas.clone(), labels, limits=NO_COURSE_DIFFUSION)
        what = f"sample(model, {shape}, betas of T = {T} steps{', labels' if with_labels else ''})"
        G.check_shape(_tensor(result, "sample"), shape, what)
        G.check_true(len(model.calls) > 0, f"{what} never called the model")
        G.check_shape(model.calls[0][0], shape, f"{what}: the first model input x_T")
        standard_normal_ok(model.calls[0][0], f"{what}: x_T, where sampling starts (pure noise N(0, I))")
        _check_chain(model, result, betas, T, labels, what)
    again = WatchedModel(0)
    G.call_student(sample, again, shape, betas.clone(), labels, limits=NO_COURSE_DIFFUSION)
    G.check_true(not torch.equal(again.calls[0][0], model.calls[0][0]), "two calls of sample started from the same x_T: draw "
                                                                        "fresh noise every call")


def check_partial_denoise(partial_denoise, rng: np.random.Generator | None = None) -> None:
    """Noises x0 to t_start with fresh noise, then steps t_start, ..., 1 with the model; returns (x_t, x0_hat)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    T = int(rng.integers(30, 200))
    betas = random_betas(rng, T)
    alpha_bars = torch.cumprod(1 - betas, 0)
    gen = G.torch_generator(rng)
    for t_start in (int(rng.integers(2, 12)), 1, T):
        n = int(rng.integers(60, 120))
        x0 = torch.rand(n, 1, 4, 4, generator=gen) * 2 - 1
        labels = torch.as_tensor(rng.integers(0, 10, n)) if t_start != 1 else None
        model = WatchedModel(int(rng.integers(0, 2**31)))
        result = G.call_student(partial_denoise, model, x0.clone(), t_start, betas.clone(), labels, limits=NO_COURSE_DIFFUSION)
        what = f"partial_denoise(model, x0, t_start={t_start}, betas of T = {T}{', labels' if labels is not None else ''})"
        G.check_true(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} should return (x_t, x0_hat)")
        x_t, x0_hat = (_tensor(r, what) for r in result)
        G.check_shape(x_t, tuple(x0.shape), f"{what}: x_t")
        G.check_shape(x0_hat, tuple(x0.shape), f"{what}: x0_hat")
        alpha_bar = float(alpha_bars[t_start])
        standard_normal_ok((x_t.double() - math.sqrt(alpha_bar) * x0.double()) / math.sqrt(1 - alpha_bar),
                           f"{what}: x_t should be q_sample(x0, t_start) (noise recovered from x_t)")
        G.check_true(len(model.calls) > 0 and torch.allclose(model.calls[0][0].double(), x_t.double()),
                     f"{what}: the first model call must receive the returned x_t")
        _check_chain(model, x0_hat, betas, t_start, labels, what)
