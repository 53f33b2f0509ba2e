# Mutant: StageIIGenerator ignores n_residual and always builds and runs exactly 2 ResidualBlocks (right for the default only)
# %% grade_id=stage_two
class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.body(x)


class StageIIGenerator(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, n_residual=2):
        super().__init__()
        self.ca = ConditioningAugmentation(embed_dim, cond_dim)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.joint = nn.Sequential(nn.Conv2d(64 + cond_dim, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.residual = nn.Sequential(ResidualBlock(64), ResidualBlock(64))  # two blocks as in the figure
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 1, 3, padding=1), nn.Tanh())

    def forward(self, low_res, phi, eps=None):
        c, mu, logvar = self.ca(phi, eps)
        h = self.encoder(low_res)
        grid = c[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        h = self.joint(torch.cat([h, grid], dim=1))
        h = self.residual(h)
        return self.decoder(h), mu, logvar
