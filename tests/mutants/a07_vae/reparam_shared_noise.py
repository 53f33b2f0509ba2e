# Mutant: one noise vector shared by every row of the batch
# %% grade_id=reparameterize
def reparameterize(mu, logvar):
    eps = torch.randn(mu.shape[-1])  # one draw per latent dimension, broadcast over the batch
    return mu + torch.exp(0.5 * logvar) * eps
