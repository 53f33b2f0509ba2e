# Mutant: alpha_bar_t taken as a sum, 1 - (beta_1 + ... + beta_t), instead of the product of (1 - beta_s)
# %% grade_id=schedules
def linear_betas(T, beta_1=1e-4, beta_T=0.02):
    betas = torch.zeros(T + 1, dtype=torch.float64)
    betas[1:] = torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
    return betas


def cosine_betas(T, s=0.008, max_beta=0.999):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = torch.zeros(T + 1, dtype=torch.float64)
    betas[1:] = torch.clamp(1 - f[1:] / f[:-1], max=max_beta)
    return betas


def alpha_bars_from_betas(betas):
    return (1 - torch.cumsum(betas, dim=0)).clamp(min=1e-8)
