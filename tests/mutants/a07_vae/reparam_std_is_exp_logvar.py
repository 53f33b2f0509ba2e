# Mutant: std = exp(logvar) instead of exp(logvar / 2)
# %% grade_id=reparameterize
def reparameterize(mu, logvar):
    std = torch.exp(logvar)
    return mu + std * torch.randn_like(std)
