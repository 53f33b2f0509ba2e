"""Denoising diffusion probabilistic models (Ho, Jain and Abbeel, 2020): the pieces of chapter 11.

A *forward process* adds a little Gaussian noise at each of T steps until nothing of the image is left; a
network learns to predict the noise in a noisy image, and the *reverse process* runs the chain backwards
from pure noise, one small denoising step at a time.

**Timesteps follow the paper.** x_0 is a data image and x_1, ..., x_T are ever noisier versions. Every
schedule tensor has T + 1 entries, indexed by t, and entry 0 means "no noise yet": ``betas[0] = 0``,
``alphas[0] = 1``, ``alpha_bars[0] = 1``. Training draws t from {1, ..., T}; sampling starts at x_T and its
last step (t = 1) returns x_0 without adding noise.

* Schedules: :func:`linear_betas`, :func:`cosine_betas` (with its offset ``s`` and the clipping of beta),
  :func:`alpha_bars_from_betas`, :func:`snr`, and :class:`NoiseSchedule`, which holds them together.
* The forward process: :func:`q_step` (one step), :func:`q_sample` (the closed form q(x_t | x_0)) and
  :func:`q_posterior` (the Gaussian q(x_{t-1} | x_t, x_0)).
* Training: :func:`noise_prediction_loss`, :func:`drop_labels` (for classifier-free guidance).
* The reverse process: :func:`predict_x0`, :func:`reverse_mean_variance`, :func:`reverse_step`,
  :func:`guided_noise` (classifier-free guidance), :func:`sampling_timesteps` (fewer sampling steps),
  :func:`sample` and :func:`denoise_from` (partial denoising from a chosen step).
* The network: :class:`UNet` (sinusoidal time embedding, class embedding with a "no label" entry) and
  :class:`DDPM` (a U-Net together with its schedule, what the shipped checkpoints hold).
* :func:`train_ddpm`, :func:`train_ddpm_checkpoint` (the recipe of the shipped checkpoints, see
  :mod:`course_utils.checkpoints`) and :func:`load_cifar10` (only where the real data set can be reached).

Images are tensors (N, C, H, W) scaled to [-1, 1]; :func:`to_unit` maps them back to [0, 1].
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.grading import reference

Tensor = torch.Tensor
NoisePredictor = Callable[[Tensor, Tensor, Tensor | None], Tensor]


# ---------------------------------------------------------------- noise schedules
@reference
def linear_betas(T: int, beta_1: float | None = None, beta_T: float | None = None) -> Tensor:
    """beta_1, ..., beta_T spaced evenly (Ho et al., 2020), with ``betas[0] = 0``: shape (T + 1,), float64.

    The defaults are the paper's 1e-4 and 0.02 for T = 1000, scaled by 1000 / T for other T (Nichol and
    Dhariwal, 2021), so that every T destroys the signal about as completely.
    """
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    beta_1 = 0.1 / T if beta_1 is None else beta_1
    beta_T = 20.0 / T if beta_T is None else beta_T
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(f"need 0 < beta_1 <= beta_T < 1, got beta_1={beta_1}, beta_T={beta_T}")
    betas = torch.zeros(T + 1, dtype=torch.float64)
    betas[1:] = torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
    return betas


@reference
def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """The cosine schedule (Nichol and Dhariwal, 2021): shape (T + 1,), float64, ``betas[0] = 0``.

    alpha_bar(t) = f(t) / f(0) with f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), and
    beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1), clipped to at most ``max_beta``. The offset ``s`` keeps
    beta_1 from being vanishingly small; the clipping keeps the last steps (where alpha_bar reaches 0 and
    beta would be 1) from being singular.
    """
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = torch.zeros(T + 1, dtype=torch.float64)
    betas[1:] = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return betas


@reference
def alpha_bars_from_betas(betas: Tensor) -> Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s), the share of the signal's variance left at step t (a product)."""
    return torch.cumprod(1 - betas, dim=0)


def snr(alpha_bars: Tensor) -> Tensor:
    """Signal-to-noise ratio of x_t: alpha_bar_t / (1 - alpha_bar_t) (infinite at t = 0)."""
    return alpha_bars / (1 - alpha_bars)


class NoiseSchedule:
    """betas, alphas and alpha_bars of one schedule, each of shape (T + 1,) and float64, indexed by t."""

    def __init__(self, betas: Tensor, kind: str = "custom") -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or len(betas) < 2 or float(betas[0]) != 0.0:
            raise ValueError("betas must be a 1-D tensor of T + 1 entries with betas[0] = 0 (index 0 is x_0, no noise)")
        if not bool(((betas[1:] > 0) & (betas[1:] < 1)).all()):
            raise ValueError("every beta_t for t >= 1 must lie in (0, 1)")
        self.kind = kind
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bars = alpha_bars_from_betas(betas)

    @classmethod
    def make(cls, kind: str = "linear", T: int = 1000, **kwargs: Any) -> "NoiseSchedule":
        """``NoiseSchedule.make("linear", 1000)`` or ``("cosine", 1000, s=0.008)``."""
        makers = {"linear": linear_betas, "cosine": cosine_betas}
        if kind not in makers:
            raise ValueError(f"schedule kind must be one of {sorted(makers)}, got {kind!r}")
        return cls(makers[kind](T, **kwargs), kind)

    @property
    def T(self) -> int:
        return len(self.betas) - 1

    @property
    def snr(self) -> Tensor:
        return snr(self.alpha_bars)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.kind!r}, T={self.T}, alpha_bar_T={float(self.alpha_bars[-1]):.2e})"


def _alpha_bars(schedule: NoiseSchedule | Tensor) -> Tensor:
    return schedule.alpha_bars if isinstance(schedule, NoiseSchedule) else schedule


def _as_schedule(schedule: NoiseSchedule | Tensor) -> NoiseSchedule:
    """A NoiseSchedule, or one made from a tensor of betas (T + 1 entries, betas[0] = 0)."""
    return schedule if isinstance(schedule, NoiseSchedule) else NoiseSchedule(schedule)


def _rng_device(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    """Where random numbers are drawn: on the generator's device when one is given (then moved), else on ``device``."""
    return generator.device if generator is not None else torch.device(device)


def _randn(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``like``, drawn with ``generator`` (on its device), on ``like``'s device."""
    return torch.randn(like.shape, generator=generator, device=_rng_device(generator, like.device), dtype=like.dtype).to(like.device)


def _per_sample(values: Tensor, t: Tensor | int, like: Tensor) -> Tensor:
    """values[t] shaped to broadcast over ``like`` (N, C, H, W): (N, 1, 1, 1), in ``like``'s dtype and device."""
    picked = values.to(like.device)[torch.as_tensor(t, device=like.device).long()]
    return picked.to(like.dtype).reshape(-1, *[1] * (like.dim() - 1))


# ---------------------------------------------------------------- the forward process
@reference
def q_step(x_prev: Tensor, t: int, betas: Tensor, noise: Tensor) -> Tensor:
    """One forward step x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps, from x_{t-1}."""
    beta = float(betas[t])
    return math.sqrt(1 - beta) * x_prev + math.sqrt(beta) * noise


@reference
def q_sample(x0: Tensor, t: Tensor | int, alpha_bars: NoiseSchedule | Tensor, noise: Tensor) -> Tensor:
    """The closed form x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, one t per image (N,) or one for all."""
    alpha_bar = _per_sample(_alpha_bars(alpha_bars), t, x0)  # (N, 1, 1, 1)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def q_posterior(x0: Tensor, x_t: Tensor, t: int, schedule: NoiseSchedule) -> tuple[Tensor, float]:
    """Mean and variance of the Gaussian q(x_{t-1} | x_t, x_0), for one t >= 1.

    mean = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,
    variance = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t (zero at t = 1: x_0 is then known).
    """
    return _posterior(x0, x_t, float(schedule.alpha_bars[t]), float(schedule.alpha_bars[t - 1]))


def _posterior(x0: Tensor, x_t: Tensor, alpha_bar_t: float, alpha_bar_prev: float) -> tuple[Tensor, float]:
    """q(x_s | x_t, x_0) for any s < t, written with alpha_bar_t and alpha_bar_s (s = t - 1 in the plain chain)."""
    beta = 1 - alpha_bar_t / alpha_bar_prev  # the step from s to t as one Gaussian step
    coef_x0 = math.sqrt(alpha_bar_prev) * beta / (1 - alpha_bar_t)
    coef_xt = math.sqrt(1 - beta) * (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    variance = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta
    return coef_x0 * x0 + coef_xt * x_t, variance


# ---------------------------------------------------------------- training
@reference
def noise_prediction_loss(model: NoisePredictor, x0: Tensor, alpha_bars: NoiseSchedule | Tensor,
                          labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """The DDPM objective: ||eps - eps_theta(x_t, t)||^2 averaged over pixels and images, t ~ U{1, ..., T}.

    ``model(x_t, t, labels)`` predicts the noise eps that made x_t from x_0.
    """
    alpha_bars = _alpha_bars(alpha_bars)
    T = len(alpha_bars) - 1
    device = x0.device
    t = torch.randint(1, T + 1, (len(x0),), generator=generator, device=_rng_device(generator, device)).to(device)  # never 0
    noise = _randn(x0, generator)
    x_t = q_sample(x0, t, alpha_bars, noise)
    return F.mse_loss(model(x_t, t, labels), noise)


def drop_labels(labels: Tensor, p: float, null_label: int, generator: torch.Generator | None = None) -> Tensor:
    """Replace each label by ``null_label`` with probability ``p``: one network learns both p(x | y) and p(x)."""
    if p <= 0:
        return labels
    drop = torch.rand(labels.shape, generator=generator, device=_rng_device(generator, labels.device)).to(labels.device) < p
    return torch.where(drop, torch.full_like(labels, null_label), labels)


# ---------------------------------------------------------------- the reverse process
def predict_x0(x_t: Tensor, t: Tensor | int, noise_pred: Tensor, alpha_bars: NoiseSchedule | Tensor) -> Tensor:
    """The denoised guess x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) implied by a noise prediction."""
    alpha_bar = _per_sample(_alpha_bars(alpha_bars), t, x_t)
    return (x_t - (1 - alpha_bar).sqrt() * noise_pred) / alpha_bar.sqrt()


def _reverse(x_t: Tensor, noise_pred: Tensor, alpha_bar_t: float, alpha_bar_prev: float,
             clip_x0: bool = False) -> tuple[Tensor, float]:
    """Mean and variance of p(x_s | x_t): q(x_s | x_t, x_0) with x_0 replaced by the network's guess."""
    x0_guess = (x_t - math.sqrt(1 - alpha_bar_t) * noise_pred) / math.sqrt(alpha_bar_t)
    if clip_x0:
        x0_guess = x0_guess.clamp(-1, 1)  # data live in [-1, 1]
    return _posterior(x0_guess, x_t, alpha_bar_t, alpha_bar_prev)


@reference
def reverse_mean_variance(x_t: Tensor, t: int, noise_pred: Tensor, schedule: NoiseSchedule | Tensor,
                          clip_x0: bool = False) -> tuple[Tensor, float]:
    """Mean and variance of one ancestral step p(x_{t-1} | x_t) for t >= 1.

    Without clipping, the mean is (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t), which equals the
    mean of q(x_{t-1} | x_t, x_0) at the predicted x_0; the variance is that of q, beta_t (1 - alpha_bar_{t-1}) /
    (1 - alpha_bar_t), which is 0 at t = 1. ``clip_x0`` clamps the predicted x_0 to [-1, 1] first.
    ``schedule`` is a :class:`NoiseSchedule` or its betas.
    """
    schedule = _as_schedule(schedule)
    if not 1 <= t <= schedule.T:
        raise ValueError(f"t must be in 1..{schedule.T}, got {t}")
    return _reverse(x_t, noise_pred, float(schedule.alpha_bars[t]), float(schedule.alpha_bars[t - 1]), clip_x0)


@reference
def reverse_step(x_t: Tensor, t: int, noise_pred: Tensor, schedule: NoiseSchedule | Tensor, clip_x0: bool = False,
                 generator: torch.Generator | None = None) -> Tensor:
    """x_{t-1} = mean + sqrt(variance) z with z ~ N(0, I); at t = 1 the mean itself (no noise is added)."""
    mean, variance = reverse_mean_variance(x_t, t, noise_pred, schedule, clip_x0)
    if t == 1:
        return mean
    return mean + math.sqrt(variance) * _randn(x_t, generator)


def guided_noise(model: NoisePredictor, x: Tensor, t: Tensor, labels: Tensor | None, guidance_scale: float,
                 null_label: int | None) -> Tensor:
    """Classifier-free guidance (Ho and Salimans, 2022): eps_uncond + w (eps_cond - eps_uncond).

    w = 1 is the plain conditional model, w = 0 the unconditional one, w > 1 pushes samples further towards
    their class. Both predictions come from one batch of twice the size.
    """
    if labels is None or guidance_scale == 1.0 or null_label is None:
        return model(x, t, labels)
    null = torch.full_like(labels, null_label)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
    conditional, unconditional = both.chunk(2)
    return unconditional + guidance_scale * (conditional - unconditional)


def sampling_timesteps(T: int, steps: int | None = None) -> list[int]:
    """The timesteps a sampler visits, from T down: all of them, or ``steps`` of them evenly spaced.

    Skipping steps (Nichol and Dhariwal, 2021) treats the jump from t to the next visited s < t as one
    Gaussian step with 1 - alpha_bar_t / alpha_bar_s as its beta, so the same trained network serves.
    """
    if steps is None or steps >= T:
        return list(range(T, 0, -1))
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    visited = torch.linspace(1, T, steps, dtype=torch.float64).round().long().unique()
    return visited.flip(0).tolist()


def denoise_from(model: NoisePredictor, x_t: Tensor, t_start: int, schedule: NoiseSchedule | Tensor, labels: Tensor | None = None,
                 steps: int | None = None, guidance_scale: float = 1.0, null_label: int | None = None,
                 clip_x0: bool = True, generator: torch.Generator | None = None,
                 trajectory: list[Tensor] | None = None, progress: bool = False) -> Tensor:
    """Run the reverse process from x_t at step ``t_start`` down to x_0 (all steps, or ``steps`` of them).

    ``trajectory``, if given, receives x_t at every visited step and finally x_0 (on the CPU).
    """
    schedule = _as_schedule(schedule)
    if not 1 <= t_start <= schedule.T:
        raise ValueError(f"t_start must be in 1..{schedule.T}, got {t_start}")
    visited = sampling_timesteps(t_start, steps)
    x = x_t
    if trajectory is not None:
        trajectory.append(x.detach().cpu())
    for i in tqdm(range(len(visited)), desc="denoising", disable=not progress, leave=False):
        with torch.no_grad():
            x = _visit(model, x, i, visited, schedule, labels, guidance_scale, null_label, clip_x0, generator)
        if trajectory is not None:
            trajectory.append(x.detach().cpu())
    return x


def _visit(model: NoisePredictor, x: Tensor, i: int, visited: list[int], schedule: NoiseSchedule, labels: Tensor | None,
           guidance_scale: float, null_label: int | None, clip_x0: bool, generator: torch.Generator | None) -> Tensor:
    """One step of the sampler: from x_t, t = visited[i], to x_s, s the next visited step (0 after the last)."""
    t = visited[i]
    s = visited[i + 1] if i + 1 < len(visited) else 0
    t_batch = torch.full((len(x),), t, device=x.device, dtype=torch.long)
    noise_pred = guided_noise(model, x, t_batch, labels, guidance_scale, null_label)
    mean, variance = _reverse(x, noise_pred, float(schedule.alpha_bars[t]), float(schedule.alpha_bars[s]), clip_x0)
    if s == 0:
        return mean  # the last step adds no noise
    return mean + math.sqrt(variance) * _randn(x, generator)


@reference
def sample(model: NoisePredictor, shape: Sequence[int], schedule: NoiseSchedule | Tensor, labels: Tensor | None = None,
           steps: int | None = None, guidance_scale: float = 1.0, null_label: int | None = None, clip_x0: bool = True,
           generator: torch.Generator | None = None, device: torch.device | str | None = None,
           trajectory: list[Tensor] | None = None, progress: bool = False) -> Tensor:
    """Ancestral sampling: x_T ~ N(0, I), then the reverse process down to x_0, of shape ``shape`` (N, C, H, W)."""
    device = torch.device(device) if device is not None else (labels.device if labels is not None else torch.device("cpu"))
    schedule = _as_schedule(schedule)
    x_T = torch.randn(tuple(shape), generator=generator, device=_rng_device(generator, device)).to(device)
    return denoise_from(model, x_T, schedule.T, schedule, labels, steps, guidance_scale, null_label, clip_x0, generator,
                        trajectory, progress)


# ---------------------------------------------------------------- the network
def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding of (N,) timesteps into (N, dim), as for positions in a Transformer (Vaswani et al., 2017)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * frequencies[None]  # (N, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with group norm and SiLU; the embedding of (t, y) is added in between; a skip connection."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]  # one shift per channel, from the time and class
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class UNet(nn.Module):
    """A small U-Net eps_theta(x_t, t, y) for 28x28 or 32x32 images (Ronneberger et al., 2015; Ho et al., 2020).

    Down path: a residual block per resolution, then a stride-2 convolution (28 -> 14 -> 7 with the default
    ``channel_mults=(1, 2, 2)``); up path: the mirror image, each block also fed the down path's features at
    that resolution (the skip connections that carry fine detail). The time t enters through a sinusoidal
    embedding and an MLP; the class y through an embedding table with one extra row, ``null_label`` =
    ``n_classes``, that stands for "no label" (classifier-free guidance). Both are added to every block.
    """

    def __init__(self, image_channels: int = 1, width: int = 32, channel_mults: Sequence[int] = (1, 2, 2),
                 n_classes: int | None = 10, dropout: float = 0.0) -> None:
        super().__init__()
        self.image_channels, self.width, self.n_classes = image_channels, width, n_classes
        self.null_label = n_classes
        emb_dim = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(n_classes + 1, emb_dim) if n_classes else None
        channels = [width * m for m in channel_mults]
        self.stem = nn.Conv2d(image_channels, width, 3, padding=1)
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        c = width
        for i, c_out in enumerate(channels):
            self.down_blocks.append(ResBlock(c, c_out, emb_dim, dropout=dropout))
            c = c_out
            last = i == len(channels) - 1
            self.downsamples.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.middle = nn.ModuleList([ResBlock(c, c, emb_dim, dropout=dropout), ResBlock(c, c, emb_dim, dropout=dropout)])
        self.up_blocks, self.upsamples = nn.ModuleList(), nn.ModuleList()
        for i, c_skip in reversed(list(enumerate(channels))):
            c_out = channels[i - 1] if i > 0 else width
            self.up_blocks.append(ResBlock(c + c_skip, c_out, emb_dim, dropout=dropout))
            c = c_out
            self.upsamples.append(nn.Identity() if i == 0 else nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                                              nn.Conv2d(c, c, 3, padding=1)))
        self.head = nn.Sequential(nn.GroupNorm(min(8, width), width), nn.SiLU(), nn.Conv2d(width, image_channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)  # start by predicting zero noise
        nn.init.zeros_(self.head[-1].bias)

    def embed(self, t: Tensor, labels: Tensor | None) -> Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.width))  # (N, 4 width)
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full_like(t, self.null_label)
            emb = emb + self.class_emb(labels)
        return emb

    def forward(self, x: Tensor, t: Tensor | int, labels: Tensor | None = None) -> Tensor:
        """The predicted noise, shaped like x; ``labels=None`` asks the unconditional model."""
        if x.dim() != 4 or x.shape[1] != self.image_channels:
            raise ValueError(f"UNet expects images (N, {self.image_channels}, H, W), got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device).long().expand(len(x)) if not torch.is_tensor(t) or t.dim() == 0 else t
        if labels is not None and self.class_emb is None:
            raise ValueError("this UNet has no class embedding (n_classes=None); call it without labels")
        emb = self.embed(t, labels)
        h = self.stem(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downsamples):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        for block in self.middle:
            h = block(h, emb)
        for block, up in zip(self.up_blocks, self.upsamples):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            h = up(h)
        return self.head(h)


class DDPM(nn.Module):
    """A U-Net together with its noise schedule: what a shipped diffusion checkpoint holds and how to use it."""

    def __init__(self, schedule: str = "linear", T: int = 1000, image_channels: int = 1, image_size: int = 28,
                 width: int = 32, channel_mults: Sequence[int] = (1, 2, 2), n_classes: int | None = 10,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.net = UNet(image_channels, width, tuple(channel_mults), n_classes, dropout)
        self.schedule = NoiseSchedule.make(schedule, T)
        self.image_shape = (image_channels, image_size, image_size)
        self.n_classes, self.null_label = n_classes, self.net.null_label

    def forward(self, x: Tensor, t: Tensor | int, labels: Tensor | None = None) -> Tensor:
        return self.net(x, t, labels)

    def loss(self, x0: Tensor, labels: Tensor | None = None, label_dropout: float = 0.0,
             generator: torch.Generator | None = None) -> Tensor:
        """The noise-prediction loss on a batch of images in [-1, 1], dropping labels with probability ``label_dropout``."""
        if labels is not None and label_dropout > 0:
            labels = drop_labels(labels, label_dropout, self.null_label, generator)
        return noise_prediction_loss(self.net, x0, self.schedule, labels, generator)

    @torch.no_grad()
    def sample(self, labels: Tensor | None = None, n: int | None = None, steps: int | None = None,
               guidance_scale: float = 1.0, generator: torch.Generator | None = None, clip_x0: bool = True,
               trajectory: list[Tensor] | None = None, progress: bool = False) -> Tensor:
        """Images in [-1, 1]: one per label (or ``n`` unconditional ones), with ``steps`` sampling steps (default all T)."""
        self.eval()
        device = next(self.parameters()).device
        if labels is not None:
            labels = torch.as_tensor(labels, device=device).long()
            n = len(labels)
        if n is None:
            raise ValueError("give labels or n")
        return sample(self.net, (n, *self.image_shape), self.schedule, labels, steps, guidance_scale, self.null_label,
                      clip_x0, generator, device, trajectory, progress)

    @torch.no_grad()
    def denoise_from(self, x_t: Tensor, t_start: int, labels: Tensor | None = None, steps: int | None = None,
                     guidance_scale: float = 1.0, generator: torch.Generator | None = None, clip_x0: bool = True,
                     trajectory: list[Tensor] | None = None) -> Tensor:
        """Partial denoising: the reverse process from x_t at step ``t_start`` down to x_0."""
        self.eval()
        device = next(self.parameters()).device
        labels = torch.as_tensor(labels, device=device).long() if labels is not None else None
        return denoise_from(self.net, x_t.to(device), t_start, self.schedule, labels, steps, guidance_scale,
                            self.null_label, clip_x0, generator, trajectory)


class GuidedPredictor(nn.Module):
    """A trained DDPM seen as a plain noise predictor ``f(x, t, labels)`` for a sampler written from the formulas.

    It applies classifier-free guidance with ``guidance_scale``, and with ``steps`` it runs a shorter chain:
    ``betas`` then holds ``steps`` + 1 entries, one per visited timestep of the model's schedule (see
    :func:`sampling_timesteps`), and the predictor maps step i of the short chain to the model's timestep.
    """

    def __init__(self, model: DDPM, steps: int | None = None, guidance_scale: float = 1.0) -> None:
        super().__init__()
        self.model, self.guidance_scale = model, guidance_scale
        visited = sorted(sampling_timesteps(model.schedule.T, steps))  # tau_1 < ... < tau_S
        self.timesteps = torch.tensor([0] + visited)  # index i -> the model's timestep tau_i
        alpha_bars = model.schedule.alpha_bars[self.timesteps]
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), 1 - alpha_bars[1:] / alpha_bars[:-1]])

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        device = next(self.model.parameters()).device
        t_model = self.timesteps[torch.as_tensor(t).cpu().long()].to(device)
        labels = labels.to(device) if labels is not None else None
        with torch.no_grad():
            return guided_noise(self.model.net, x.to(device), t_model, labels, self.guidance_scale, self.model.null_label).to(x.device)


def to_unit(images: Tensor) -> Tensor:
    """Images in [-1, 1] (what the model works with) as grey values in [0, 1] (what the measures expect)."""
    return ((images + 1) / 2).clamp(0, 1)


def from_unit(images: Tensor) -> Tensor:
    """Grey values in [0, 1] scaled to [-1, 1]."""
    return images * 2 - 1


# ---------------------------------------------------------------- training and the shipped checkpoints
def train_ddpm(model: DDPM, images: Tensor, labels: Tensor | None, steps: int, batch_size: int = 128, lr: float = 1e-3,
               warmup: int = 100, label_dropout: float = 0.1, seed: int = 0, log_every: int = 25,
               progress: bool = True, desc: str = "DDPM", autocast_dtype: torch.dtype | None = None,
               step_fn: Callable[[DDPM, Tensor, Tensor | None, torch.Generator], Tensor] | None = None,
               callback: Callable[[int], bool | None] | None = None) -> dict[str, list[float]]:
    """Train ``model`` for ``steps`` Adam steps on ``images`` in [-1, 1] (N, C, H, W) with their ``labels``.

    Mini-batches are drawn on the images' device (a new permutation every epoch); the learning rate rises
    linearly for ``warmup`` steps and then follows a cosine to zero. Labels are dropped with probability
    ``label_dropout`` (classifier-free guidance). Returns ``{"step": [...], "loss": [...]}``: the mean loss of
    every ``log_every`` steps. ``autocast_dtype`` (for example ``torch.bfloat16`` on a GPU) runs the forward
    pass in that precision; ``step_fn(model, x, y, generator)`` replaces the loss (with a compiled network, say);
    ``callback(step)`` runs after every step and stops training when it returns True.
    """
    device = images.device
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min(1.0, (k + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps)))
    generator = torch.Generator(device=device).manual_seed(seed)  # batches, t, noise and label dropout, on the data's device
    alpha_bars = model.schedule.alpha_bars.to(device=device, dtype=images.dtype)  # moved once, not every step
    history: dict[str, list[float]] = {"step": [], "loss": []}
    running, count, order, position = torch.zeros((), device=device), 0, None, len(images)
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress)
    for step in bar:
        if position + batch_size > len(images):  # a new epoch: a new order
            order = torch.randperm(len(images), generator=generator, device=device)
            position = 0
        index = order[position : position + batch_size]
        position += batch_size
        x0 = images[index]
        y = labels[index] if labels is not None else None
        if y is not None and label_dropout > 0:
            y = drop_labels(y, label_dropout, model.null_label, generator)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            if step_fn is not None:
                loss = step_fn(model, x0, y, generator)
            else:
                loss = noise_prediction_loss(model.net, x0, alpha_bars, y, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running += loss.detach().float()
        count += 1
        if step % log_every == 0 or step == steps:
            history["step"].append(step)
            history["loss"].append(float(running) / count)
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
            running, count = torch.zeros((), device=device), 0
        if callback is not None and callback(step):
            break
    model.eval()
    return history


@torch.no_grad()
def conditional_samples(model: DDPM, per_class: int, steps: int | None = 100, guidance_scale: float = 2.0, seed: int = 0,
                        batch_size: int = 500, progress: bool = False) -> tuple[Tensor, Tensor]:
    """``per_class`` samples of every class, as grey values in [0, 1] on the CPU, and their labels."""
    device = next(model.parameters()).device
    labels = torch.arange(model.n_classes).repeat_interleave(per_class)
    generator = torch.Generator().manual_seed(seed)
    chunks = []
    for start in tqdm(range(0, len(labels), batch_size), desc="sampling", disable=not progress, leave=False):
        chunk = labels[start : start + batch_size].to(device)
        chunks.append(to_unit(model.sample(chunk, steps=steps, guidance_scale=guidance_scale, generator=generator)).cpu())
    return torch.cat(chunks), labels


def measure_samples(model: DDPM, reference_images: Tensor, classifier: nn.Module | None = None, per_class: int = 100,
                    steps: int | None = 100, guidance_scale: float = 2.0, seed: int = 0) -> dict[str, Any]:
    """Class accuracy, class spread and FCD (course_utils.generative) of class-conditional samples, with their settings."""
    from course_utils import generative

    samples, labels = conditional_samples(model, per_class, steps, guidance_scale, seed)
    quality = generative.sample_quality(samples, reference_images, classifier, labels=labels)
    return {"samples": len(samples), "sampling_steps": steps or model.schedule.T, "guidance_scale": guidance_scale, **quality}


def train_ddpm_checkpoint(model: DDPM, steps: int = 4000, batch_size: int = 128, lr: float = 1e-3, label_dropout: float = 0.1,
                          seed: int = 0, device: torch.device | str | None = None, progress: bool = True,
                          per_class: int = 100, sampling_steps: int = 100, guidance_scale: float = 2.0) -> dict[str, Any]:
    """The recipe of the shipped diffusion checkpoints: :func:`train_ddpm` on MNIST's training split.

    Returns the record's fields: data, epochs, wall time, the loss curve, and the quality of ``per_class``
    class-conditional samples of every digit (class accuracy, spread and FCD against the test split).
    """
    from course_utils import generative
    from course_utils.runtime import get_device

    device = torch.device(device) if device is not None else get_device()
    train_images, train_labels, fallback = generative.mnist_digits(True, device, verbose=True)
    test_images, _, _ = generative.mnist_digits(False, device)
    start = time.perf_counter()
    history = train_ddpm(model, from_unit(train_images), train_labels, steps, batch_size, lr, label_dropout=label_dropout,
                         seed=seed, progress=progress, desc="DDPM checkpoint")
    wall = time.perf_counter() - start
    classifier = generative.load_digit_classifier(device=device, verbose=False)
    quality = measure_samples(model, test_images.cpu(), classifier, per_class, sampling_steps, guidance_scale, seed)
    model.cpu().eval()
    return {"data": generative.data_description(fallback, len(train_images), len(test_images)),
            "epochs": round(steps * batch_size / len(train_images), 1), "wall_time_s": round(wall, 1),
            "train_history": {"step": history["step"], "loss": [round(v, 5) for v in history["loss"]]},
            "quality": {"training_steps": steps, "batch_size": batch_size, "learning_rate": lr,
                        "label_dropout": label_dropout, "conditional_samples": quality}}


# ---------------------------------------------------------------- CIFAR-10, where it can be reached
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_cifar10(train: bool = True, timeout_s: float = 5.0) -> tuple[Tensor, Tensor] | str:
    """CIFAR-10 as images in [-1, 1] (N, 3, 32, 32) and labels, when cached or downloadable; otherwise the reason why not.

    The download address is probed first with a short timeout, so an offline run neither hangs nor leaves a
    half-written folder. There is no offline stand-in: CIFAR-10 ships in no package registry.
    """
    import os
    import urllib.request

    from torchvision import datasets

    from course_utils.data import OFFLINE_ENV, data_dir

    root = data_dir()
    cached = (root / "cifar-10-batches-py").is_dir()
    try:
        if not cached:
            if os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}:
                return f"{OFFLINE_ENV} is set"
            urllib.request.urlopen(urllib.request.Request(datasets.CIFAR10.url, method="HEAD"), timeout=timeout_s).close()
        dataset = datasets.CIFAR10(str(root), train=train, download=not cached)
    except (OSError, RuntimeError) as err:  # no network (URLError is an OSError), timeout, corrupt download
        return str(err).splitlines()[0][:100] if str(err) else type(err).__name__
    images = torch.as_tensor(dataset.data).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, 32, 32) in [-1, 1]
    return images, torch.as_tensor(dataset.targets)
