# Mutant: gaming: the course's reference schedules pasted in with their names changed (no import of the reference runs)
# %% grade_id=schedules
def linear_betas(T, beta_1=1e-4, beta_T=0.02):
    if int(T) != T or T < 1:
        raise ValueError(f"bad T {T!r}")
    beta_1 = 0.1 / T if beta_1 is None else beta_1
    beta_T = 20.0 / T if beta_T is None else beta_T
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(f"bad range {beta_1} {beta_T}")
    out = torch.zeros(T + 1, dtype=torch.float64)
    out[1:] = torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
    return out


def cosine_betas(T, s=0.008, max_beta=0.999):
    if int(T) != T or T < 1:
        raise ValueError(f"bad T {T!r}")
    ts = torch.arange(T + 1, dtype=torch.float64)
    g = torch.cos((ts / T + s) / (1 + s) * math.pi / 2) ** 2
    abar = g / g[0]
    out = torch.zeros(T + 1, dtype=torch.float64)
    out[1:] = (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)
    return out


def alpha_bars_from_betas(betas):
    return torch.cumprod(1 - betas, dim=0)
