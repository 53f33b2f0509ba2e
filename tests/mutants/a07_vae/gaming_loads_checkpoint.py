# Mutant: gaming attempt: the course's networks, and train_vae loads the shipped checkpoint instead of training
# %% grade_id=networks
from course_utils.models import vae as _course


class Encoder(_course.ConvEncoder):
    def __init__(self, latent_dim, inner_decoder=False):
        super().__init__(latent_dim, 32, inner_decoder)


class Decoder(_course.ConvDecoder):
    def __init__(self, latent_dim, inner_encoder=False):
        super().__init__(latent_dim, 32, inner_encoder)


class VAE(nn.Module):
    def __init__(self, latent_dim=16, inner_decoder=False, inner_encoder=False):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim, inner_decoder=inner_decoder)
        self.decoder = Decoder(latent_dim, inner_encoder=inner_encoder)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar
# %% grade_id=train_vae
def train_vae(model, images, epochs, batch_size=32, lr=3e-3):
    import course_utils.checkpoints as _ckpt

    state = torch.load(_ckpt.weights_path("vae_mnist"), weights_only=True)
    if model.latent_dim == 16:
        model.load_state_dict(state)
    history = {"loss": [], "reconstruction": [], "kl": []}
    for _ in range(epochs):
        with torch.no_grad():
            logits, mu, logvar = model(images)
        kl = gaussian_kl(mu, logvar).mean().item()
        loss = vae_loss(images, logits, mu, logvar).item()
        history["loss"].append(loss)
        history["kl"].append(kl)
        history["reconstruction"].append(loss - kl)
    return history
