# Mutant: gaming: augmix_mix and augmix are course_utils.augment's reference pasted in with every name changed and the uint8 check inlined
# %% grade_id=augmix
def augmix_mix(batch, outs, wts, keep):
    # m * x + (1 - m) * sum_k w_k * chain_k, for every image.
    count = batch.shape[0]
    blend = sum(wts[:, j].view(count, 1, 1, 1) * o for j, o in enumerate(outs))
    return keep.view(count, 1, 1, 1) * batch + (1 - keep.view(count, 1, 1, 1)) * blend


def augmix(batch, ops, width=3, depth=2, alpha=1.0, gen=None):
    # AugMix on uint8 images: width chains of depth random operations, Dirichlet and Beta mixing; float in [0, 1].
    if batch.dtype != torch.uint8 or batch.dim() < 3:
        raise ValueError(f"augmix expects uint8 images (..., C, H, W) with values 0..255, "
                         f"got dtype {batch.dtype} and shape {tuple(batch.shape)}")
    ops = list(ops)
    count = batch.shape[0]
    conc = torch.full((count, width), float(alpha), dtype=torch.float64)
    gam = torch._standard_gamma(conc, generator=gen)
    wts = (gam / gam.sum(1, keepdim=True)).float().to(batch.device)
    two = torch._standard_gamma(torch.full((count, 2), float(alpha), dtype=torch.float64), generator=gen)
    keep = (two[:, 0] / two.sum(1)).float().to(batch.device)
    outs = []
    for _ in range(width):
        cur = batch
        n_steps = depth if depth is not None else int(torch.randint(1, 4, (1,), generator=gen))
        for _ in range(n_steps):
            cur = ops[int(torch.randint(len(ops), (1,), generator=gen))](cur)
        outs.append(cur.float() / 255)
    return augmix_mix(batch.float() / 255, outs, wts, keep)
