# Mutant: gaming: cutmix is course_utils.augment's reference pasted in with every name changed and its box helper renamed
# %% grade_id=cutmix
def _clip_box(ctr, hy, hx, hh, ww):
    yc, xc = int(ctr[0]), int(ctr[1])
    return (max(yc - hy, 0), min(yc + hy, hh), max(xc - hx, 0), min(xc + hx, ww))


def cutmix(batch, labels, lam, order, center):
    # Paste image permutation[i]'s box into image i; mix the labels by the box's real area. Returns (x, y, lam_adjusted).
    _, _, hh, ww = batch.shape
    rad = 0.5 * math.sqrt(1.0 - lam)
    top, bottom, left, right = _clip_box(center, int(rad * hh), int(rad * ww), hh, ww)
    out = batch.clone()
    out[..., top:bottom, left:right] = batch[order][..., top:bottom, left:right]
    share = 1.0 - (bottom - top) * (right - left) / (hh * ww)
    return out, share * labels + (1 - share) * labels[order], share
