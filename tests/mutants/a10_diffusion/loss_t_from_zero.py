# Mutant: the training timesteps are drawn from 0..T-1 (torch.randint's bound taken as inclusive), never T
# %% grade_id=loss
def noise_prediction_loss(model, x0, alpha_bars, labels=None):
    T = len(alpha_bars) - 1
    t = torch.randint(0, T, (len(x0),), device=x0.device)
    noise = torch.randn_like(x0)
    x_t = q_sample(x0, t, alpha_bars, noise)
    return ((model(x_t, t, labels) - noise) ** 2).mean()
