"""StackGAN (Zhang et al., 2017): text-to-image generation in two stages, for chapter 10 and assignment a09.

A caption is turned into a text embedding phi_t (here by :mod:`course_utils.captions`). Two conditional GANs
then draw an image for it:

* **Stage-I** draws a rough, low-resolution image (14x14 digits here) from noise z and the caption;
* **Stage-II** takes that image and the caption again and draws a sharper image at twice the resolution
  (28x28): an encoder reads the Stage-I image, the caption's conditioning vector is joined to its features,
  residual blocks mix the two, and a decoder upsamples. No new noise: the randomness is already in the
  Stage-I image.

Conditioning augmentation (CA). Instead of feeding phi_t itself, each stage draws its conditioning vector

    c = mu(phi_t) + sigma(phi_t) * eps,   eps ~ N(0, I),

where one linear layer gives mu and log sigma^2. The generator's loss adds KL(N(mu, diag sigma^2) || N(0, I)),
which keeps the conditioning distribution close to a standard normal. A caption then covers a small cloud of
conditioning vectors instead of one point, which gives the generator more (and smoother) conditioning to learn
from when only a few thousand captions exist.

Matching-aware discriminator (Reed et al., 2016, "GAN-CLS"). D sees an image *and* a text embedding and must
say whether the image is real **and** matches the text. It is trained on three kinds of pairs: real image with
its own caption (label real), real image with another image's caption (label fake: the mismatch), generated
image with the caption it was made for (label fake). StackGAN weighs the two fake kinds by one half each.

Images are in [-1, 1] (tanh), as in :mod:`course_utils.models.gan`; every discriminator returns logits.

* :class:`ConditioningAugmentation`, :func:`kl_to_standard_normal`
* :class:`StageIGenerator`, :class:`StageIDiscriminator` (14x14)
* :class:`ResidualBlock`, :class:`StageIIGenerator`, :class:`StageIIDiscriminator` (28x28)
* :func:`matching_aware_discriminator_loss`, :func:`stackgan_generator_loss`, :func:`mismatched_indices`
* :func:`downsample`, :func:`stackgan_step` (one alternating update of either stage), :func:`generate`
* Training on captioned digits (:mod:`course_utils.captions`): :func:`train_stage1`, :func:`train_stage2` (on a frozen
  Stage-I), :func:`text_image_agreement` (class accuracy and requested-vs-measured thickness, slant and size of the
  samples for held-out captions, FCD), the checkpoint recipes ``stackgan_stage1``, ``stackgan_stage1_no_ca`` and
  ``stackgan_stage2`` with :func:`load_stackgan`, and :func:`run_stage1_ablation` / :func:`read_ablation`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.grading import reference
from course_utils.models.gan import LEAK, dcgan_init

LOW_SIZE, HIGH_SIZE = 14, 28  # Stage-I and Stage-II image sizes (digits)


def _check_phi(phi: torch.Tensor, embed_dim: int, who: str) -> None:
    if phi.dim() != 2 or phi.shape[1] != embed_dim:
        raise ValueError(f"{who} expects text embeddings of shape (N, {embed_dim}), got {tuple(phi.shape)}")


def _check_images(images: torch.Tensor, size: int, who: str, n: int | None = None) -> None:
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, size, size):
        raise ValueError(f"{who} expects images of shape (N, 1, {size}, {size}), got {tuple(images.shape)}")
    if n is not None and len(images) != n:
        raise ValueError(f"{who} got {len(images)} images but {n} text embeddings")


def downsample(images: torch.Tensor) -> torch.Tensor:
    """28x28 digits -> 14x14 by averaging 2x2 blocks: the real images Stage-I's discriminator sees."""
    _check_images(images, HIGH_SIZE, "downsample")
    return F.avg_pool2d(images, 2)


# ---------------------------------------------------------------- conditioning augmentation
@reference
def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)), summed over the dimensions and averaged over the batch.

    Closed form per dimension: (mu^2 + sigma^2 - 1 - log sigma^2) / 2.
    """
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(f"mu and logvar must have the same shape (N, D), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()


@reference
class ConditioningAugmentation(nn.Module):
    """phi_t (N, embed_dim) -> (c, mu, logvar), each (N, cond_dim), with c = mu + exp(logvar / 2) * eps.

    One linear layer gives mu and logvar (log sigma^2). ``eps`` is drawn from N(0, I) unless given (pass it to
    make the output reproducible). ``augment=False`` is the ablation without CA: c = mu, always.
    """

    def __init__(self, embed_dim: int = 32, cond_dim: int = 16, augment: bool = True) -> None:
        super().__init__()
        self.embed_dim, self.cond_dim, self.augment = embed_dim, cond_dim, augment
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi: torch.Tensor, eps: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_phi(phi, self.embed_dim, "ConditioningAugmentation")
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        if not self.augment:
            return mu, mu, logvar
        if eps is None:
            eps = torch.randn_like(mu)
        elif eps.shape != mu.shape:
            raise ValueError(f"eps must have shape {tuple(mu.shape)}, got {tuple(eps.shape)}")
        return mu + torch.exp(0.5 * logvar) * eps, mu, logvar


# ---------------------------------------------------------------- Stage-I
@reference
class StageIGenerator(nn.Module):
    """Stage-I generator: noise z (N, noise_dim) and phi_t (N, embed_dim) -> (image (N, 1, 14, 14), mu, logvar).

    [z, c] goes through a linear layer to a 7x7 map of 2*width channels, a transposed convolution to 14x14 and
    a 3x3 convolution to one channel with tanh. Batch norm and ReLU in between (DCGAN style).
    """

    def __init__(self, embed_dim: int = 32, cond_dim: int = 16, noise_dim: int = 32, width: int = 32,
                 augment: bool = True) -> None:
        super().__init__()
        self.embed_dim, self.noise_dim, self.width = embed_dim, noise_dim, width
        self.ca = ConditioningAugmentation(embed_dim, cond_dim, augment)
        self.project = nn.Sequential(nn.Linear(noise_dim + cond_dim, 2 * width * 7 * 7, bias=False),
                                     nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # (N, w, 14, 14)
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),  # (N, 1, 14, 14)
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, phi: torch.Tensor, eps: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if z.dim() != 2 or z.shape[1] != self.noise_dim:
            raise ValueError(f"StageIGenerator expects noise of shape (N, {self.noise_dim}), got {tuple(z.shape)}")
        _check_phi(phi, self.embed_dim, "StageIGenerator")
        if len(z) != len(phi):
            raise ValueError(f"StageIGenerator got {len(z)} noise vectors but {len(phi)} text embeddings")
        c, mu, logvar = self.ca(phi, eps)
        h = self.project(torch.cat([z, c], dim=1)).view(len(z), 2 * self.width, 7, 7)
        return self.net(h), mu, logvar


class _JointHead(nn.Module):
    """Image features (N, C, 7, 7) + phi_t -> one logit per pair.

    phi_t is compressed by a linear layer, replicated over the 7x7 grid and concatenated to the image features
    along the channels; a 1x1 convolution mixes the two, a 7x7 convolution reads out the logit.
    """

    def __init__(self, channels: int, embed_dim: int, proj_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.text = nn.Sequential(nn.Linear(embed_dim, proj_dim), nn.LeakyReLU(LEAK))
        self.joint = nn.Sequential(nn.Conv2d(channels + proj_dim, channels, 1, bias=False),
                                   nn.BatchNorm2d(channels), nn.LeakyReLU(LEAK),
                                   nn.Conv2d(channels, 1, 7))

    def forward(self, features: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        t = self.text(phi)[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.joint(torch.cat([features, t], dim=1)).flatten()


@reference
class StageIDiscriminator(nn.Module):
    """Matching-aware Stage-I discriminator: (image (N, 1, 14, 14), phi_t (N, embed_dim)) -> logits (N,)."""

    def __init__(self, embed_dim: int = 32, width: int = 32, proj_dim: int = 16) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(LEAK),  # (N, w, 7, 7); no batch norm here
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),  # (N, 2w, 7, 7)
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(LEAK),
        )
        self.head = _JointHead(2 * width, embed_dim, proj_dim)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        _check_phi(phi, self.embed_dim, "StageIDiscriminator")
        _check_images(images, LOW_SIZE, "StageIDiscriminator", len(phi))
        return self.head(self.image(images), phi)


# ---------------------------------------------------------------- Stage-II
@reference
class ResidualBlock(nn.Module):
    """x + F(x), with F = BN, ReLU, 3x3 conv, BN, ReLU, 3x3 conv (the pre-activation form of He et al., 2016).

    The identity path carries x through unchanged, so a block whose F outputs zero passes its input exactly.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@reference
class StageIIGenerator(nn.Module):
    """Stage-II generator: (Stage-I image (N, 1, 14, 14), phi_t) -> (image (N, 1, 28, 28), mu, logvar).

    * encoder: two convolutions take the Stage-I image to (N, 2w, 7, 7) features;
    * its own conditioning augmentation gives c, replicated over the 7x7 grid and concatenated to them;
    * a 3x3 convolution joins image and text, ``n_residual`` :class:`ResidualBlock` refine the joint features;
    * decoder: nearest-neighbour upsampling and a 3x3 convolution, twice (7 -> 14 -> 28), then tanh.
    """

    def __init__(self, embed_dim: int = 32, cond_dim: int = 16, width: int = 32, n_residual: int = 2,
                 augment: bool = True) -> None:
        super().__init__()
        self.embed_dim, self.cond_dim = embed_dim, cond_dim
        self.ca = ConditioningAugmentation(embed_dim, cond_dim, augment)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),  # (N, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),  # (N, 2w, 7, 7)
            nn.BatchNorm2d(2 * width), nn.ReLU(),
        )
        self.joint = nn.Sequential(nn.Conv2d(2 * width + cond_dim, 2 * width, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(2 * width), nn.ReLU())
        self.residual = nn.Sequential(*[ResidualBlock(2 * width) for _ in range(n_residual)])
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 2w, 14, 14)
            nn.Conv2d(2 * width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, w, 28, 28)
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),  # (N, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, low_res: torch.Tensor, phi: torch.Tensor, eps: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_phi(phi, self.embed_dim, "StageIIGenerator")
        _check_images(low_res, LOW_SIZE, "StageIIGenerator", len(phi))
        c, mu, logvar = self.ca(phi, eps)
        features = self.encoder(low_res)
        text = c[:, :, None, None].expand(-1, -1, *features.shape[2:])
        h = self.residual(self.joint(torch.cat([features, text], dim=1)))
        return self.decoder(h), mu, logvar


@reference
class StageIIDiscriminator(nn.Module):
    """Matching-aware Stage-II discriminator: (image (N, 1, 28, 28), phi_t) -> logits (N,).

    Stage-I's discriminator with one more stride-2 convolution for the larger image (28 -> 14 -> 7).
    """

    def __init__(self, embed_dim: int = 32, width: int = 32, proj_dim: int = 16) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(LEAK),  # (N, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),  # (N, 2w, 7, 7)
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(LEAK),
        )
        self.head = _JointHead(2 * width, embed_dim, proj_dim)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        _check_phi(phi, self.embed_dim, "StageIIDiscriminator")
        _check_images(images, HIGH_SIZE, "StageIIDiscriminator", len(phi))
        return self.head(self.image(images), phi)


# ---------------------------------------------------------------- losses
@reference
def matching_aware_discriminator_loss(real_match: torch.Tensor, real_mismatch: torch.Tensor,
                                      fake_match: torch.Tensor) -> torch.Tensor:
    """What the matching-aware D minimises, from its logits on the three kinds of pairs (each a batch mean):

        -[ log D(real, t) + (log(1 - D(real, t_wrong)) + log(1 - D(fake, t))) / 2 ].

    The real image with a mismatched caption counts as fake, like a generated image: D must check the text.
    """
    return -(F.logsigmoid(real_match).mean()
             + 0.5 * (F.logsigmoid(-real_mismatch).mean() + F.logsigmoid(-fake_match).mean()))


@reference
def stackgan_generator_loss(fake_match: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                            kl_weight: float = 1.0) -> torch.Tensor:
    """What a StackGAN generator minimises: -mean log D(G(z, c), t) (non-saturating) + kl_weight * KL."""
    return -F.logsigmoid(fake_match).mean() + kl_weight * kl_to_standard_normal(mu, logvar)


@reference
def mismatched_indices(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each i a random index j with labels[j] != labels[i]: whose caption to pair with image i as a mismatch.

    A caption of the same digit would often still be true of the image, so it would not be a mismatch.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) < 2:
        raise ValueError(f"mismatched_indices expects a 1-D tensor of at least two labels, got shape "
                         f"{tuple(labels.shape)}")
    other = labels[None, :] != labels[:, None]  # (N, N): j has another class than i
    if not bool(other.any(dim=1).all()):
        raise ValueError("mismatched_indices needs, for every label, another label in the batch; "
                         "this batch has a single class")
    scores = torch.rand(len(labels), len(labels), generator=generator).to(labels.device)
    return scores.masked_fill(~other, -1.0).argmax(dim=1)


# ---------------------------------------------------------------- training and sampling
def stackgan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                  opt_d: torch.optim.Optimizer, real: torch.Tensor, phi: torch.Tensor, labels: torch.Tensor,
                  stage_one: nn.Module | None = None, kl_weight: float = 1.0, mismatched: bool = True,
                  noise: torch.Generator | None = None) -> dict[str, float]:
    """One alternating update of one stage on a batch of real images, their captions' phi_t and their labels.

    Stage-I: ``generator`` is a :class:`StageIGenerator`, ``real`` the 14x14 images (:func:`downsample`).
    Stage-II: ``generator`` is a :class:`StageIIGenerator`, ``real`` the 28x28 images, and ``stage_one`` the
    trained Stage-I generator, kept frozen (eval mode, no gradient): it draws the low-resolution inputs.

    D's phase scores the three pairs (real + its text, real + a caption of another class, detached fake + its
    text) and minimises :func:`matching_aware_discriminator_loss` (``mismatched=False``: the ablation without
    the mismatched pair, plain real/fake loss). G's phase minimises :func:`stackgan_generator_loss` through the
    updated D. phi_t is detached: the text encoder is trained beforehand and stays fixed. Returns ``d_loss``,
    ``g_loss``, ``kl``, and D's mean probabilities ``d_real``, ``d_wrong`` and ``d_fake``.
    """
    phi = phi.detach()
    n = len(real)
    if stage_one is None:
        z = torch.randn(n, generator.noise_dim, generator=noise).to(real.device)
        fake, mu, logvar = generator(z, phi)
    else:
        stage_one.eval()
        with torch.no_grad():
            z = torch.randn(n, stage_one.noise_dim, generator=noise).to(real.device)
            low, _, _ = stage_one(z, phi)
        fake, mu, logvar = generator(low, phi)

    wrong = mismatched_indices(labels, generator=noise)
    real_logits = discriminator(real, phi)
    wrong_logits = discriminator(real, phi[wrong])
    fake_logits = discriminator(fake.detach(), phi)
    if mismatched:
        d_loss = matching_aware_discriminator_loss(real_logits, wrong_logits, fake_logits)
    else:
        d_loss = -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    g_loss = stackgan_generator_loss(discriminator(fake, phi), mu, logvar, kl_weight)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()

    with torch.no_grad():
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "kl": kl_to_standard_normal(mu, logvar).item(),
                "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_wrong": torch.sigmoid(wrong_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item()}


@torch.no_grad()
def generate(stage_one: nn.Module, phi: torch.Tensor, stage_two: nn.Module | None = None,
             noise: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images for the captions' phi_t: (Stage-I images (N, 1, 14, 14), Stage-II images (N, 1, 28, 28) or None).

    Both generators run in eval mode (restored afterwards); outputs are in [-1, 1]. The same z and the same
    Stage-I image feed Stage-II, so the two rows of a figure show one sample at both resolutions.
    """
    modes = [(m, m.training) for m in (stage_one, stage_two) if m is not None]
    for module, _ in modes:
        module.eval()
    try:
        device = next(stage_one.parameters()).device
        z = torch.randn(len(phi), stage_one.noise_dim, generator=noise).to(device)
        low, _, _ = stage_one(z, phi.to(device))
        high = stage_two(low, phi.to(device))[0] if stage_two is not None else None
    finally:
        for module, mode in modes:
            module.train(mode)
    return low, high


# ---------------------------------------------------------------- training both stages on captioned digits
class StackGANStageI(nn.Module):
    """A Stage-I generator and its discriminator in one module (what the ``stackgan_stage1`` checkpoint stores)."""

    def __init__(self, embed_dim: int = 32, cond_dim: int = 16, noise_dim: int = 32, width: int = 32,
                 augment: bool = True) -> None:
        super().__init__()
        self.generator = StageIGenerator(embed_dim, cond_dim, noise_dim, width, augment)
        self.discriminator = StageIDiscriminator(embed_dim, width)


class StackGANStageII(nn.Module):
    """A Stage-II generator and its discriminator in one module (what the ``stackgan_stage2`` checkpoint stores)."""

    def __init__(self, embed_dim: int = 32, cond_dim: int = 16, width: int = 32, n_residual: int = 2,
                 augment: bool = True) -> None:
        super().__init__()
        self.generator = StageIIGenerator(embed_dim, cond_dim, width, n_residual, augment)
        self.discriminator = StageIIDiscriminator(embed_dim, width)


@torch.no_grad()
def caption_embeddings(text_encoder: nn.Module, tokens: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """phi_t (N, embed_dim) of token ids (N, L) by the frozen text encoder, on the encoder's device."""
    text_encoder.eval()
    device = next(text_encoder.parameters()).device
    return torch.cat([text_encoder(tokens[i : i + batch_size].to(device)) for i in range(0, len(tokens), batch_size)])


def _train_stage(generator: nn.Module, discriminator: nn.Module, digits, text_encoder: nn.Module, real: torch.Tensor,
                 stage_one: nn.Module | None, epochs: int, batch_size: int, lr: float, kl_weight: float,
                 mismatched: bool, seed: int, device: torch.device | str, progress: bool, desc: str
                 ) -> dict[str, list[float]]:
    import numpy as np
    from tqdm.auto import tqdm

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if batch_size > len(digits):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(digits)} captioned digits")
    device = torch.device(device)
    rng = np.random.default_rng(seed)  # fresh captions (templates, synonyms) every epoch
    noise = torch.Generator().manual_seed(seed)  # z, mismatches, batch order
    generator.to(device).train()
    discriminator.to(device).train()
    text_encoder.to(device)
    if stage_one is not None:
        stage_one.to(device).eval()
        for p in stage_one.parameters():
            p.requires_grad_(False)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    real, labels = real.to(device), digits.labels.to(device)
    history: dict[str, list[float]] = {"epoch_end": []}
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for _ in bar:
        _, tokens = digits.recaption(rng)
        phi = caption_embeddings(text_encoder, tokens).to(device)  # (N, embed_dim)
        order = torch.randperm(len(digits), generator=noise).to(device)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            numbers = stackgan_step(generator, discriminator, opt_g, opt_d, real[idx], phi[idx], labels[idx],
                                    stage_one=stage_one, kl_weight=kl_weight, mismatched=mismatched, noise=noise)
            for key, value in numbers.items():
                history.setdefault(key, []).append(round(value, 4))
        history["epoch_end"].append(len(history["d_loss"]))
        bar.set_postfix(d_loss=f"{history['d_loss'][-1]:.2f}", g_loss=f"{history['g_loss'][-1]:.2f}")
    generator.eval()
    discriminator.eval()
    return history


def train_stage1(generator: nn.Module, discriminator: nn.Module, digits, text_encoder: nn.Module, epochs: int = 1,
                 batch_size: int = 64, lr: float = 2e-4, kl_weight: float = 1.0, mismatched: bool = True, seed: int = 0,
                 device: torch.device | str = "cpu", progress: bool = True) -> dict[str, list[float]]:
    """Train Stage-I on captioned digits (a :class:`course_utils.captions.CaptionedDigits`): 14x14 images, fresh captions
    every epoch, phi_t from the frozen ``text_encoder``, :func:`stackgan_step` on every batch (Adam, lr, betas 0.5/0.999).

    Returns the per-step history of every number :func:`stackgan_step` returns and ``epoch_end`` (steps done at the end
    of each epoch). ``mismatched=False`` drops the mismatched-caption pair (the ablation); an ablation without
    conditioning augmentation is a generator built with ``augment=False`` and ``kl_weight=0``.
    """
    from course_utils.models.gan import to_signed

    real = downsample(to_signed(digits.images))  # (N, 1, 14, 14) in [-1, 1]
    return _train_stage(generator, discriminator, digits, text_encoder, real, None, epochs, batch_size, lr, kl_weight,
                        mismatched, seed, device, progress, "Stage-I epochs")


def train_stage2(generator: nn.Module, discriminator: nn.Module, stage_one: nn.Module, digits, text_encoder: nn.Module,
                 epochs: int = 1, batch_size: int = 64, lr: float = 2e-4, kl_weight: float = 1.0, mismatched: bool = True,
                 seed: int = 0, device: torch.device | str = "cpu", progress: bool = True) -> dict[str, list[float]]:
    """Train Stage-II on the 28x28 digits, its inputs drawn by ``stage_one`` (a trained :class:`StageIGenerator`, frozen:
    eval mode, no gradients, never stepped). Otherwise as :func:`train_stage1`."""
    from course_utils.models.gan import to_signed

    return _train_stage(generator, discriminator, digits, text_encoder, to_signed(digits.images), stage_one, epochs,
                        batch_size, lr, kl_weight, mismatched, seed, device, progress, "Stage-II epochs")


def _pearson(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def upsample(images14: torch.Tensor) -> torch.Tensor:
    """14x14 Stage-I images -> 28x28 (bilinear), so the digit classifier and the property measures can read them."""
    _check_images(images14, LOW_SIZE, "upsample")
    return F.interpolate(images14, scale_factor=2, mode="bilinear", align_corners=False)


@torch.no_grad()
def text_image_agreement(stage_one: nn.Module, stage_two: nn.Module | None, text_encoder: nn.Module, digits,
                         classifier: nn.Module | None = None, seed: int = 0, reference_images: torch.Tensor | None = None
                         ) -> dict[str, dict[str, float]]:
    """How well generated images agree with their captions: one image per caption of ``digits`` (held-out digits).

    For the Stage-II images and for the Stage-I images upsampled to 28x28 (bilinear):

    * ``class_accuracy``: the shipped digit classifier's accuracy on the class each caption names;
    * ``thickness_r``, ``slant_r``, ``size_r``: Pearson correlation between the requested bin (0, 1, 2, read back from
      the caption) and the property measured on the generated image (:func:`course_utils.captions.measure_properties`);
      ``thickness_bin_match`` etc.: how often the generated image falls into the requested bin (chance about 1/3);
    * ``fcd``: Fréchet classifier distance to ``reference_images`` (default: the digits' own images).

    ``real`` holds the same numbers for the real digits the captions were written for: the best a generator can do;
    ``real_upsampled`` for those digits averaged down to 14x14 and upsampled again: the best Stage-I can do.
    Deterministic given ``seed`` (on one device); the caller's random state is left as it was.
    """
    from course_utils import captions as C
    from course_utils import generative
    from course_utils.models.gan import to_unit

    classifier = classifier if classifier is not None else generative.load_digit_classifier(verbose=False)
    reference_images = reference_images if reference_images is not None else digits.images
    said = [C.parse_caption(c) for c in digits.captions]
    requested = {name: [s[name] for s in said] for name in ("digit", *C.WORDED)}
    phi = caption_embeddings(text_encoder, digits.tokens)
    with torch.random.fork_rng(devices=[]):  # the CA noise eps comes from the global generator: seed it, leave it as found
        torch.manual_seed(seed)
        low, high = generate(stage_one, phi, stage_two, noise=torch.Generator().manual_seed(seed))
    sets = {"stage1_upsampled": to_unit(upsample(low.cpu()))}
    if high is not None:
        sets["stage2"] = to_unit(high.cpu())
    sets["real"] = digits.images
    sets["real_upsampled"] = upsample(downsample(digits.images))  # what Stage-I at its best would score
    thresholds = digits.thresholds
    results: dict[str, dict[str, float]] = {}
    for name, images in sets.items():
        props = C.measure_properties(images)
        bins = thresholds.bins(props, requested["digit"])
        numbers = {"class_accuracy": round(generative.class_accuracy(images, requested["digit"], classifier), 4)}
        for i, prop in enumerate(C.WORDED):
            numbers[f"{prop}_r"] = round(_pearson(requested[prop], props[prop]), 4)
            numbers[f"{prop}_bin_match"] = round(float((bins[:, i] == requested[prop]).mean()), 4)
        numbers["fcd"] = round(generative.frechet_classifier_distance(images, reference_images, classifier), 2) + 0.0
        results[name] = numbers
    return results


def _stage_setup(seed: int, device):
    from course_utils import captions as C
    from course_utils.runtime import get_device, seed_everything

    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    train = C.CaptionedDigits(train=True, seed=seed)
    test = C.CaptionedDigits(train=False, seed=seed + 1, verbose=False)  # held-out digits with their own captions
    return device, train, test, C.load_text_encoder(device=device, verbose=False)


def _per_epoch(history: dict[str, list[float]]) -> dict[str, list[float]]:
    ends = history["epoch_end"]
    return {key: [round(sum(v[a:b]) / (b - a), 4) for a, b in zip([0] + ends[:-1], ends)]
            for key, v in history.items() if key != "epoch_end"}


def train_stage1_checkpoint(model: StackGANStageI, epochs: int = 20, batch_size: int = 64, lr: float = 2e-4,
                            kl_weight: float = 1.0, mismatched: bool = True, seed: int = 0,
                            device: torch.device | str | None = None, progress: bool = True) -> dict[str, Any]:
    """The recipe of the shipped ``stackgan_stage1``: :func:`train_stage1` on the training digits' captions (phi_t from the
    shipped ``caption_encoder``); quality: :func:`text_image_agreement` on the test digits' captions."""
    import time

    from course_utils.generative import data_description

    device, train, test, text = _stage_setup(seed, device)
    start = time.perf_counter()
    history = train_stage1(model.generator, model.discriminator, train, text, epochs=epochs, batch_size=batch_size,
                           lr=lr, kl_weight=kl_weight, mismatched=mismatched, seed=seed, device=device, progress=progress)
    wall = time.perf_counter() - start
    quality = text_image_agreement(model.generator, None, text, test, seed=seed)
    model.cpu().eval()
    return {"data": data_description(train.is_fallback, len(train), len(test)), "epochs": epochs,
            "wall_time_s": round(wall, 1), "train_history": _per_epoch(history), "quality": quality}


def train_stage2_checkpoint(model: StackGANStageII, epochs: int = 10, batch_size: int = 64, lr: float = 2e-4,
                            kl_weight: float = 1.0, seed: int = 0, device: torch.device | str | None = None,
                            progress: bool = True) -> dict[str, Any]:
    """The recipe of the shipped ``stackgan_stage2``: :func:`train_stage2` on the outputs of the shipped, frozen
    ``stackgan_stage1``; quality: :func:`text_image_agreement` of both stages on the test digits' captions."""
    import time

    from course_utils import checkpoints
    from course_utils.generative import data_description

    device, train, test, text = _stage_setup(seed, device)
    stage_one = checkpoints.load("stackgan_stage1", device=device, verbose=False).generator
    start = time.perf_counter()
    history = train_stage2(model.generator, model.discriminator, stage_one, train, text, epochs=epochs,
                           batch_size=batch_size, lr=lr, kl_weight=kl_weight, seed=seed, device=device, progress=progress)
    wall = time.perf_counter() - start
    quality = text_image_agreement(stage_one, model.generator, text, test, seed=seed)
    model.cpu().eval()
    return {"data": data_description(train.is_fallback, len(train), len(test)), "epochs": epochs,
            "wall_time_s": round(wall, 1), "train_history": _per_epoch(history), "quality": quality}


def load_stackgan(device: torch.device | str | None = None, verbose: bool = True
                  ) -> tuple[StageIGenerator, StageIIGenerator, nn.Module]:
    """The shipped Stage-I and Stage-II generators and the text encoder (phi_t), in eval mode."""
    from course_utils import captions as C
    from course_utils import checkpoints

    stage_one = checkpoints.load("stackgan_stage1", device=device, verbose=verbose).generator
    stage_two = checkpoints.load("stackgan_stage2", device=device, verbose=verbose).generator
    return stage_one, stage_two, C.load_text_encoder(device=device, verbose=verbose)


# ---------------------------------------------------------------- the ablation
ABLATIONS = {
    "no_mismatch": ({}, {"mismatched": False}),  # D never sees a real image with a wrong caption
    "no_ca": ({"augment": False}, {"kl_weight": 0.0}),  # c = mu(phi_t), no noise, no KL term
    "kl_0.1": ({}, {"kl_weight": 0.1}),  # conditioning augmentation with a tenth of the KL weight
}


def ablation_path(which: str):
    from course_utils.checkpoints import WEIGHTS_DIR

    return WEIGHTS_DIR / "ablations" / f"stackgan_stage1_{which}.json"


def run_stage1_ablation(which: str = "no_mismatch", device: torch.device | str | None = None, progress: bool = True,
                        write: bool = True) -> dict[str, Any]:
    """Retrain Stage-I with the shipped recipe (same epochs, seed, data) minus one part, measure it the same way
    (:func:`text_image_agreement` on the test digits' captions) and put its numbers next to the shipped model's.

    ``which``: ``"no_mismatch"`` (the discriminator loss without the real-image/wrong-caption pair), ``"no_ca"``
    (no conditioning augmentation: c = mu, KL weight 0) or ``"kl_0.1"`` (augmentation with a tenth of the KL weight). Writes ``course_utils/weights/ablations/stackgan_stage1_WHICH.json``
    (no weights) when ``write``. Command line: ``python -m course_utils.models.stackgan ablation WHICH``.
    """
    import datetime
    import json

    from course_utils import checkpoints

    if which not in ABLATIONS:
        raise ValueError(f"unknown ablation {which!r}; choose one of {', '.join(ABLATIONS)}")
    recipe = checkpoints.REGISTRY["stackgan_stage1"]
    model_changes, train_changes = ABLATIONS[which]
    from course_utils.runtime import seed_everything

    seed_everything(recipe.seed)  # the same initial weights as the shipped model's recipe
    model = StackGANStageI(**{**recipe.model_kwargs, **model_changes})
    info = train_stage1_checkpoint(model, seed=recipe.seed, device=device, progress=progress,
                                   **{**recipe.train_kwargs, **train_changes})
    try:
        baseline = checkpoints.read_record("stackgan_stage1")["quality"]
    except checkpoints.CheckpointError:
        baseline = None
    result = {
        "ablation": which,
        "changes": {"model": model_changes, "training": train_changes},
        "recipe": {"model_kwargs": recipe.model_kwargs, "train_kwargs": recipe.train_kwargs, "seed": recipe.seed},
        "script": f"python -m course_utils.models.stackgan ablation {which}",
        "commit": checkpoints._git("rev-parse", "HEAD") or "unknown",
        "data": info["data"], "epochs": info["epochs"], "wall_time_s": info["wall_time_s"],
        "quality": info["quality"], "shipped_stage1_quality": baseline, "train_history": info["train_history"],
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if write:
        path = ablation_path(which)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def read_ablation(which: str = "no_mismatch") -> dict[str, Any]:
    """The recorded ablation (see :func:`run_stage1_ablation`), with a clear error when it has not been run."""
    import json

    path = ablation_path(which)
    if not path.is_file():
        raise FileNotFoundError(f"no ablation record {path}; run `python -m course_utils.models.stackgan ablation {which}`")
    return json.loads(path.read_text())


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m course_utils.models.stackgan")
    commands = parser.add_subparsers(dest="command", required=True)
    ablation = commands.add_parser("ablation", help="retrain Stage-I without one part and record its text-image agreement")
    ablation.add_argument("which", nargs="?", default="no_mismatch", choices=sorted(ABLATIONS))
    ablation.add_argument("--device", default=None)
    args = parser.parse_args()
    out = run_stage1_ablation(args.which, device=args.device)
    print(json.dumps({"ablation": out["quality"], "shipped": out["shipped_stage1_quality"]}, indent=1))
