# Mutant: the last reverse step (t = 1) adds noise: a zero posterior variance is replaced by beta_1
# %% grade_id=reverse
def reverse_mean_variance(x_t, t, noise_pred, betas):
    alpha_bars = alpha_bars_from_betas(betas)
    beta, alpha_bar, alpha_bar_prev = float(betas[t]), float(alpha_bars[t]), float(alpha_bars[t - 1])
    mean = (x_t - beta / math.sqrt(1 - alpha_bar) * noise_pred) / math.sqrt(1 - beta)
    variance = (1 - alpha_bar_prev) / (1 - alpha_bar) * beta
    return mean, variance


def reverse_step(x_t, t, noise_pred, betas):
    mean, variance = reverse_mean_variance(x_t, t, noise_pred, betas)
    if variance <= 0:
        variance = float(betas[t])  # avoid a zero standard deviation
    return mean + math.sqrt(variance) * torch.randn_like(x_t)
