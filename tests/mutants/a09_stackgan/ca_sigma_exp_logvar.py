# Mutant: conditioning augmentation takes sigma = exp(logvar), the variance, instead of exp(logvar / 2)
# %% grade_id=conditioning_augmentation
class ConditioningAugmentation(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16):
        super().__init__()
        self.cond_dim = cond_dim
        self.linear = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi, eps=None):
        out = self.linear(phi)
        mu, logvar = out[:, :self.cond_dim], out[:, self.cond_dim:]
        if eps is None:
            eps = torch.randn(mu.shape)
        return mu + torch.exp(logvar) * eps, mu, logvar
