# Mutant: posterisation rounds every value to the nearest level instead of masking the low bits
# %% grade_id=posterize
def posterize(images, bits):
    step = 2 ** (8 - bits)
    return (torch.round(images.float() / step) * step).clamp(0, 256 - step).to(torch.uint8)
