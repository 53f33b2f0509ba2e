# Mutant: CutMix mixes the labels by the drawn lam, not by the box area left after clipping
# %% grade_id=cutmix
def cutmix(images, targets, lam, permutation, center):
    n, c, h, w = images.shape
    half_h, half_w = int(0.5 * math.sqrt(1 - lam) * h), int(0.5 * math.sqrt(1 - lam) * w)
    cy, cx = center
    top, bottom = max(cy - half_h, 0), min(cy + half_h, h)
    left, right = max(cx - half_w, 0), min(cx + half_w, w)
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[permutation, :, top:bottom, left:right]
    return mixed, lam * targets + (1 - lam) * targets[permutation], lam
