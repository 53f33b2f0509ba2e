"""The variational autoencoder (Kingma and Welling, 2014): the pieces of chapter 8's second half.

A VAE's encoder outputs a Gaussian q(z | x) = N(mu(x), diag(exp(logvar(x)))) instead of a single code;
its decoder defines p(x | z) (Bernoulli pixels with the decoder's logits, or Gaussian pixels); the prior is
p(z) = N(0, I). Training maximises the evidence lower bound (ELBO) of every image,

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z))  <=  log p(x),

estimated with one sample z = mu + sigma * eps (the reparameterisation trick), so that gradients reach the
encoder. All per-image terms are **summed** over pixels and over latent dimensions, then averaged over the batch.

* :func:`reparameterize`, :func:`gaussian_kl` (closed form, against N(0, I)), :func:`gaussian_kl_between`
  (two diagonal Gaussians), :func:`bernoulli_log_likelihood`, :func:`gaussian_log_likelihood`, :func:`elbo`,
  :func:`vae_loss`.
* :class:`ConvEncoder`, :class:`ConvDecoder`, :class:`VAE`, with the architecture variants of the chapter
  (:data:`VARIANTS`): an encoder with an encoder-decoder inside it, a decoder with one inside it, both.
* :func:`evaluate_vae`: held-out ELBO, reconstruction and KL; :func:`train_vae_checkpoint`: the recipe of the
  shipped checkpoints (see :mod:`course_utils.checkpoints`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.grading import reference

LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------- the formulas
@reference
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample z = mu + exp(logvar / 2) * eps with eps ~ N(0, I), differentiable in mu and logvar."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device="cpu" if generator is not None else mu.device)
    std = torch.exp(0.5 * logvar)  # sigma = sqrt(exp(logvar))
    return mu + std * eps.to(mu.device)


@reference
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row, summed over the latent dimensions: (N, d) -> (N,).

    Per dimension: (sigma^2 + mu^2 - 1 - log sigma^2) / 2.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")
    return 0.5 * (logvar.exp() + mu**2 - 1.0 - logvar).sum(dim=-1)


@reference
def gaussian_kl_between(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, diag var_q) || N(mu_p, diag var_p)) per row, summed over the last dimension.

    Per dimension: (log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1) / 2.
    """
    if not mu_q.shape == logvar_q.shape:
        raise ValueError(f"mu_q {tuple(mu_q.shape)} and logvar_q {tuple(logvar_q.shape)} must have the same shape")
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(dim=-1)


@reference
def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for independent Bernoulli pixels with the decoder's logits, summed per image: (N, ...) -> (N,).

    x log sigmoid(l) + (1 - x) log sigmoid(-l) = -BCE; written through ``binary_cross_entropy_with_logits``,
    which stays finite for large logits. Grey values in [0, 1] are accepted (the usual MNIST practice).
    """
    if logits.shape != x.shape:
        raise ValueError(f"logits have shape {tuple(logits.shape)} but the images {tuple(x.shape)}")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


@reference
def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_scale)^2) for independent pixels, summed per image: (N, ...) -> (N,)."""
    log_scale = torch.as_tensor(log_scale, dtype=x.dtype, device=x.device).expand_as(x)
    per_pixel = -0.5 * LOG_2PI - log_scale - 0.5 * ((x - mean) / log_scale.exp()) ** 2
    return per_pixel.flatten(1).sum(1)


@reference
def elbo(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """One-sample ELBO per image with a Bernoulli decoder: log p(x | z) - KL(q(z | x) || N(0, I)), shape (N,)."""
    if len(x) != len(mu):
        raise ValueError(f"{len(x)} images but {len(mu)} posterior means")
    return bernoulli_log_likelihood(x, logits) - gaussian_kl(mu, logvar)


# ---------------------------------------------------------------- the networks
def _down(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]  # halves the height and width


def _up(c_in: int, c_out: int, last: bool = False) -> list[nn.Module]:
    layer = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)  # doubles the height and width
    return [layer] if last else [layer, nn.ReLU()]


@reference
class ConvEncoder(nn.Module):
    """q(z | x): (N, 1, 28, 28) -> mu, logvar (N, latent_dim).

    ``inner_decoder=True`` puts an encoder-decoder inside the encoder: after downsampling to 7x7 the
    features are upsampled to 14x14 and downsampled again before the Gaussian heads.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32, inner_decoder: bool = False) -> None:
        super().__init__()
        layers = _down(1, width) + _down(width, 2 * width)  # (N, 2w, 7, 7)
        if inner_decoder:
            layers += _up(2 * width, width) + _down(width, 2 * width)  # 7 -> 14 -> 7
        self.features = nn.Sequential(*layers, nn.Flatten())  # (N, 2w * 49)
        self.mu = nn.Linear(2 * width * 49, latent_dim)
        self.logvar = nn.Linear(2 * width * 49, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"ConvEncoder expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        h = self.features(x)  # (N, 2w * 49)
        return self.mu(h), self.logvar(h)


@reference
class ConvDecoder(nn.Module):
    """p(x | z): (N, latent_dim) -> logits (N, 1, 28, 28).

    ``inner_encoder=True`` puts an encoder-decoder inside the decoder: after the first upsampling to
    14x14 the features go down to 7x7 and up again before the last upsampling to 28x28.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32, inner_encoder: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, 2 * width * 49), nn.ReLU(), nn.Unflatten(1, (2 * width, 7, 7))]
        layers += _up(2 * width, width)  # (N, w, 14, 14)
        if inner_encoder:
            layers += _down(width, 2 * width) + _up(2 * width, width)  # 14 -> 7 -> 14
        layers += _up(width, 1, last=True)  # (N, 1, 28, 28) logits
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2:
            raise ValueError(f"ConvDecoder expects codes of shape (N, latent_dim), got {tuple(z.shape)}")
        return self.net(z)  # (N, 1, 28, 28) logits


@reference
class VAE(nn.Module):
    """Convolutional VAE with a Gaussian encoder, a N(0, I) prior and a Bernoulli (or Gaussian) decoder."""

    def __init__(self, latent_dim: int = 16, width: int = 32, inner_decoder: bool = False, inner_encoder: bool = False,
                 likelihood: str = "bernoulli") -> None:
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        self.latent_dim, self.likelihood = latent_dim, likelihood
        self.encoder = ConvEncoder(latent_dim, width, inner_decoder)
        self.decoder = ConvDecoder(latent_dim, width, inner_encoder)
        if likelihood == "gaussian":  # one learned pixel noise level, log sigma
            self.log_scale = nn.Parameter(torch.tensor(-1.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (decoder logits (N, 1, 28, 28), mu, logvar) for one reparameterised sample per image."""
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar)  # (N, latent_dim), differentiable in mu and logvar
        logits = self.decoder(z)
        return logits, mu, logvar

    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per image under this model's decoder distribution."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, logits)
        return gaussian_log_likelihood(x, torch.sigmoid(logits), self.log_scale)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images drawn from the prior and decoded: the decoder's mean (pixel probabilities) in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each image: a deterministic reconstruction in [0, 1]."""
        mu, _ = self.encoder(x)
        return torch.sigmoid(self.decoder(mu))


VARIANTS: dict[str, dict[str, bool]] = {
    "plain": {"inner_decoder": False, "inner_encoder": False},
    "encoder with inner encoder-decoder": {"inner_decoder": True, "inner_encoder": False},
    "decoder with inner encoder-decoder": {"inner_decoder": False, "inner_encoder": True},
    "both": {"inner_decoder": True, "inner_encoder": True},
}


@reference
def vae_loss(model: VAE, x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Negative ELBO averaged over the batch (with the KL weighted by ``beta``), and its two terms.

    Returns ``{"loss", "reconstruction", "kl"}``: reconstruction = -E_q log p(x | z) and kl = KL(q || p)
    per image, both summed over pixels or latent dimensions, averaged over the batch.
    """
    logits, mu, logvar = model(x)
    reconstruction = -model.log_likelihood(x, logits).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl}


@torch.no_grad()
def evaluate_vae(model: VAE, images: torch.Tensor, batch_size: int = 500, seed: int = 0) -> dict[str, float]:
    """Held-out means per image: ``elbo`` (one sample per image, fixed seed), ``reconstruction`` (BCE, or negative
    log-likelihood for a Gaussian decoder, of the decoded posterior mean), ``kl`` (in nats)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    totals = {"elbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        mu, logvar = model.encoder(x)
        z = reparameterize(mu, logvar, generator=generator)
        kl = gaussian_kl(mu, logvar)
        totals["elbo"] += float((model.log_likelihood(x, model.decoder(z)) - kl).sum())
        totals["reconstruction"] += float(-model.log_likelihood(x, model.decoder(mu)).sum())
        totals["kl"] += float(kl.sum())
    return {key: value / len(images) for key, value in totals.items()}


def train_vae_checkpoint(model: VAE, epochs: int = 30, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                         device: torch.device | str | None = None, progress: bool = True) -> dict[str, Any]:
    """The recipe of the shipped VAE checkpoints: Adam with a cosine schedule on MNIST's training split.

    Returns the record's fields: data, epochs, wall time, the training history and the quality measured on
    the test split (held-out ELBO, reconstruction and KL per image, and the digit classifier's view of
    1,000 samples from the prior, see :mod:`course_utils.generative`).
    """
    from course_utils import generative
    from course_utils.data import DeviceLoader
    from course_utils.models.autoencoder import train_autoencoder
    from course_utils.runtime import get_device, seed_everything

    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    train_images, _, fallback = generative.mnist_digits(True, device, verbose=True)
    test_images, _, _ = generative.mnist_digits(False, device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    batches = DeviceLoader(train_images, batch_size=batch_size, seed=seed)
    start = time.perf_counter()
    history = train_autoencoder(model, batches, vae_loss, epochs=epochs, optimizer=optimizer, device=device,
                                progress=progress, scheduler=scheduler)
    wall = time.perf_counter() - start
    held_out = evaluate_vae(model, test_images)
    samples = model.sample(1000, generator=torch.Generator().manual_seed(seed))
    classifier = generative.load_digit_classifier(device=device, verbose=False)
    quality = {
        "held_out_elbo_nats": round(held_out["elbo"], 2),
        "held_out_reconstruction_nats": round(held_out["reconstruction"], 2),
        "held_out_kl_nats": round(held_out["kl"], 2),
        "prior_samples": generative.sample_quality(samples, test_images, classifier),
    }
    model.cpu().eval()
    return {"data": generative.data_description(fallback, len(train_images), len(test_images)), "epochs": epochs,
            "wall_time_s": round(wall, 1), "train_history": {k: [round(v, 3) for v in vs] for k, vs in history.items()},
            "quality": quality}
