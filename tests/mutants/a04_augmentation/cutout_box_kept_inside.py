# Mutant: Cutout moves the square inside the image near a border instead of clipping it
# %% grade_id=cutout
def cutout(images, size, centers, fill=0.0):
    out = images.clone()
    h, w = images.shape[-2:]
    for i, (cy, cx) in enumerate(centers):
        top = min(max(cy - size // 2, 0), h - size)
        left = min(max(cx - size // 2, 0), w - size)
        out[i, :, top:top + size, left:left + size] = fill
    return out
