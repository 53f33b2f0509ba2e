# Mutant: Discriminator.forward returns .squeeze() of the (N, 1) output: shape () instead of (1,) for a batch of one image
# %% grade_id=networks
def init_dcgan_weights(m):
    # The DCGAN initialisation, for model.apply: weights ~ N(0, 0.02), biases 0, batch-norm scales ~ N(1, 0.02).
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, mean=1.0, std=0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    # Noise (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1].

    def __init__(self, latent_dim=64):
        super().__init__()
        self.latent_dim = latent_dim
        self.layers = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7, bias=False),
            nn.Unflatten(1, (64, 7, 7)),
            nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )
        self.apply(init_dcgan_weights)

    def forward(self, z):
        return self.layers(z)


class Discriminator(nn.Module):
    # Images (N, 1, 28, 28) -> logits (N,).

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1),  # 28 -> 14, no batch norm on the input layer
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, stride=2, padding=1, bias=False),  # 14 -> 7
            nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 1),
        )
        self.apply(init_dcgan_weights)

    def forward(self, x):
        return self.layers(x).squeeze()
