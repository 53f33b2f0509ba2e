# Mutant: conditioning augmentation uses the layer's log-variance as sigma: c = mu + logvar * eps
# %% grade_id=conditioning_augmentation
class ConditioningAugmentation(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16):
        super().__init__()
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi, eps=None):
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + logvar * eps, mu, logvar
