# Mutant: cutout erases rows cy - size//2 to cy - size//2 + size (a full size x size square), one row/column too many for odd sizes
# %% grade_id=cutout
def cutout(images, size, centers, fill=0.0):
    # Set a size x size square around centers[i] = (row, column) of every image to fill, clipped to the image.
    n, _, h, w = images.shape
    half = size // 2
    out = images.clone()
    for i in range(n):
        cy, cx = int(centers[i][0]), int(centers[i][1])
        y1, y2 = max(cy - half, 0), min(cy - half + size, h)
        x1, x2 = max(cx - half, 0), min(cx - half + size, w)
        out[i, :, y1:y2, x1:x2] = fill
    return out
