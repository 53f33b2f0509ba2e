# Mutant: gaming: call torchvision's own operations instead of writing them
# %% grade_id=posterize
from torchvision.transforms.v2 import functional as TF


def posterize(images, bits):
    return TF.posterize(images, bits)
# %% grade_id=rotate
def rotate(images, degrees):
    angles = torch.as_tensor(degrees, dtype=torch.float32).expand(images.shape[0])
    return torch.stack([TF.rotate(image, float(a), interpolation=TF.InterpolationMode.NEAREST) for image, a in zip(images, angles)])


def random_rotate(images, generator=None):
    return rotate(images, torch.rand(images.shape[0], generator=generator) * 360 - 180)
# %% grade_id=im_enhance
def im_enhance(images):
    return TF.autocontrast(images)
# %% grade_id=cutout
def cutout(images, size, centers, fill=0.0):
    out = images.clone()
    h, w = images.shape[-2:]
    for i, (cy, cx) in enumerate(centers):
        top, bottom = max(cy - size // 2, 0), min(cy + size // 2, h)
        left, right = max(cx - size // 2, 0), min(cx + size // 2, w)
        out[i] = TF.erase(images[i], top, left, bottom - top, right - left, torch.tensor(fill))
    return out
