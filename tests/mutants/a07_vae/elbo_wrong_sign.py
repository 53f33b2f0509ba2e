# Mutant: the ELBO with the wrong sign (KL minus log-likelihood), so training climbs the loss
# %% grade_id=elbo
def elbo(x, logits, mu, logvar):
    n = x.shape[0]
    log_likelihood = -F.binary_cross_entropy_with_logits(logits.reshape(n, -1), x.reshape(n, -1), reduction="none").sum(dim=1)
    return gaussian_kl(mu, logvar) - log_likelihood


def vae_loss(x, logits, mu, logvar):
    return -elbo(x, logits, mu, logvar).mean()
