"""The a10_diffusion checks accept correct code and refuse wrong variants (fast; the nbgrader round trip with the
shipped mutants is in test_assignments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.checks import a10_diffusion as C


# ------------------------------------------------------------------ a correct solution, written independently
def linear_betas(T, beta_1=1e-4, beta_T=0.02):
    return torch.cat([torch.zeros(1, dtype=torch.float64), torch.linspace(beta_1, beta_T, T, dtype=torch.float64)])


def cosine_betas(T, s=0.008, max_beta=0.999):
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return torch.tensor([0.0] + [min(1 - f(t) / f(t - 1), max_beta) for t in range(1, T + 1)], dtype=torch.float64)


def alpha_bars_from_betas(betas):
    return torch.cumprod(1 - betas, 0)


def q_sample(x0, t, alpha_bars, noise):
    a = alpha_bars[t].to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise


def noise_prediction_loss(model, x0, alpha_bars, labels=None):
    t = torch.randint(1, len(alpha_bars), (x0.shape[0],))
    noise = torch.randn_like(x0)
    return torch.nn.functional.mse_loss(model(q_sample(x0, t, alpha_bars, noise), t, labels), noise)


def reverse_mean_variance(x_t, t, noise_pred, betas):
    ab = alpha_bars_from_betas(betas)
    mean = (x_t - betas[t] / torch.sqrt(1 - ab[t]) * noise_pred) / torch.sqrt(1 - betas[t])
    return mean.to(x_t.dtype), (1 - ab[t - 1]) / (1 - ab[t]) * betas[t]


def reverse_step(x_t, t, noise_pred, betas):
    mean, var = reverse_mean_variance(x_t, t, noise_pred, betas)
    return mean if t == 1 else mean + torch.sqrt(var) * torch.randn_like(x_t)


def _chain(model, x, t_start, betas, labels):
    for t in range(t_start, 0, -1):
        x = reverse_step(x, t, model(x, torch.full((len(x),), t), labels), betas)
    return x


def sample(model, shape, betas, labels=None):
    return _chain(model, torch.randn(shape), len(betas) - 1, betas, labels)


def partial_denoise(model, x0, t_start, betas, labels=None):
    x_t = q_sample(x0, torch.full((len(x0),), t_start), alpha_bars_from_betas(betas), torch.randn_like(x0))
    return x_t, _chain(model, x_t, t_start, betas, labels)


RNG = lambda: np.random.default_rng(11)  # noqa: E731


def test_a_correct_solution_passes_every_check():
    C.check_schedules(linear_betas, cosine_betas, alpha_bars_from_betas, RNG())
    C.check_q_sample(q_sample, alpha_bars_from_betas, RNG())
    C.check_loss(noise_prediction_loss, RNG())
    C.check_reverse(reverse_mean_variance, reverse_step, RNG())
    C.check_sample(sample, RNG())
    C.check_partial_denoise(partial_denoise, RNG())


# ------------------------------------------------------------------ wrong variants
def test_schedule_mistakes_are_caught():
    with pytest.raises(AssertionError, match="linear_betas"):  # T values from 0 instead of betas[0] = 0 then T values
        C.check_schedules(lambda T, b1=1e-4, bT=0.02: torch.linspace(b1, bT, T + 1), cosine_betas, alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="cosine_betas"):  # f(t) / f(0) ratios of consecutive... without the clipping
        C.check_schedules(linear_betas, lambda T, s=0.008, max_beta=0.999: cosine_betas(T, s, 1.0), alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="max_beta"):  # clipping at a fixed 0.999 whatever max_beta says
        C.check_schedules(linear_betas, lambda T, s=0.008, max_beta=0.999: cosine_betas(T, s, 0.999), alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="cosine_betas"):  # the cosine without its square
        def no_square(T, s=0.008, max_beta=0.999):
            f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2)  # noqa: E731
            return torch.tensor([0.0] + [min(1 - f(t) / f(t - 1), max_beta) for t in range(1, T + 1)], dtype=torch.float64)
        C.check_schedules(linear_betas, no_square, alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="alpha_bars_from_betas"):  # the product of the betas, not of 1 - beta
        C.check_schedules(linear_betas, cosine_betas, lambda b: torch.cumprod(torch.where(b == 0, 1.0, b.double()), 0), RNG())
    with pytest.raises(AssertionError, match="alpha_bars_from_betas"):  # cumprod starting at beta_1 (length T)
        C.check_schedules(linear_betas, cosine_betas, lambda b: torch.cumprod(1 - b[1:], 0), RNG())


def test_forward_mistakes_are_caught():
    with pytest.raises(AssertionError, match="q_sample"):  # one alpha_bar for the whole batch
        C.check_q_sample(lambda x0, t, ab, noise: ab[t[0]].sqrt() * x0 + (1 - ab[t[0]]).sqrt() * noise, alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="q_sample"):  # alpha_bar_(t-1)
        C.check_q_sample(lambda x0, t, ab, noise: q_sample(x0, (t - 1).clamp(min=0), ab, noise), alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="q_sample"):  # 4-D images only
        C.check_q_sample(lambda x0, t, ab, noise: ab[t].view(-1, 1, 1, 1).sqrt() * x0 + (1 - ab[t].view(-1, 1, 1, 1)).sqrt() * noise,
                         alpha_bars_from_betas, RNG())


def test_loss_mistakes_are_caught():
    def sums(model, x0, ab, labels=None):  # summed over pixels
        t = torch.randint(1, len(ab), (len(x0),))
        noise = torch.randn_like(x0)
        return ((model(q_sample(x0, t, ab, noise), t, labels) - noise) ** 2).flatten(1).sum(1).mean()

    def drops_labels(model, x0, ab, labels=None):
        return noise_prediction_loss(model, x0, ab, None)

    def uniform_noise(model, x0, ab, labels=None):
        t = torch.randint(1, len(ab), (len(x0),))
        noise = torch.rand_like(x0) * 2 - 1
        return ((model(q_sample(x0, t, ab, noise), t, labels) - noise) ** 2).mean()

    def t_excludes_T(model, x0, ab, labels=None):
        t = torch.randint(1, len(ab) - 1, (len(x0),))
        noise = torch.randn_like(x0)
        return ((model(q_sample(x0, t, ab, noise), t, labels) - noise) ** 2).mean()

    def detached(model, x0, ab, labels=None):
        return noise_prediction_loss(model, x0, ab, labels).detach()

    def predicts_x0(model, x0, ab, labels=None):
        t = torch.randint(1, len(ab), (len(x0),))
        return ((model(q_sample(x0, t, ab, torch.randn_like(x0)), t, labels) - x0) ** 2).mean()

    for wrong, message in [(sums, "mean over all pixels"), (drops_labels, "labels"), (uniform_noise, "standard normal"),
                           (t_excludes_T, "every t"), (detached, "differentiable"), (predicts_x0, "the loss")]:
        with pytest.raises(AssertionError, match=message):
            C.check_loss(wrong, RNG())


def test_reverse_mistakes_are_caught():
    def beta_variance(x_t, t, noise_pred, betas):
        return reverse_mean_variance(x_t, t, noise_pred, betas)[0], betas[t]

    def alpha_bar_in_mean(x_t, t, noise_pred, betas):  # 1 / sqrt(alpha_bar_t) instead of 1 / sqrt(alpha_t)
        ab = alpha_bars_from_betas(betas)
        mean = (x_t - betas[t] / torch.sqrt(1 - ab[t]) * noise_pred) / torch.sqrt(ab[t])
        return mean, reverse_mean_variance(x_t, t, noise_pred, betas)[1]

    def variance_swapped(x_t, t, noise_pred, betas):  # alpha_bar_t and alpha_bar_(t-1) swapped
        ab = alpha_bars_from_betas(betas)
        return reverse_mean_variance(x_t, t, noise_pred, betas)[0], (1 - ab[t]) / (1 - ab[t - 1]).clamp(min=1e-12) * betas[t]

    for wrong in (beta_variance, alpha_bar_in_mean, variance_swapped):
        with pytest.raises(AssertionError, match="reverse_mean_variance"):
            C.check_reverse(wrong, reverse_step, RNG())

    def std_as_variance(x_t, t, noise_pred, betas):  # mean + variance * z
        mean, var = reverse_mean_variance(x_t, t, noise_pred, betas)
        return mean if t == 1 else mean + var * torch.randn_like(x_t)

    def noise_at_the_end(x_t, t, noise_pred, betas):
        mean, var = reverse_mean_variance(x_t, t, noise_pred, betas)
        return mean + torch.sqrt(torch.clamp(torch.as_tensor(var), min=float(betas[1]))) * torch.randn_like(x_t)

    def same_noise(x_t, t, noise_pred, betas):
        mean, var = reverse_mean_variance(x_t, t, noise_pred, betas)
        return mean if t == 1 else mean + torch.sqrt(var) * torch.randn(x_t.shape, generator=torch.Generator().manual_seed(0))

    for wrong, message in [(std_as_variance, "standard normal"), (noise_at_the_end, "t = 1"), (same_noise, "fresh noise")]:
        with pytest.raises(AssertionError, match=message):
            C.check_reverse(reverse_mean_variance, wrong, RNG())


def test_sampling_mistakes_are_caught():
    def model_sees_t_minus_one(model, shape, betas, labels=None):
        x = torch.randn(shape)
        for t in range(len(betas) - 1, 0, -1):
            x = reverse_step(x, t, model(x, torch.full((shape[0],), t - 1), labels), betas)
        return x

    def starts_from_zeros(model, shape, betas, labels=None):
        return _chain(model, torch.zeros(shape), len(betas) - 1, betas, labels)

    def one_step_short(model, shape, betas, labels=None):
        return _chain(model, torch.randn(shape), len(betas) - 2, betas, labels)

    def ignores_labels(model, shape, betas, labels=None):
        return sample(model, shape, betas, None)

    def float_t(model, shape, betas, labels=None):
        x = torch.randn(shape)
        for t in range(len(betas) - 1, 0, -1):
            x = reverse_step(x, t, model(x, torch.full((shape[0],), float(t)), labels), betas)
        return x

    def skips_the_model(model, shape, betas, labels=None):
        return torch.randn(shape)

    def ascending(model, shape, betas, labels=None):
        x = torch.randn(shape)
        for t in range(1, len(betas)):
            x = reverse_step(x, t, model(x, torch.full((shape[0],), t), labels), betas)
        return x

    def same_start(model, shape, betas, labels=None):
        return _chain(model, torch.randn(shape, generator=torch.Generator().manual_seed(0)), len(betas) - 1, betas, labels)

    cases = [(model_sees_t_minus_one, "t ="), (starts_from_zeros, "pure noise"), (one_step_short, "t ="),
             (ignores_labels, "labels"), (float_t, "integer tensor"), (skips_the_model, "never called"),
             (ascending, "t ="), (same_start, "fresh noise")]
    for wrong, message in cases:
        with pytest.raises(AssertionError, match=message):
            C.check_sample(wrong, RNG())


def test_partial_denoising_mistakes_are_caught():
    def from_pure_noise(model, x0, t_start, betas, labels=None):
        x_t = torch.randn_like(x0)
        return x_t, _chain(model, x_t, t_start, betas, labels)

    def returns_other_x_t(model, x0, t_start, betas, labels=None):  # noised twice: returns one, denoises the other
        noised = [q_sample(x0, torch.full((len(x0),), t_start), alpha_bars_from_betas(betas), torch.randn_like(x0)) for _ in range(2)]
        return noised[0], _chain(model, noised[1], t_start, betas, labels)

    def whole_chain(model, x0, t_start, betas, labels=None):
        x_t = q_sample(x0, torch.full((len(x0),), t_start), alpha_bars_from_betas(betas), torch.randn_like(x0))
        return x_t, _chain(model, x_t, len(betas) - 1, betas, labels)

    def noised_one_step_less(model, x0, t_start, betas, labels=None):
        x_t = q_sample(x0, torch.full((len(x0),), t_start - 1), alpha_bars_from_betas(betas), torch.randn_like(x0))
        return x_t, _chain(model, x_t, t_start, betas, labels)

    for wrong, message in [(from_pure_noise, "q_sample"), (returns_other_x_t, "first model call"),
                           (whole_chain, "t ="), (noised_one_step_less, "q_sample")]:
        with pytest.raises(AssertionError, match=message):
            C.check_partial_denoise(wrong, RNG())


def test_the_course_reference_is_blocked_and_copies_are_recognised(tmp_path):
    import importlib.util
    import inspect
    import textwrap

    from course_utils import grading as G
    from course_utils.models import diffusion as D

    with pytest.raises(AssertionError, match="reference implementation"):
        C.check_schedules(lambda T, beta_1=1e-4, beta_T=0.02: D.linear_betas(T, beta_1, beta_T), cosine_betas,
                          alpha_bars_from_betas, RNG())
    with pytest.raises(AssertionError, match="course_utils.models.diffusion"):
        C.check_reverse(lambda x, t, e, b: D.reverse_mean_variance(x, t, e, b), reverse_step, RNG())
    source = textwrap.dedent(inspect.getsource(D.cosine_betas)).replace("@reference\n", "").replace("cosine_betas", "my_betas")
    path = tmp_path / "copied.py"
    path.write_text("from __future__ import annotations\n\nimport math\n\nimport torch\n\n" + source)
    spec = importlib.util.spec_from_file_location("copied", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError, match="same structure as the course's reference"):
        C.check_schedules(linear_betas, module.my_betas, alpha_bars_from_betas, RNG())
