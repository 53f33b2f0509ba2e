# Mutant: partial denoising noises to t_start but starts the reverse chain one step lower, at t_start - 1
# %% grade_id=partial
def partial_denoise(model, x0, t_start, betas, labels=None):
    alpha_bars = alpha_bars_from_betas(betas)
    t_batch = torch.full((len(x0),), t_start, dtype=torch.long)
    x_t = q_sample(x0, t_batch, alpha_bars, torch.randn_like(x0))
    x = x_t
    with torch.no_grad():
        for t in range(t_start - 1, 0, -1):
            t_batch = torch.full((len(x0),), t, dtype=torch.long)
            x = reverse_step(x, t, model(x, t_batch, labels), betas)
    return x_t, x
