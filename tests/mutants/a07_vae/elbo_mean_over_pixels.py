# Mutant: the reconstruction term averaged over pixels (F.binary_cross_entropy_with_logits' default) while the KL is summed
# %% grade_id=elbo
def elbo(x, logits, mu, logvar):
    n = x.shape[0]
    log_likelihood = -F.binary_cross_entropy_with_logits(logits.reshape(n, -1), x.reshape(n, -1), reduction="none").mean(dim=1)
    return log_likelihood - gaussian_kl(mu, logvar)


def vae_loss(x, logits, mu, logvar):
    return -elbo(x, logits, mu, logvar).mean()
