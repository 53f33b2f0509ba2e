# Mutant: Stage-II draws from the caption alone (the Stage-I image is never read) and its blocks return F(x) with no identity path
# %% grade_id=stage_two
class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return self.body(x)


class StageIIGenerator(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, n_residual=2):
        super().__init__()
        self.ca = ConditioningAugmentation(embed_dim, cond_dim)
        self.project = nn.Sequential(nn.Linear(cond_dim, 48 * 14 * 14), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(48) for _ in range(n_residual)])
        self.decode = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(48, 1, 3, padding=1), nn.Tanh())

    def forward(self, low_res, phi, eps=None):
        c, mu, logvar = self.ca(phi, eps)
        h = self.project(c).view(len(c), 48, 14, 14)
        return self.decode(self.blocks(h)), mu, logvar
