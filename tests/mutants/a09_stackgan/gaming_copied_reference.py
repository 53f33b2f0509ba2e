# Mutant: gaming: the course's reference networks and mismatched_indices pasted in with their names changed (no import of the reference runs)
# %% grade_id=conditioning_augmentation
def _init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _phi_ok(t, d, who):
    if t.dim() != 2 or t.shape[1] != d:
        raise ValueError(f"{who} expects (N, {d}), got {tuple(t.shape)}")


class ConditioningAugmentation(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, augment=True):
        super().__init__()
        self.embed_dim, self.cond_dim, self.augment = embed_dim, cond_dim, augment
        self.layer = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi, eps=None):
        _phi_ok(phi, self.embed_dim, "ConditioningAugmentation")
        m, lv = self.layer(phi).chunk(2, dim=1)
        if not self.augment:
            return m, m, lv
        if eps is None:
            eps = torch.randn_like(m)
        elif eps.shape != m.shape:
            raise ValueError(f"eps must have shape {tuple(m.shape)}, got {tuple(eps.shape)}")
        return m + torch.exp(0.5 * lv) * eps, m, lv
# %% grade_id=stage_one
class StageIGenerator(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, noise_dim=32, w=32, augment=True):
        super().__init__()
        self.embed_dim, self.noise_dim, self.w = embed_dim, noise_dim, w
        self.ca = ConditioningAugmentation(embed_dim, cond_dim, augment)
        self.proj = nn.Sequential(nn.Linear(noise_dim + cond_dim, 2 * w * 7 * 7, bias=False),
                                  nn.BatchNorm1d(2 * w * 7 * 7), nn.ReLU())
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 1, 3, padding=1),
            nn.Tanh(),
        )
        self.apply(_init)

    def forward(self, noise, phi, eps=None):
        if noise.dim() != 2 or noise.shape[1] != self.noise_dim:
            raise ValueError(f"StageIGenerator expects noise of shape (N, {self.noise_dim}), got {tuple(noise.shape)}")
        _phi_ok(phi, self.embed_dim, "StageIGenerator")
        if len(noise) != len(phi):
            raise ValueError(f"StageIGenerator got {len(noise)} noise vectors but {len(phi)} text embeddings")
        c, m, lv = self.ca(phi, eps)
        h = self.proj(torch.cat([noise, c], dim=1)).view(len(noise), 2 * self.w, 7, 7)
        return self.layers(h), m, lv
# %% grade_id=stage_two
class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x):
        return x + self.body(x)


class StageIIGenerator(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16, w=32, n_residual=2, augment=True):
        super().__init__()
        self.embed_dim, self.cond_dim = embed_dim, cond_dim
        self.ca = ConditioningAugmentation(embed_dim, cond_dim, augment)
        self.enc = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * w), nn.ReLU(),
        )
        self.mix = nn.Sequential(nn.Conv2d(2 * w + cond_dim, 2 * w, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(2 * w), nn.ReLU())
        self.res = nn.Sequential(*[ResidualBlock(2 * w) for _ in range(n_residual)])
        self.dec = nn.Sequential(
            nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 1, 3, padding=1),
            nn.Tanh(),
        )
        self.apply(_init)

    def forward(self, low, phi, eps=None):
        _phi_ok(phi, self.embed_dim, "StageIIGenerator")
        if low.dim() != 4 or tuple(low.shape[1:]) != (1, 14, 14):
            raise ValueError(f"StageIIGenerator expects images of shape (N, 1, 14, 14), got {tuple(low.shape)}")
        c, m, lv = self.ca(phi, eps)
        feats = self.enc(low)
        t = c[:, :, None, None].expand(-1, -1, *feats.shape[2:])
        h = self.res(self.mix(torch.cat([feats, t], dim=1)))
        return self.dec(h), m, lv
# %% grade_id=mismatched
def mismatched_indices(labels, generator=None):
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) < 2:
        raise ValueError(f"mismatched_indices expects a 1-D tensor of at least two labels, got shape "
                         f"{tuple(labels.shape)}")
    ok = labels[None, :] != labels[:, None]
    if not bool(ok.any(dim=1).all()):
        raise ValueError("mismatched_indices needs, for every label, another label in the batch; "
                         "this batch has a single class")
    s = torch.rand(len(labels), len(labels), generator=generator).to(labels.device)
    return s.masked_fill(~ok, -1.0).argmax(dim=1)
