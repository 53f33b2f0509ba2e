# Mutant: the variant flags are accepted but change nothing (no inner encoder-decoder anywhere)
# %% grade_id=networks
class Encoder(nn.Module):
    def __init__(self, latent_dim, inner_decoder=False):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.heads = nn.Linear(64 * 49, 2 * latent_dim)

    def forward(self, x):
        return self.heads(self.body(x)).chunk(2, dim=1)


class Decoder(nn.Module):
    def __init__(self, latent_dim, inner_encoder=False):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 64 * 49)
        self.body = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                                  nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))

    def forward(self, z):
        return self.body(torch.relu(self.fc(z)).view(-1, 64, 7, 7))


class VAE(nn.Module):
    def __init__(self, latent_dim=16, inner_decoder=False, inner_encoder=False):
        super().__init__()
        self.encoder = Encoder(latent_dim, inner_decoder)
        self.decoder = Decoder(latent_dim, inner_encoder)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar
