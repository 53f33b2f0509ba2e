# Mutant: gaming attempt: the course's DCGenerator and DCDiscriminator pasted in with their names changed
# %% grade_id=networks
def init_dcgan_weights(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim=64, w=32):
        super().__init__()
        self.latent_dim = latent_dim
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 2 * w, 7, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),
            nn.Tanh(),
        )
        self.apply(init_dcgan_weights)

    def forward(self, noise):
        if noise.dim() != 2 or noise.shape[1] != self.latent_dim:
            raise ValueError(f"Generator expects noise of shape (N, {self.latent_dim}), got {tuple(noise.shape)}")
        return self.layers(noise[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, w=32):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, w, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 1, 7),
        )
        self.apply(init_dcgan_weights)

    def forward(self, images):
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(f"Discriminator expects images of shape (N, 1, 28, 28), got {tuple(images.shape)}")
        return self.layers(images).flatten()
