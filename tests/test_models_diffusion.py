"""course_utils.models.diffusion against oracles: iterated noising, Gaussian conditioning, exact denoisers, torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.models import diffusion as D


# ------------------------------------------------------------------ schedules
def test_linear_schedule_has_the_papers_endpoints_and_scales_with_T():
    betas = D.linear_betas(1000)
    assert betas.shape == (1001,) and betas.dtype == torch.float64 and betas[0] == 0
    assert math.isclose(betas[1], 1e-4) and math.isclose(betas[-1], 0.02)
    assert torch.all(betas[2:] > betas[1:-1]), "increasing"
    short = D.linear_betas(100)
    assert math.isclose(short[1], 1e-3) and math.isclose(short[-1], 0.2), "scaled by 1000 / T (Nichol and Dhariwal)"
    # the scaled schedules destroy the signal about equally: alpha_bar_T is tiny for both
    assert D.alpha_bars_from_betas(betas)[-1] < 1e-4 and D.alpha_bars_from_betas(short)[-1] < 1e-4
    explicit = D.linear_betas(10, beta_1=0.1, beta_T=0.2)
    assert torch.allclose(explicit[1:], torch.from_numpy(np.linspace(0.1, 0.2, 10)))


def test_cosine_schedule_matches_its_definition_away_from_the_clipping():
    T, s = 1000, 0.008
    betas = D.cosine_betas(T, s)
    alpha_bars = D.alpha_bars_from_betas(betas)
    t = np.arange(T + 1)
    f = np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2  # numpy, straight from Nichol and Dhariwal (2021), eq. 17
    clipped = betas.numpy() >= 0.999
    assert clipped[-1] and clipped.sum() <= 2, "only the last steps are clipped"
    unclipped = ~np.concatenate([[False], np.maximum.accumulate(clipped[1:])])
    np.testing.assert_allclose(alpha_bars.numpy()[unclipped], (f / f[0])[unclipped], rtol=1e-10)
    assert betas.max() == 0.999 and betas[0] == 0 and alpha_bars[0] == 1
    assert math.isclose(betas[1], 4.1284e-5, rel_tol=1e-3), "beta_1 of the cosine schedule at T = 1000"
    without_offset = D.cosine_betas(T, s=0.0)
    assert without_offset[1] < betas[1] / 10, "without s the first betas are vanishingly small"


def test_alpha_bars_are_products_and_snr_falls():
    betas = torch.tensor([0.0, 0.1, 0.2, 0.5], dtype=torch.float64)
    assert torch.allclose(D.alpha_bars_from_betas(betas), torch.tensor([1.0, 0.9, 0.72, 0.36], dtype=torch.float64))
    for kind in ("linear", "cosine"):
        schedule = D.NoiseSchedule.make(kind, 200)
        snr = schedule.snr[1:]
        assert torch.all(snr[1:] < snr[:-1]), f"{kind}: the signal-to-noise ratio falls with t"
        assert torch.allclose(schedule.alpha_bars, torch.cumprod(schedule.alphas, 0))


def test_schedule_rejects_bad_betas():
    with pytest.raises(ValueError, match="betas\\[0\\] = 0"):
        D.NoiseSchedule(torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        D.NoiseSchedule(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="kind"):
        D.NoiseSchedule.make("quadratic", 10)
    with pytest.raises(ValueError, match="positive integer"):
        D.linear_betas(0)


# ------------------------------------------------------------------ the forward process
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_closed_form_matches_iterated_noising(kind):
    """Iterating the one-step process t times gives the statistics of q(x_t | x_0) in closed form."""
    schedule = D.NoiseSchedule.make(kind, 300)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.tensor([-1.0, -0.3, 0.4, 1.0], dtype=torch.float64)
    n = 40_000
    x = x0.expand(n, 4).clone()
    checkpoints = {1: None, 10: None, 60: None, 200: None, 300: None}
    for t in range(1, 301):
        x = D.q_step(x, t, schedule.betas, torch.randn(x.shape, generator=generator, dtype=torch.float64))
        if t in checkpoints:
            checkpoints[t] = x.clone()
    for t, iterated in checkpoints.items():
        closed = D.q_sample(x0.expand(n, 4), torch.full((n,), t), schedule.alpha_bars,
                            torch.randn((n, 4), generator=generator, dtype=torch.float64))
        alpha_bar = float(schedule.alpha_bars[t])
        expected_mean, expected_var = math.sqrt(alpha_bar) * x0, 1 - alpha_bar
        se = math.sqrt(expected_var / n)
        for name, samples in (("iterated", iterated), ("closed form", closed)):
            assert torch.all((samples.mean(0) - expected_mean).abs() < 5 * se), f"{name} mean at t={t}"
            assert torch.allclose(samples.var(0), torch.full((4,), expected_var, dtype=torch.float64), rtol=0.04), f"{name} variance at t={t}"


def test_q_sample_takes_one_t_per_image():
    schedule = D.NoiseSchedule.make("linear", 50)
    x0, noise = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    x_t = D.q_sample(x0, torch.tensor([0, 10, 50]), schedule.alpha_bars, noise)
    assert x_t.shape == x0.shape and x_t.dtype == torch.float32
    expected = schedule.alpha_bars[[0, 10, 50]].sqrt().float()
    assert torch.allclose(x_t[:, 0, 0, 0], expected)
    assert torch.equal(D.q_sample(x0, 0, schedule.alpha_bars, torch.randn(3, 1, 2, 2)), x0), "t = 0 is the data"


def _gaussian_conditional(x0: float, x_t: float, alpha_bar_prev: float, beta: float) -> tuple[float, float]:
    """q(x_{t-1} | x_t, x_0) by conditioning the joint Gaussian of (x_{t-1}, x_t) on x_t (Schur complement)."""
    mean_prev, var_prev = math.sqrt(alpha_bar_prev) * x0, 1 - alpha_bar_prev
    a = math.sqrt(1 - beta)  # x_t = a x_{t-1} + sqrt(beta) eps
    mean_t, var_t, cov = a * mean_prev, a * a * var_prev + beta, a * var_prev
    return mean_prev + cov / var_t * (x_t - mean_t), var_prev - cov * cov / var_t


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_posterior_matches_gaussian_conditioning(kind):
    schedule = D.NoiseSchedule.make(kind, 1000)
    rng = np.random.default_rng(1)
    for t in [1, 2, 5, 50, 500, 999, 1000]:
        x0, x_t = rng.normal(size=2)
        mean, variance = D.q_posterior(torch.tensor([x0], dtype=torch.float64), torch.tensor([x_t], dtype=torch.float64), t, schedule)
        expected_mean, expected_var = _gaussian_conditional(x0, x_t, float(schedule.alpha_bars[t - 1]), float(schedule.betas[t]))
        assert math.isclose(float(mean), expected_mean, rel_tol=1e-9, abs_tol=1e-9), t
        assert math.isclose(variance, expected_var, rel_tol=1e-9, abs_tol=1e-12), t
    assert D.q_posterior(torch.zeros(1), torch.ones(1), 1, schedule)[1] == 0, "at t = 1 x_0 is known: no variance"


def test_reverse_step_with_the_true_noise_is_the_posterior():
    """Given the noise that made x_t, the predicted x_0 is exact, and p(x_{t-1} | x_t) is q(x_{t-1} | x_t, x_0)."""
    schedule = D.NoiseSchedule.make("linear", 1000)
    generator = torch.Generator().manual_seed(2)
    x0 = torch.rand(4, 1, 5, 5, generator=generator, dtype=torch.float64) * 2 - 1
    for t in [1, 3, 100, 1000]:
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        x_t = D.q_sample(x0, t, schedule.alpha_bars, noise)
        mean, variance = D.reverse_mean_variance(x_t, t, noise, schedule)
        q_mean, q_variance = D.q_posterior(x0, x_t, t, schedule)
        assert torch.allclose(mean, q_mean, atol=1e-9) and math.isclose(variance, q_variance, rel_tol=1e-12)
        beta, alpha_bar = float(schedule.betas[t]), float(schedule.alpha_bars[t])
        eps_form = (x_t - beta / math.sqrt(1 - alpha_bar) * noise) / math.sqrt(1 - beta)  # Ho et al., eq. 11
        assert torch.allclose(mean, eps_form, atol=1e-9)
        assert torch.allclose(D.predict_x0(x_t, t, noise, schedule), x0, atol=1e-9)
    assert torch.equal(D.reverse_step(x_t, 1, noise, schedule), D.reverse_mean_variance(x_t, 1, noise, schedule)[0])
    # a tensor of betas works as well as a NoiseSchedule
    assert torch.equal(D.reverse_mean_variance(x_t, 7, noise, schedule.betas)[0], D.reverse_mean_variance(x_t, 7, noise, schedule)[0])


def test_reverse_step_draws_with_the_posterior_variance():
    schedule = D.NoiseSchedule.make("cosine", 100)
    x_t = torch.zeros(20_000, 3, dtype=torch.float64)
    noise_pred = torch.full_like(x_t, 0.3)
    mean, variance = D.reverse_mean_variance(x_t, 40, noise_pred, schedule)
    steps = D.reverse_step(x_t, 40, noise_pred, schedule, generator=torch.Generator().manual_seed(3))
    assert torch.allclose((steps - mean).mean(0), torch.zeros(3, dtype=torch.float64), atol=5 * math.sqrt(variance / 20_000))
    assert torch.allclose((steps - mean).var(0), torch.full((3,), variance, dtype=torch.float64), rtol=0.05)
    with pytest.raises(ValueError, match="t must be in 1..100"):
        D.reverse_mean_variance(x_t, 0, noise_pred, schedule)


# ------------------------------------------------------------------ loss and sampling with exact denoisers
class PointDenoiser(torch.nn.Module):
    """The exact noise predictor when every data point is ``x0``: eps = (x_t - sqrt(alpha_bar) x0) / sqrt(1 - alpha_bar)."""

    def __init__(self, x0: torch.Tensor, schedule: D.NoiseSchedule) -> None:
        super().__init__()
        self.x0, self.schedule, self.calls = x0, schedule, []

    def forward(self, x_t, t, labels=None):
        self.calls.append((x_t.clone(), t.clone(), None if labels is None else labels.clone()))
        alpha_bar = self.schedule.alpha_bars[t].to(x_t.dtype).reshape(-1, 1, 1, 1)
        return (x_t - alpha_bar.sqrt() * self.x0) / (1 - alpha_bar).sqrt()


class GaussianDenoiser(torch.nn.Module):
    """The exact noise predictor E[eps | x_t] when the data are N(0, sigma^2 I)."""

    def __init__(self, sigma: float, schedule: D.NoiseSchedule) -> None:
        super().__init__()
        self.sigma, self.schedule = sigma, schedule

    def forward(self, x_t, t, labels=None):
        alpha_bar = self.schedule.alpha_bars[t].to(x_t.dtype).reshape(-1, 1, 1, 1)
        return (1 - alpha_bar).sqrt() * x_t / (alpha_bar * self.sigma**2 + 1 - alpha_bar)


def test_loss_is_zero_for_the_exact_denoiser_and_one_for_zero_noise():
    schedule = D.NoiseSchedule.make("linear", 1000)
    x0 = torch.full((512, 1, 4, 4), 0.5, dtype=torch.float64)
    exact = PointDenoiser(0.5, schedule)
    assert D.noise_prediction_loss(exact, x0, schedule.alpha_bars) < 1e-12
    t = torch.cat([call[1] for call in exact.calls])
    assert t.min() >= 1 and t.max() <= 1000 and len(t.unique()) > 300, "t is drawn from 1..T"
    zero = lambda x, t, labels=None: torch.zeros_like(x)  # noqa: E731
    loss = D.noise_prediction_loss(zero, x0, schedule, generator=torch.Generator().manual_seed(0))
    assert abs(float(loss) - 1.0) < 0.03, "E[eps^2] = 1"


def test_sampling_with_the_exact_denoiser_returns_the_data_point():
    schedule = D.NoiseSchedule.make("linear", 200)
    target = torch.tensor(0.25, dtype=torch.float64)
    model = PointDenoiser(target, schedule)
    trajectory: list[torch.Tensor] = []
    out = D.sample(model, (6, 1, 3, 3), schedule, clip_x0=False, generator=torch.Generator().manual_seed(0), trajectory=trajectory)
    assert out.shape == (6, 1, 3, 3)
    assert torch.allclose(out.double(), torch.full((6, 1, 3, 3), 0.25, dtype=torch.float64), atol=1e-4)
    assert [int(call[1][0]) for call in model.calls] == list(range(200, 0, -1)), "t = T, ..., 1, each once"
    start = trajectory[0]
    assert abs(float(start.mean())) < 0.5 and 0.5 < float(start.std()) < 1.6, "the chain starts from N(0, I)"
    assert len(trajectory) == 201


@pytest.mark.parametrize("steps,tolerance", [(None, 0.015), (50, 0.04)])
def test_sampling_with_the_exact_gaussian_denoiser_reproduces_the_data_variance(steps, tolerance):
    """All 500 steps reproduce the data's spread; 50 skipping steps come close (coarser steps lose a little variance)."""
    schedule = D.NoiseSchedule.make("cosine", 500)
    sigma = 0.5
    out = D.sample(GaussianDenoiser(sigma, schedule), (4000, 1, 2, 2), schedule, steps=steps, clip_x0=False,
                   generator=torch.Generator().manual_seed(1))
    assert abs(float(out.mean())) < 0.02
    assert abs(float(out.std()) - sigma) < tolerance, f"sample std {float(out.std()):.3f}, data std {sigma}"


def test_sampling_timesteps_and_partial_denoising():
    assert D.sampling_timesteps(5) == [5, 4, 3, 2, 1]
    visited = D.sampling_timesteps(1000, 10)
    assert visited[0] == 1000 and visited[-1] == 1 and len(visited) == 10 and visited == sorted(visited, reverse=True)
    schedule = D.NoiseSchedule.make("linear", 1000)
    model = PointDenoiser(torch.tensor(-0.5), schedule)
    x_t = D.q_sample(torch.full((2, 1, 2, 2), -0.5), 50, schedule, torch.randn(2, 1, 2, 2))
    out = D.denoise_from(model, x_t, 50, schedule, clip_x0=False)
    assert [int(c[1][0]) for c in model.calls] == list(range(50, 0, -1))
    assert torch.allclose(out, torch.full_like(out, -0.5), atol=1e-4)
    with pytest.raises(ValueError, match="t_start"):
        D.denoise_from(model, x_t, 0, schedule)


def test_classifier_free_guidance_combines_the_two_predictions():
    def model(x, t, labels):
        return torch.where(labels.reshape(-1, 1, 1, 1) == 10, torch.zeros_like(x), torch.ones_like(x) * labels.reshape(-1, 1, 1, 1))

    x, t, labels = torch.zeros(3, 1, 2, 2), torch.tensor([5, 5, 5]), torch.tensor([1, 2, 3])
    assert torch.equal(D.guided_noise(model, x, t, labels, 1.0, 10), model(x, t, labels))
    assert torch.equal(D.guided_noise(model, x, t, labels, 0.0, 10), torch.zeros_like(x))
    assert torch.allclose(D.guided_noise(model, x, t, labels, 3.0, 10)[:, 0, 0, 0], torch.tensor([3.0, 6.0, 9.0]))
    dropped = D.drop_labels(torch.zeros(10_000, dtype=torch.long), 0.1, 10, torch.Generator().manual_seed(0))
    assert 0.08 < float((dropped == 10).float().mean()) < 0.12 and set(dropped.unique().tolist()) == {0, 10}


# ------------------------------------------------------------------ the network
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_unet_shapes_and_conditioning(channels, size):
    torch.manual_seed(0)
    net = D.UNet(image_channels=channels, width=8)
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)  # the last layer starts at zero
    x = torch.randn(2, channels, size, size)
    t = torch.tensor([3, 700])
    out = net(x, t, torch.tensor([1, 2]))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, torch.tensor([4, 5]))), "the class changes the prediction"
    assert not torch.allclose(out, net(x, torch.tensor([4, 701]), torch.tensor([1, 2]))), "the time changes the prediction"
    assert net(x, 5, None).shape == x.shape, "an int t and no labels (the unconditional model) work"
    with pytest.raises(ValueError, match="expects images"):
        net(torch.randn(2, channels + 1, size, size), t)


def test_timestep_embedding_is_sinusoidal():
    emb = D.timestep_embedding(torch.tensor([0, 1, 10]), 8)
    assert emb.shape == (3, 8)
    assert torch.allclose(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert torch.allclose(emb[:, 0], torch.sin(torch.tensor([0.0, 1.0, 10.0])))
    assert torch.allclose(emb.pow(2)[:, :4] + emb.pow(2)[:, 4:], torch.ones(3, 4))


def test_ddpm_trains_samples_and_denoises():
    torch.manual_seed(0)
    model = D.DDPM("linear", 100, width=8)
    images = D.from_unit(torch.rand(64, 1, 28, 28).round())
    labels = torch.randint(0, 10, (64,))
    history = D.train_ddpm(model, images, labels, steps=30, batch_size=16, lr=2e-3, warmup=5, log_every=10, progress=False)
    assert history["step"] == [10, 20, 30] and history["loss"][-1] < history["loss"][0]
    samples = model.sample(torch.tensor([0, 1, 2]), steps=5, guidance_scale=2.0, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 1, 28, 28) and samples.abs().max() <= 1 + 1e-6
    out = model.denoise_from(images[:2], 10, torch.tensor([0, 1]))
    assert out.shape == (2, 1, 28, 28)
    assert 0 <= float(D.to_unit(samples).min()) and float(D.to_unit(samples).max()) <= 1


def test_training_stops_when_the_callback_says_so():
    model = D.DDPM("cosine", 50, width=8)
    images = torch.zeros(32, 1, 28, 28)
    history = D.train_ddpm(model, images, None, steps=100, batch_size=8, log_every=1, progress=False,
                           callback=lambda step: step >= 4)
    assert history["step"] == [1, 2, 3, 4]


@pytest.mark.gpu
def test_ddpm_trains_on_the_gpu_with_bf16_autocast():
    device = torch.device("cuda")
    model = D.DDPM("linear", 100, width=16).to(device).to(memory_format=torch.channels_last)
    images = torch.rand(256, 1, 28, 28, device=device) * 2 - 1
    labels = torch.randint(0, 10, (256,), device=device)
    history = D.train_ddpm(model, images, labels, steps=40, batch_size=64, log_every=10, progress=False,
                           autocast_dtype=torch.bfloat16)
    assert all(math.isfinite(v) for v in history["loss"])
    samples = model.sample(torch.arange(10, device=device), steps=10, guidance_scale=2.0)
    assert samples.device.type == "cuda" and samples.shape == (10, 1, 28, 28)


def test_guided_predictor_runs_a_shorter_chain_with_the_reference_sampler():
    """Sampling the short chain with GuidedPredictor's betas is the skipping sampler of the full schedule."""
    torch.manual_seed(0)
    model = D.DDPM("linear", 100, width=8)
    torch.nn.init.normal_(model.net.head[-1].weight, std=0.05)
    labels = torch.tensor([3, 7])
    short = D.GuidedPredictor(model, steps=10, guidance_scale=2.0)
    assert short.betas.shape == (11,) and short.betas[0] == 0
    assert torch.allclose(D.alpha_bars_from_betas(short.betas)[1:], model.schedule.alpha_bars[short.timesteps[1:]])
    a = D.sample(short, (2, 1, 28, 28), short.betas, labels, generator=torch.Generator().manual_seed(5), clip_x0=False)
    b = model.sample(labels, steps=10, guidance_scale=2.0, generator=torch.Generator().manual_seed(5), clip_x0=False)
    assert torch.allclose(a, b, atol=1e-5)
    full = D.GuidedPredictor(model)
    assert torch.equal(full.timesteps, torch.arange(101)) and torch.allclose(full.betas, model.schedule.betas)
