# Mutant: the KL treats the log-variance as the variance
# %% grade_id=gaussian_kl
def gaussian_kl(mu, logvar):
    var = logvar  # wrong: logvar is log(sigma^2), not sigma^2
    return (0.5 * (var + mu**2 - 1 - torch.log(var))).sum(dim=1)
