# Mutant: z = mu + logvar * eps
# %% grade_id=reparameterize
def reparameterize(mu, logvar):
    return mu + logvar * torch.randn_like(mu)
