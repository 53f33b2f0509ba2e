# Mutant: VAE passes inner_encoder to the Encoder and inner_decoder to the Decoder (flags swapped), so VAE(inner_decoder=True) puts the extra encoder-decoder in the decoder; Encoder/Decoder themselves are right
# %% grade_id=networks
class Encoder(nn.Module):
    # q(z | x): images (N, 1, 28, 28) -> (mu, logvar), each (N, latent_dim).

    def __init__(self, latent_dim, inner_decoder=False):
        super().__init__()
        blocks = [
            nn.Conv2d(1, 32, kernel_size=3, stride=2, padding=1), nn.LeakyReLU(0.1),   # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1), nn.LeakyReLU(0.1),  # 14 -> 7
        ]
        if inner_decoder:
            blocks += [
                nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2, padding=1, output_padding=1), nn.LeakyReLU(0.1),  # 7 -> 14
                nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1), nn.LeakyReLU(0.1),  # 14 -> 7
            ]
        self.body = nn.Sequential(*blocks)
        self.head_mu = nn.Linear(64 * 7 * 7, latent_dim)
        self.head_logvar = nn.Linear(64 * 7 * 7, latent_dim)

    def forward(self, x):
        h = self.body(x).flatten(start_dim=1)
        return self.head_mu(h), self.head_logvar(h)


class Decoder(nn.Module):
    # p(x | z): codes (N, latent_dim) -> pixel logits (N, 1, 28, 28).

    def __init__(self, latent_dim, inner_encoder=False):
        super().__init__()
        self.project = nn.Linear(latent_dim, 64 * 7 * 7)
        blocks = [nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2, padding=1, output_padding=1), nn.LeakyReLU(0.1)]  # 7 -> 14
        if inner_encoder:
            blocks += [
                nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1), nn.LeakyReLU(0.1),  # 14 -> 7
                nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2, padding=1, output_padding=1), nn.LeakyReLU(0.1),  # 7 -> 14
            ]
        blocks += [nn.ConvTranspose2d(32, 1, kernel_size=3, stride=2, padding=1, output_padding=1)]  # 14 -> 28, logits
        self.body = nn.Sequential(*blocks)

    def forward(self, z):
        h = F.leaky_relu(self.project(z), 0.1).view(-1, 64, 7, 7)
        return self.body(h)


class VAE(nn.Module):
    # Encoder, reparameterised sample, decoder: forward(x) -> (logits, mu, logvar).

    def __init__(self, latent_dim=16, inner_decoder=False, inner_encoder=False):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim, inner_encoder)
        self.decoder = Decoder(latent_dim, inner_decoder)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar)  # a sample, not mu
        logits = self.decoder(z)
        return logits, mu, logvar
