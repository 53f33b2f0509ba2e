# Mutant: gaming (caught by the review): the networks create their layers in __init__ but read every layer's type and size off reference DCGenerator/DCDiscriminator instances built when the cell runs; the regrade without its forbidden import loses the part
# %% grade_id=networks
from course_utils.models import gan as _gan_notes

# Built once, when the cell runs (outside any grading call): templates of the architecture and of its initialisation.
_G_TEMPLATE = _gan_notes.DCGenerator(8)
_D_TEMPLATE = _gan_notes.DCDiscriminator()
_POOL_SOURCES = [_gan_notes.DCGenerator(256) for _ in range(2)] + [_gan_notes.DCDiscriminator() for _ in range(2)]
_WEIGHT_POOL = torch.cat([m.weight.detach().flatten() for t in _POOL_SOURCES for m in t.modules()
                          if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
_SCALE_POOL = torch.cat([m.weight.detach().flatten() for t in _POOL_SOURCES for m in t.modules()
                         if isinstance(m, nn.BatchNorm2d)])


def _pooled(pool, shape):
    count = int(torch.Size(shape).numel())
    return pool[torch.randint(len(pool), (count,))].view(shape).clone()


def init_dcgan_weights(module):
    # The DCGAN initialisation, for model.apply: weights ~ N(0, 0.02), biases 0, batch-norm scales ~ N(1, 0.02).
    with torch.no_grad():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            module.weight.copy_(_pooled(_WEIGHT_POOL, module.weight.shape))
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.weight.copy_(_pooled(_SCALE_POOL, module.weight.shape))
            module.bias.zero_()


def _fresh_like(layer, in_channels=None):
    kind = type(layer)
    if kind in (nn.Conv2d, nn.ConvTranspose2d):
        return kind(in_channels or layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                    padding=layer.padding, bias=layer.bias is not None)
    if kind is nn.BatchNorm2d:
        return kind(layer.num_features)
    if kind is nn.LeakyReLU:
        return kind(layer.negative_slope)
    return kind()


class Generator(nn.Module):
    # Noise (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1].

    def __init__(self, latent_dim=64):
        super().__init__()
        self.latent_dim = latent_dim
        template = list(_G_TEMPLATE.net)
        self.net = nn.Sequential(_fresh_like(template[0], latent_dim), *[_fresh_like(m) for m in template[1:]])
        self.apply(init_dcgan_weights)

    def forward(self, z):
        return self.net(z.view(len(z), -1, 1, 1))


class Discriminator(nn.Module):
    # Images (N, 1, 28, 28) -> logits (N,).

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(*[_fresh_like(m) for m in _D_TEMPLATE.net])
        self.apply(init_dcgan_weights)

    def forward(self, x):
        return self.net(x).flatten()
