# Mutant: rotation by forward mapping: every source pixel is sent to its rounded destination (holes)
# %% grade_id=rotate
def rotate(images, degrees):
    n, c, h, w = images.shape
    theta = torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float64).expand(n)).view(n, 1, 1)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dx, dy = xs - cx, ys - cy
    dest_x = torch.round(cx + dx * torch.cos(theta) + dy * torch.sin(theta)).long()
    dest_y = torch.round(cy - dx * torch.sin(theta) + dy * torch.cos(theta)).long()
    inside = (dest_x >= 0) & (dest_x < w) & (dest_y >= 0) & (dest_y < h)
    out = torch.zeros_like(images)
    for i in range(n):
        keep = inside[i]
        out[i][:, dest_y[i][keep], dest_x[i][keep]] = images[i][:, keep]
    return out


def random_rotate(images, generator=None):
    angles = torch.rand(images.shape[0], generator=generator) * 360 - 180
    return rotate(images, angles)
