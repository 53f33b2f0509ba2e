# Mutant: the reverse step's variance is beta_t instead of the posterior variance (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t) beta_t
# %% grade_id=reverse
def reverse_mean_variance(x_t, t, noise_pred, betas):
    alpha_bars = alpha_bars_from_betas(betas)
    beta, alpha_bar = float(betas[t]), float(alpha_bars[t])
    mean = (x_t - beta / math.sqrt(1 - alpha_bar) * noise_pred) / math.sqrt(1 - beta)
    return mean, beta


def reverse_step(x_t, t, noise_pred, betas):
    mean, variance = reverse_mean_variance(x_t, t, noise_pred, betas)
    if t == 1:
        return mean
    return mean + math.sqrt(variance) * torch.randn_like(x_t)
