"""Autoencoders: the pieces of chapter 8's first half.

An autoencoder maps an input x through an *encoder* f to a code h = f(x) (the bottleneck) and back
through a *decoder* g to a reconstruction g(h), and is trained to make g(f(x)) close to x.

* :class:`MLPAutoencoder`, :class:`ConvAutoencoder`: undercomplete autoencoders for 28x28 digits.
  Decoders return **logits**; ``torch.sigmoid`` turns them into grey values in [0, 1].
* :func:`reconstruction_loss`: binary cross-entropy (a Bernoulli decoder) or squared error (a Gaussian one),
  summed over pixels and averaged over the batch.
* Regularisers: :func:`l1_sparsity_penalty` and :func:`kl_sparsity_penalty` (sparse autoencoders),
  :func:`corrupt` (denoising autoencoders), :func:`contractive_penalty` (contractive autoencoders, the
  Jacobian of the code computed with autograd) and its closed form for a one-layer sigmoid encoder,
  :func:`contractive_penalty_sigmoid`.
* :func:`train_autoencoder`: a plain training loop for any model and loss that returns named terms.

Images are (N, 1, 28, 28) grey values in [0, 1] (not the classifier's normalised inputs).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.grading import reference

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder 784 -> hidden -> latent -> hidden -> 784 (decoder output: logits).

    ``code_activation`` shapes the bottleneck: ``"linear"`` (an unconstrained code), ``"relu"`` (non-negative,
    for L1 sparsity) or ``"sigmoid"`` (in (0, 1), for the KL sparsity target and the contractive closed form).
    """

    def __init__(self, latent_dim: int = 32, hidden: int = 256, code_activation: str = "linear") -> None:
        super().__init__()
        activations = {"linear": nn.Identity(), "relu": nn.ReLU(), "sigmoid": nn.Sigmoid()}
        if code_activation not in activations:
            raise ValueError(f"code_activation must be one of {sorted(activations)}, got {code_activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        if hidden:
            layers += [nn.Linear(N_PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim)]
        else:  # one layer: h = act(W x + b)
            layers += [nn.Linear(N_PIXELS, latent_dim)]
        self.encoder = nn.Sequential(*layers, activations[code_activation])
        decoder: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, N_PIXELS)] if hidden \
            else [nn.Linear(latent_dim, N_PIXELS)]
        self.decoder = nn.Sequential(*decoder, nn.Unflatten(1, IMAGE_SHAPE))
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (reconstruction logits (N, 1, 28, 28), code (N, latent_dim))."""
        code = self.encoder(x)
        return self.decoder(code), code


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder: two stride-2 convolutions down to 7x7, a linear bottleneck, and back up."""

    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.ReLU(),  # (N, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),  # (N, 2w, 7, 7)
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, latent_dim),  # (N, latent)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7), nn.ReLU(), nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),  # (N, w, 14, 14)
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # (N, 1, 28, 28) logits
        )
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (reconstruction logits (N, 1, 28, 28), code (N, latent_dim))."""
        code = self.encoder(x)
        return self.decoder(code), code


# ------------------------------------------------------------------ losses
@reference
def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Mean over the batch of a per-image loss summed over pixels: ``"bce"`` (Bernoulli) or ``"mse"`` (Gaussian).

    BCE takes the decoder's logits (``binary_cross_entropy_with_logits`` is stable for large logits);
    MSE compares sigmoid(logits) with x.
    """
    if logits.shape != x.shape:
        raise ValueError(f"logits have shape {tuple(logits.shape)} but the images {tuple(x.shape)}")
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif kind == "mse":
        per_pixel = (torch.sigmoid(logits) - x) ** 2
    else:
        raise ValueError(f"kind must be 'bce' or 'mse', got {kind!r}")
    return per_pixel.flatten(1).sum(1).mean()


@reference
def l1_sparsity_penalty(code: torch.Tensor) -> torch.Tensor:
    """lambda-free L1 penalty sum_j |h_j|, averaged over the batch."""
    return code.abs().sum(1).mean()


@reference
def kl_sparsity_penalty(code: torch.Tensor, target: float = 0.05, eps: float = 1e-6) -> torch.Tensor:
    """sum_j KL(Bernoulli(target) || Bernoulli(rho_hat_j)), rho_hat_j = mean activation of unit j over the batch.

    The code must lie in (0, 1) (a sigmoid bottleneck). The penalty is zero when every unit is active
    on average a fraction ``target`` of the time.
    """
    if not 0 < target < 1:
        raise ValueError(f"target must lie in (0, 1), got {target}")
    rho_hat = code.mean(0).clamp(eps, 1 - eps)  # (latent,)
    rho = torch.full_like(rho_hat, target)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def corrupt(x: torch.Tensor, kind: str = "gaussian", level: float = 0.5,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """A noisy copy of images in [0, 1]: ``"gaussian"`` adds N(0, level^2) noise (clipped to [0, 1]);
    ``"masking"`` sets a random fraction ``level`` of the pixels to 0."""
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device if generator is None else "cpu").to(x.device)
        return (x + level * noise).clamp(0, 1)
    if kind == "masking":
        keep = torch.rand(x.shape, generator=generator, device=x.device if generator is None else "cpu").to(x.device) >= level
        return x * keep
    raise ValueError(f"kind must be 'gaussian' or 'masking', got {kind!r}")


@reference
def contractive_penalty(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """||d h / d x||_F^2 averaged over the batch, with the Jacobian of the code computed by autograd.

    One backward pass per code unit j gives row j of every sample's Jacobian at once, because
    h_j of sample n depends on sample n only. ``create_graph=True`` keeps the penalty differentiable,
    so it can be trained on.
    """
    x = x.detach().requires_grad_(True)
    code = encoder(x)  # (N, latent)
    total = x.new_zeros(())
    for j in range(code.shape[1]):
        (row,) = torch.autograd.grad(code[:, j].sum(), x, create_graph=True)  # (N, *x.shape[1:]) = d h_j / d x
        total = total + (row**2).sum()
    return total / len(x)


@reference
def contractive_penalty_sigmoid(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Closed form of :func:`contractive_penalty` for h = sigmoid(W x + b).

    d h_j / d x_i = h_j (1 - h_j) W_ji, so ||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2.
    """
    h = torch.sigmoid(x.flatten(1) @ weight.T + bias)  # (N, latent)
    return ((h * (1 - h)) ** 2 @ (weight**2).sum(1)).mean()


# ------------------------------------------------------------------ training
Batches = Iterable[tuple[torch.Tensor, ...]]


@reference
def train_autoencoder(
    model: nn.Module,
    batches: Batches,
    loss_fn: Callable[[nn.Module, torch.Tensor], dict[str, torch.Tensor]],
    epochs: int = 1,
    optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "epochs",
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on the first tensor of each batch; return the per-epoch mean of every loss term.

    ``loss_fn(model, x)`` returns a dict of scalar tensors whose ``"loss"`` entry is minimised; the other
    entries (reconstruction, KL, penalty, ...) are only recorded. ``scheduler`` steps once per epoch.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    history: dict[str, list[float]] = {}
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for _ in bar:
        model.train()
        sums: dict[str, torch.Tensor] = {}
        seen = 0
        for batch in batches:
            x = batch[0].to(device)
            terms = loss_fn(model, x)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for key, value in terms.items():
                sums[key] = sums.get(key, 0) + value.detach() * len(x)
            seen += len(x)
        if seen == 0:
            raise ValueError("train_autoencoder got no batches")
        if scheduler is not None:
            scheduler.step()
        for key, value in sums.items():
            history.setdefault(key, []).append(float(value) / seen)
        bar.set_postfix(loss=f"{history['loss'][-1]:.2f}")
    return history


def train_autoencoder_checkpoint(model: nn.Module, epochs: int = 30, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                                 device: torch.device | str | None = None, progress: bool = True) -> dict[str, Any]:
    """The recipe of the shipped autoencoder checkpoint: BCE reconstruction, Adam with a cosine schedule.

    Its quality fields say what an autoencoder is and is not good for: the held-out reconstruction, and
    the digit classifier's view of 1,000 codes drawn from N(0, I) and decoded, as if it were a VAE.
    """
    from course_utils import generative
    from course_utils.data import DeviceLoader
    from course_utils.runtime import get_device, seed_everything

    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    train_images, _, fallback = generative.mnist_digits(True, device, verbose=True)
    test_images, _, _ = generative.mnist_digits(False, device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    start = time.perf_counter()
    history = train_autoencoder(model, DeviceLoader(train_images, batch_size=batch_size, seed=seed), autoencoder_loss,
                                epochs=epochs, optimizer=optimizer, device=device, progress=progress, scheduler=scheduler)
    wall = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        held_out = sum(float(reconstruction_loss(model(x)[0], x)) * len(x) for x in test_images.split(500)) / len(test_images)
        z = torch.randn(1000, model.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        samples = torch.sigmoid(model.decoder(z))
    classifier = generative.load_digit_classifier(device=device, verbose=False)
    quality = {"held_out_reconstruction_nats": round(held_out, 2),
               "decoded_standard_normal_codes": generative.sample_quality(samples, test_images, classifier)}
    model.cpu().eval()
    return {"data": generative.data_description(fallback, len(train_images), len(test_images)), "epochs": epochs,
            "wall_time_s": round(wall, 1), "train_history": {k: [round(v, 3) for v in vs] for k, vs in history.items()},
            "quality": quality}


def autoencoder_loss(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The plain autoencoder objective for :func:`train_autoencoder`: BCE reconstruction of x."""
    logits, _ = model(x)
    return {"loss": reconstruction_loss(logits, x)}
