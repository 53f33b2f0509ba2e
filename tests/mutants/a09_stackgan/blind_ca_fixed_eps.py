# Mutant: when eps is None it is drawn from a generator seeded once in __init__ and re-seeded each call, so every call gives the same eps (not fresh)
# %% grade_id=conditioning_augmentation
class ConditioningAugmentation(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16):
        super().__init__()
        self.cond_dim = cond_dim
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)
        self.seed = 1234  # reproducible conditioning

    def forward(self, phi, eps=None):
        stats = self.fc(phi)
        mu, logvar = stats[:, :self.cond_dim], stats[:, self.cond_dim:]
        if eps is None:
            gen = torch.Generator(device=mu.device).manual_seed(self.seed)
            eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
        c = mu + torch.exp(logvar / 2) * eps
        return c, mu, logvar
