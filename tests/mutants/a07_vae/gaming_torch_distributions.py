# Mutant: gaming attempt: every formula through torch.distributions (the instructions forbid it)
# %% grade_id=reparameterize
from torch.distributions import Normal as _N


def reparameterize(mu, logvar):
    return _N(mu, torch.exp(0.5 * logvar)).rsample()
# %% grade_id=gaussian_kl
from torch.distributions import Normal as _N, kl_divergence as _kl


def gaussian_kl(mu, logvar):
    return _kl(_N(mu, torch.exp(0.5 * logvar)), _N(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1)
# %% grade_id=elbo
from torch.distributions import Bernoulli as _B


def elbo(x, logits, mu, logvar):
    n = x.shape[0]
    return _B(logits=logits.reshape(n, -1), validate_args=False).log_prob(x.reshape(n, -1)).sum(dim=1) - gaussian_kl(mu, logvar)


def vae_loss(x, logits, mu, logvar):
    return -elbo(x, logits, mu, logvar).mean()
