# Mutant: the KL is averaged over the latent dimensions (while the reconstruction is summed over pixels)
# %% grade_id=gaussian_kl
def gaussian_kl(mu, logvar):
    per_dimension = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    return per_dimension.mean(dim=1)
