# Mutant: the Bernoulli log-likelihood through log(sigmoid(l)), which is -inf for large logits
# %% grade_id=elbo
def elbo(x, logits, mu, logvar):
    n = x.shape[0]
    p = torch.sigmoid(logits.reshape(n, -1))
    x = x.reshape(n, -1)
    log_likelihood = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=1)
    return log_likelihood - gaussian_kl(mu, logvar)


def vae_loss(x, logits, mu, logvar):
    return -elbo(x, logits, mu, logvar).mean()
