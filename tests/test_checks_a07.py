"""The a07_vae checks accept correct code and refuse the classic mistakes (fast; the nbgrader round trip is in test_assignments)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import a07_vae as C


def reparameterize(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def gaussian_kl(mu, logvar):
    return (-0.5 * (1 + logvar - mu * mu - torch.exp(logvar))).sum(1)


def elbo(x, logits, mu, logvar):
    flat = F.binary_cross_entropy_with_logits(logits.flatten(1), x.flatten(1), reduction="none")
    return -flat.sum(1) - gaussian_kl(mu, logvar)


def vae_loss(x, logits, mu, logvar):
    return -elbo(x, logits, mu, logvar).mean()


class Encoder(nn.Module):
    def __init__(self, latent_dim, inner_decoder=False):
        super().__init__()
        layers = [nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU()]
        if inner_decoder:
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(16, 8, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 1)]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * 49, 2 * latent_dim))

    def forward(self, x):
        mu, logvar = self.net(x).chunk(2, 1)
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self, latent_dim, inner_encoder=False):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 16 * 49)
        layers = [nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU()]
        if inner_encoder:
            layers += [nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(), nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, z):
        return self.net(self.fc(z).view(-1, 16, 7, 7))


class VAE(nn.Module):
    def __init__(self, latent_dim=16, inner_decoder=False, inner_encoder=False):
        super().__init__()
        self.encoder = Encoder(latent_dim, inner_decoder)
        self.decoder = Decoder(latent_dim, inner_encoder)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar


def train_vae(model, images, epochs, batch_size=32, lr=3e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "reconstruction": [], "kl": []}
    for _ in range(epochs):
        model.train()
        total = kl_total = 0.0
        for index in torch.randperm(len(images)).split(batch_size):
            x = images[index]
            logits, mu, logvar = model(x)
            loss = vae_loss(x, logits, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            kl_total += gaussian_kl(mu, logvar).sum().item()
        history["loss"].append(total / len(images))
        history["kl"].append(kl_total / len(images))
        history["reconstruction"].append(history["loss"][-1] - history["kl"][-1])
    return history


def _fails(check, *args, match=None):
    with pytest.raises(AssertionError, match=match):
        check(*args)


def test_correct_formulas_pass():
    rng = np.random.default_rng(0)
    C.check_reparameterize(reparameterize, rng)
    C.check_gaussian_kl(gaussian_kl, rng)
    C.check_elbo(elbo, vae_loss, rng)


def test_reparameterisation_mistakes_fail():
    rng = np.random.default_rng(1)
    _fails(C.check_reparameterize, lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu), rng, match="dz/dlogvar")
    _fails(C.check_reparameterize, lambda mu, logvar: mu + logvar * torch.randn_like(mu), rng, match="dz/dlogvar")
    _fails(C.check_reparameterize, lambda mu, logvar: torch.normal(mu, torch.exp(0.5 * logvar)), rng, match="dz/dmu")
    _fails(C.check_reparameterize, lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[-1]), rng,
           match="standard deviation")

    def fixed_noise(mu, logvar):
        torch.manual_seed(0)
        return reparameterize(mu, logvar)

    _fails(C.check_reparameterize, fixed_noise, rng, match="fresh noise")

    def with_distributions(mu, logvar):
        from torch.distributions import Normal

        return Normal(mu, torch.exp(0.5 * logvar)).rsample()

    _fails(C.check_reparameterize, with_distributions, rng, match="torch.distributions")


def test_kl_and_elbo_mistakes_fail():
    rng = np.random.default_rng(2)
    _fails(C.check_gaussian_kl, lambda mu, logvar: (-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean(1), rng)
    _fails(C.check_gaussian_kl, lambda mu, logvar: (0.5 * (logvar + mu**2 - 1 - torch.log(logvar))).sum(1), rng)
    _fails(C.check_gaussian_kl, lambda mu, logvar: (-0.5 * (1 + logvar - mu**2 - logvar.exp())).sum(), rng, match="shape")

    def pixel_mean(x, logits, mu, logvar):
        return -F.binary_cross_entropy_with_logits(logits.flatten(1), x.flatten(1), reduction="none").mean(1) - gaussian_kl(mu, logvar)

    def unstable(x, logits, mu, logvar):
        p = torch.sigmoid(logits.flatten(1))
        x = x.flatten(1)
        return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1) - gaussian_kl(mu, logvar)

    _fails(C.check_elbo, pixel_mean, vae_loss, rng)
    _fails(C.check_elbo, unstable, lambda x, l, m, v: -unstable(x, l, m, v).mean(), rng, match=r"150")
    _fails(C.check_elbo, elbo, lambda x, l, m, v: elbo(x, l, m, v).mean(), rng, match="vae_loss")
    _fails(C.check_elbo, elbo, lambda x, l, m, v: -elbo(x, l, m, v).sum(), rng, match="vae_loss")


def test_architecture_checks():
    C.check_architecture(Encoder, Decoder, VAE, np.random.default_rng(3))

    class Deterministic(VAE):
        def forward(self, x):
            mu, logvar = self.encoder(x)
            return self.decoder(mu), mu, logvar

    _fails(C.check_architecture, Encoder, Decoder, Deterministic, np.random.default_rng(3), match="fresh sample")

    class FlatEncoder(Encoder):
        def __init__(self, latent_dim, inner_decoder=False):
            super().__init__(latent_dim, False)

    _fails(C.check_architecture, FlatEncoder, Decoder, VAE, np.random.default_rng(3), match="grow again")

    class DetachedVAE(VAE):
        def forward(self, x):
            mu, logvar = self.encoder(x)
            return self.decoder(reparameterize(mu, logvar).detach()), mu, logvar

    _fails(C.check_architecture, Encoder, Decoder, DetachedVAE, np.random.default_rng(3), match="gradient")


def test_training_checks():
    images = torch.rand(96, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    C.check_train_vae_history(train_vae, VAE, images, epochs=2)
    C.check_train_vae_history(train_vae, VAE, images, epochs=2, batch_size=40)

    def ignores_lr(model, images, epochs, batch_size=32, lr=3e-3):
        return train_vae(model, images, epochs, batch_size, 1e-3)

    def no_shuffle(model, images, epochs, batch_size=32, lr=3e-3):
        generator = torch.Generator().manual_seed(0)
        original = torch.randperm
        try:
            torch.randperm = lambda n, **kw: original(n, generator=generator.manual_seed(0))
            return train_vae(model, images, epochs, batch_size, lr)
        finally:
            torch.randperm = original

    def extra_epoch(model, images, epochs, batch_size=32, lr=3e-3):
        return train_vae(model, images, epochs + 1, batch_size, lr)

    def kl_only_history(model, images, epochs, batch_size=32, lr=3e-3):
        history = train_vae(model, images, epochs, batch_size, lr)
        history["reconstruction"] = [v + 1.0 for v in history["reconstruction"]]
        return history

    _fails(C.check_train_vae_history, ignores_lr, VAE, images, match="lr=0")
    _fails(C.check_train_vae_history, no_shuffle, VAE, images, match="shuffle")
    _fails(C.check_train_vae_history, extra_epoch, VAE, images)
    _fails(C.check_train_vae_history, kl_only_history, VAE, images, match="reconstruction")
    def ignores_batch_size(model, images, epochs, batch_size=32, lr=3e-3):
        return train_vae(model, images, epochs, 32, lr)

    _fails(C.check_train_vae_history, ignores_batch_size, VAE, images, 2, 25, match="batch_size=25")


def test_training_that_does_not_start_from_the_given_model_fails():
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))

    def never_switches_to_training(model, images, epochs, batch_size=32, lr=3e-3):
        model.train = lambda mode=True: model  # the model stays in the evaluation mode it was handed over in
        return train_vae(model, images, epochs, batch_size, lr)

    def loads_other_weights(model, images, epochs, batch_size=32, lr=3e-3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        return train_vae(model, images, epochs, batch_size, lr)

    def trains_the_encoder_on_the_side(model, images, epochs, batch_size=32, lr=3e-3):
        history = train_vae(model, images, epochs, batch_size, lr)
        model.train()
        mu, logvar = model.encoder(images[:8])
        (mu.pow(2).sum() + logvar.pow(2).sum()).backward()
        return history

    _fails(C.check_train_vae_history, never_switches_to_training, VAE, images, match="training mode")
    _fails(C.check_train_vae_history, loads_other_weights, VAE, images, match="initial parameters")
    _fails(C.check_train_vae_history, trains_the_encoder_on_the_side, VAE, images, match="model.encoder ran")
