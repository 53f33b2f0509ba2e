# Mutant: q_sample scales the noise by (1 - alpha_bar_t), the variance, instead of its square root
# %% grade_id=q_sample
def q_sample(x0, t, alpha_bars, noise):
    alpha_bar = alpha_bars[t].to(x0.dtype).reshape(-1, *[1] * (x0.dim() - 1))
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar) * noise
