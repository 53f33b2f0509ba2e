# Mutant: the contrast change pivots on each image's mean instead of 128, and flips before changing contrast
# %% grade_id=contrast_hflip
def contrast_hflip(images, alpha, flip):
    n = images.shape[0]
    alpha = torch.as_tensor(alpha, dtype=torch.float32).expand(n).view(n, 1, 1, 1)
    flip = torch.as_tensor(flip, dtype=torch.bool).expand(n)
    x = images.float()
    pivot = x.mean(dim=(1, 2, 3), keepdim=True)
    out = (alpha * (x - pivot) + pivot).round().clamp(0, 255).to(torch.uint8)
    out[flip] = out[flip].flip(-1)
    return out
