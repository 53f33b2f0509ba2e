# Mutant: the sampler's timestep is off by one: the model is asked about t - 1 while the step is taken at t
# %% grade_id=sample
def sample(model, shape, betas, labels=None):
    T = len(betas) - 1
    x = torch.randn(shape)
    with torch.no_grad():
        for t in range(T, 0, -1):
            t_batch = torch.full((shape[0],), t - 1, dtype=torch.long)  # 0-based timesteps
            x = reverse_step(x, t, model(x, t_batch, labels), betas)
    return x
