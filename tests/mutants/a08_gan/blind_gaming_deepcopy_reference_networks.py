# Mutant: gaming: the networks are deep copies of the course's DCGenerator/DCDiscriminator layer stacks, built once at cell run time (outside the grader's guard) and re-initialised with the student's own init; no reference code runs during the graded calls
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


import copy as _copy
from course_utils.models.gan import DCDiscriminator as _ProtoD, DCGenerator as _ProtoG

_PROTO_G_NET = _ProtoG(64).net  # built now, while no grader is watching
_PROTO_D_NET = _ProtoD().net


class Generator(nn.Module):
    # Noise (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1].

    def __init__(self, latent_dim=64):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _copy.deepcopy(_PROTO_G_NET)
        first = self.net[0]
        self.net[0] = nn.ConvTranspose2d(latent_dim, first.out_channels, first.kernel_size, stride=first.stride,
                                         padding=first.padding, bias=False)
        self.apply(init_dcgan_weights)

    def forward(self, z):
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    # Images (N, 1, 28, 28) -> logits (N,).

    def __init__(self):
        super().__init__()
        self.net = _copy.deepcopy(_PROTO_D_NET)
        self.apply(init_dcgan_weights)

    def forward(self, x):
        return self.net(x).flatten()
