# Mutant: gaussian_kl clamps logvar to [-10, 10] 'for numerical stability': wrong value and zero gradient for log-variances beyond +-10
# %% grade_id=gaussian_kl
def gaussian_kl(mu, logvar):
    # KL(N(mu, diag(exp(logvar))) || N(0, I)) for every row of mu, logvar (N, d): a tensor of shape (N,).
    logvar = torch.clamp(logvar, -10.0, 10.0)  # keep exp(logvar) in a safe range
    return 0.5 * (torch.exp(logvar) + mu.pow(2) - 1.0 - logvar).sum(dim=1)
