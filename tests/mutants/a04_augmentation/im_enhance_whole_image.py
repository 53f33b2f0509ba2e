# Mutant: contrast stretching with one minimum and maximum for the whole image instead of one per channel
# %% grade_id=im_enhance
def im_enhance(images):
    x = images.float()
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    span = high - low
    stretched = torch.where(span > 0, (x - low) / span.clamp(min=1) * 255, x)
    return stretched.round().to(torch.uint8)
