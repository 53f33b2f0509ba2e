# Mutant: a DCGAN with PyTorch's default initialisation instead of the DCGAN paper's N(0, 0.02)
# %% grade_id=networks
def init_dcgan_weights(module):
    pass


class Generator(nn.Module):
    def __init__(self, latent_dim=64):
        super().__init__()
        self.project = nn.Linear(latent_dim, 128 * 7 * 7, bias=False)
        self.body = nn.Sequential(
            nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.body(self.project(z).view(-1, 128, 7, 7))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

    def forward(self, x):
        return self.body(x).squeeze(1)
