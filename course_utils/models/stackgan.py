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
"""

from __future__ import annotations

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
