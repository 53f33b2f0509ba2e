"""Generative adversarial networks (Goodfellow et al., 2014) and DCGAN (Radford et al., 2016): chapter 9.

A GAN trains two networks against each other. The generator G maps noise z ~ N(0, I) to a sample G(z); the
discriminator D maps a sample to the probability D(x) that it came from the data. They play the minimax game

    min_G max_D V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))].

Every discriminator here returns a **logit** l per sample, and D(x) = sigmoid(l). Then log D = logsigmoid(l) and
log(1 - D) = logsigmoid(-l), which stay finite for any logit, where log(sigmoid(l)) underflows to -inf.

* Losses: :func:`discriminator_loss` (minus V on a batch, which D minimises), :func:`generator_loss` in its
  saturating form (G minimises E[log(1 - D(G(z)))], the game itself) and its non-saturating form (G minimises
  -E[log D(G(z))], what everyone trains with).
* Networks: :class:`MLPGenerator` and :class:`MLPDiscriminator` (the fully connected GAN, for digits and for 2-D
  toy data), :class:`DCGenerator` and :class:`DCDiscriminator` (DCGAN: transposed convolutions, batch
  normalisation, ReLU in G, leaky ReLU in D, no batch norm on G's output or D's input layer),
  :func:`dcgan_init` (the DCGAN paper's initialisation), :class:`DCGAN` (both, for the shipped checkpoint).
* Training: :func:`gan_step` (one alternating step: D on real and detached fake samples, then G through the
  updated D), :func:`train_gan` (epochs of steps with a per-step history).
* Mode collapse on toy data: :func:`ring_of_gaussians`, :func:`mode_coverage`, and one remedy,
  :class:`PackedDiscriminator` (PacGAN: D judges packs of samples, Lin et al., 2018).
* :func:`train_dcgan_checkpoint`: the recipe of the shipped ``dcgan_mnist`` (see :mod:`course_utils.checkpoints`).

Generators output images in [-1, 1] (tanh); :func:`to_unit` maps them to grey values in [0, 1] for display and for
:mod:`course_utils.generative`, and :func:`to_signed` maps MNIST digits the other way.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.grading import reference

IMAGE_SHAPE = (1, 28, 28)
LEAK = 0.2  # slope of the leaky ReLU for negative inputs, as in the DCGAN paper


# ---------------------------------------------------------------- scaling
def to_signed(images: torch.Tensor) -> torch.Tensor:
    """Grey values in [0, 1] -> [-1, 1], the range of a tanh generator."""
    return images * 2 - 1


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """A generator's output in [-1, 1] -> grey values in [0, 1]."""
    return ((images + 1) / 2).clamp(0, 1)


# ---------------------------------------------------------------- the losses
@reference
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-V on a batch: -mean log D(x) - mean log(1 - D(G(z))), from D's logits on real and on generated samples.

    Equals binary cross-entropy with label 1 for the real samples plus label 0 for the fakes (each a batch mean).
    """
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())


@reference
def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """What G minimises, from D's logits on generated samples.

    ``saturating=True``: mean log(1 - D(G(z))), the game's own term (its gradient vanishes when D rejects the
    fakes confidently). Default, non-saturating: -mean log D(G(z)), the binary cross-entropy of the fakes with
    the label "real". (Minimising -mean log(1 - D(G(z))) instead would make the fakes *easier* to reject.)
    """
    if saturating:
        return F.logsigmoid(-fake_logits).mean()
    return -F.logsigmoid(fake_logits).mean()


# ---------------------------------------------------------------- the networks
@reference
def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation, for ``model.apply``: weights ~ N(0, 0.02), biases 0; batch-norm scales ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class _Sampler:
    """Generators draw their own noise: ``sample(n)`` returns n outputs of G for z ~ N(0, I)."""

    latent_dim: int

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self(z)


@reference
class MLPGenerator(_Sampler, nn.Module):
    """Fully connected generator: z (N, latent_dim) -> samples (N, *data_shape).

    Hidden layers of ``hidden`` units with ReLU; the output goes through tanh for images in [-1, 1]
    (``tanh=False`` for unbounded data such as the 2-D toy sets).
    """

    def __init__(self, latent_dim: int = 64, data_shape: tuple[int, ...] = IMAGE_SHAPE, hidden: int = 256,
                 layers: int = 2, tanh: bool = True) -> None:
        super().__init__()
        self.latent_dim, self.data_shape = latent_dim, tuple(data_shape)
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        blocks += [nn.Linear(width, math.prod(self.data_shape))]
        if tanh:
            blocks.append(nn.Tanh())
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"MLPGenerator expects noise of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z).view(len(z), *self.data_shape)


@reference
class MLPDiscriminator(nn.Module):
    """Fully connected discriminator: samples (N, *data_shape) -> logits (N,), leaky ReLU between layers."""

    def __init__(self, data_shape: tuple[int, ...] = IMAGE_SHAPE, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        blocks: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.data_shape)
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LeakyReLU(LEAK)]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"MLPDiscriminator expects samples of shape (N, {', '.join(map(str, self.data_shape))}), "
                             f"got {tuple(x.shape)}")
        return self.net(x).squeeze(1)  # (N,) logits


@reference
class DCGenerator(_Sampler, nn.Module):
    """DCGAN generator for 28x28 digits: z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1].

    z is read as a 1x1 image with ``latent_dim`` channels; transposed convolutions grow it to 7x7, 14x14 and
    28x28. Batch norm and ReLU after every layer but the last, which has tanh and no batch norm.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 2 * width, 7, stride=1, padding=0, bias=False),  # (N, 2w, 7, 7)
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # (N, w, 14, 14)
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # (N, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"DCGenerator expects noise of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])  # (N, latent_dim, 1, 1) -> (N, 1, 28, 28)


@reference
class DCDiscriminator(nn.Module):
    """DCGAN discriminator for 28x28 digits: images (N, 1, 28, 28) -> logits (N,).

    Stride-2 convolutions halve the size (28 -> 14 -> 7) instead of pooling; leaky ReLU (slope 0.2) after each;
    batch norm on the second layer but not on the first, which sees the images themselves; a 7x7 convolution
    reads out one logit.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),  # (N, w, 14, 14); no batch norm here
            nn.LeakyReLU(LEAK),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),  # (N, 2w, 7, 7)
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(LEAK),
            nn.Conv2d(2 * width, 1, 7),  # (N, 1, 1, 1)
        )
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"DCDiscriminator expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return self.net(x).flatten()  # (N,) logits


class DCGAN(nn.Module):
    """A DCGAN generator and discriminator in one module (what the shipped checkpoint stores)."""

    def __init__(self, latent_dim: int = 64, width: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.generator = DCGenerator(latent_dim, width)
        self.discriminator = DCDiscriminator(width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n generated digits as grey values in [0, 1] (generator in eval mode)."""
        was_training = self.generator.training
        self.generator.eval()
        images = to_unit(self.generator.sample(n, generator=generator))
        self.generator.train(was_training)
        return images


# ---------------------------------------------------------------- training
def _noise(n: int, latent_dim: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=generator).to(device) if generator is not None \
        else torch.randn(n, latent_dim, device=device)


@reference
def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             real: torch.Tensor, saturating: bool = False, noise: torch.Generator | None = None) -> dict[str, float]:
    """One alternating update on a batch of real samples: first D, then G. Returns the batch's numbers.

    D's phase scores the real batch and a generated batch that is **detached** from G, so D's loss sends no
    gradient into G, and steps ``opt_d``. G's phase scores the same generated batch, now with its graph, by the
    *updated* D and steps ``opt_g``; D's parameters receive gradients there too but are not stepped (``opt_d``
    clears them before D's next step). Returns ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (mean D(x) and
    D(G(z)) in D's phase) and ``d_accuracy`` (share of the 2N samples D classifies correctly at threshold 1/2).
    """
    z = _noise(len(real), generator.latent_dim, real.device, noise)
    fake = generator(z)

    # discriminator phase: maximise V, i.e. minimise -V, with G held fixed
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    # generator phase: the updated D judges the same fakes; only G steps
    g_loss = generator_loss(discriminator(fake), saturating)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()

    with torch.no_grad():
        correct = (real_logits > 0).float().sum() + (fake_logits < 0).float().sum()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item(),
                "d_accuracy": (correct / (len(real_logits) + len(fake_logits))).item()}


def adam_pair(generator: nn.Module, discriminator: nn.Module, lr: float = 2e-4,
              betas: tuple[float, float] = (0.5, 0.999)) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """One Adam optimiser per network, with the DCGAN paper's settings by default (lr 2e-4, beta1 0.5)."""
    return torch.optim.Adam(generator.parameters(), lr=lr, betas=betas), \
        torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)


def train_gan(generator: nn.Module, discriminator: nn.Module, batches: Iterable, epochs: int = 1,
              optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None, saturating: bool = False,
              progress: bool = True, desc: str = "GAN epochs",
              on_epoch: Callable[[int], None] | None = None) -> dict[str, list[float]]:
    """Alternate :func:`gan_step` over every batch (the first tensor of each) for ``epochs`` epochs.

    Returns the per-step history of every number :func:`gan_step` returns, plus ``epoch_end`` (the number of
    steps done at the end of each epoch). ``on_epoch(epoch)`` runs after each epoch (to keep samples, say).
    """
    opt_g, opt_d = optimizers if optimizers is not None else adam_pair(generator, discriminator)
    history: dict[str, list[float]] = {"epoch_end": []}
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for epoch in bar:
        generator.train()
        discriminator.train()
        for batch in batches:
            real = batch[0] if isinstance(batch, (tuple, list)) else batch
            for key, value in gan_step(generator, discriminator, opt_g, opt_d, real, saturating).items():
                history.setdefault(key, []).append(value)
        history["epoch_end"].append(len(history.get("d_loss", [])))
        if not history.get("d_loss"):
            raise ValueError("train_gan got no batches")
        bar.set_postfix(d_loss=f"{history['d_loss'][-1]:.2f}", g_loss=f"{history['g_loss'][-1]:.2f}")
        if on_epoch is not None:
            on_epoch(epoch + 1)
    return history


# ---------------------------------------------------------------- mode collapse on toy data
def ring_centres(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The (modes, 2) centres of the ring of Gaussians, evenly spaced on a circle."""
    angles = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2) from an equal mixture of ``modes`` narrow Gaussians on a circle (Metz et al., 2017)."""
    which = torch.randint(modes, (n,), generator=generator)
    return ring_centres(modes, radius)[which] + std * torch.randn(n, 2, generator=generator)


def mode_coverage(samples: torch.Tensor, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                  min_share: float | None = None) -> dict[str, Any]:
    """How many modes of the ring generated samples cover.

    A sample is *close* to a mode when it lies within 3 standard deviations of its centre. ``shares`` holds the
    fraction of all samples close to each mode; a mode is *covered* when its share is at least ``min_share``
    (default: a quarter of the fair share, 1 / (4 * modes)); ``close_share`` is the fraction of samples close
    to any mode (the others lie between modes).
    """
    samples = torch.as_tensor(samples, dtype=torch.float32).detach().cpu()
    if samples.dim() != 2 or samples.shape[1] != 2:
        raise ValueError(f"expected 2-D samples of shape (N, 2), got {tuple(samples.shape)}")
    min_share = 1 / (4 * modes) if min_share is None else min_share
    distances = torch.cdist(samples, ring_centres(modes, radius))  # (N, modes)
    nearest, which = distances.min(dim=1)
    close = nearest <= 3 * std
    shares = torch.bincount(which[close], minlength=modes).float() / len(samples)
    return {"modes_covered": int((shares >= min_share).sum()), "close_share": float(close.float().mean()),
            "shares": [round(float(s), 4) for s in shares]}


@reference
class PackedDiscriminator(nn.Module):
    """PacGAN's remedy for mode collapse (Lin et al., 2018): D judges ``pack`` samples at once.

    The batch (N, d) is cut into N / pack packs of ``pack`` samples, each flattened to one input of pack * d
    numbers, and D returns one logit per pack (N / pack,). A generator that has collapsed onto a few modes makes
    packs whose members are too alike, which a D seeing several samples together can detect and punish.
    """

    def __init__(self, data_dim: int = 2, pack: int = 4, hidden: int = 128, layers: int = 2) -> None:
        super().__init__()
        self.data_dim, self.pack = data_dim, pack
        self.body = MLPDiscriminator((pack * data_dim,), hidden=hidden, layers=layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.data_dim or len(x) % self.pack:
            raise ValueError(f"PackedDiscriminator expects (N, {self.data_dim}) with N a multiple of {self.pack}, "
                             f"got {tuple(x.shape)}")
        return self.body(x.reshape(len(x) // self.pack, self.pack * self.data_dim))  # (N / pack,) logits


# ---------------------------------------------------------------- the shipped checkpoint
def train_dcgan_checkpoint(model: DCGAN, epochs: int = 30, batch_size: int = 64, lr: float = 2e-4, seed: int = 0,
                           device: torch.device | str | None = None, progress: bool = True) -> dict[str, Any]:
    """The recipe of the shipped DCGAN: non-saturating losses, Adam(lr, betas=(0.5, 0.999)), MNIST's training split.

    Records every epoch's mean losses and D accuracy and the quality of 1,000 samples (FCD against the test
    split and the class spread, :mod:`course_utils.generative`), so the record holds the whole run's dynamics.
    """
    from course_utils import generative
    from course_utils.data import DeviceLoader
    from course_utils.runtime import get_device, seed_everything

    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    train_images, _, fallback = generative.mnist_digits(True, device, verbose=True)
    test_images, _, _ = generative.mnist_digits(False, device)
    classifier = generative.load_digit_classifier(device=device, verbose=False)
    model.to(device)
    optimizers = adam_pair(model.generator, model.discriminator, lr=lr)
    batches = DeviceLoader(to_signed(train_images), batch_size=batch_size, seed=seed, drop_last=True)
    per_epoch: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "d_accuracy": [], "fcd": [], "classes_covered": []}
    wall = 0.0
    bar = tqdm(range(epochs), desc="DCGAN checkpoint", disable=not progress)
    for _ in bar:
        start = time.perf_counter()
        steps = train_gan(model.generator, model.discriminator, batches, epochs=1, optimizers=optimizers, progress=False)
        wall += time.perf_counter() - start
        for key in ("d_loss", "g_loss", "d_accuracy"):
            per_epoch[key].append(round(sum(steps[key]) / len(steps[key]), 4))
        quality = generative.sample_quality(model.sample(1000, torch.Generator().manual_seed(seed)), test_images, classifier)
        per_epoch["fcd"].append(quality["fcd"])
        per_epoch["classes_covered"].append(quality["classes_covered"])
        bar.set_postfix(fcd=f"{quality['fcd']:.0f}")
    model.cpu().eval()
    return {"data": generative.data_description(fallback, len(train_images), len(test_images)), "epochs": epochs,
            "wall_time_s": round(wall, 1), "train_history": per_epoch, "quality": {"samples": quality}}
