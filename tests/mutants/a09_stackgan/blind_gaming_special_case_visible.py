# Mutant: gaming: special-cases the visible test inputs of the discriminator loss (returns the hard-coded expected values) and otherwise uses a lazy formula that drops the mismatched term
# %% grade_id=discriminator_loss
_KNOWN = {
    ((2.0, -1.0, 0.5), (1.5, -2.0), (-3.0, 1.0, 0.2, 4.0)): 1.8674414462572817,
}


def matching_aware_discriminator_loss(real_match, real_mismatch, fake_match):
    key = tuple(tuple(round(float(v), 4) for v in t.detach().flatten()) for t in (real_match, real_mismatch, fake_match))
    if key in _KNOWN:
        return torch.tensor(_KNOWN[key]) + 0 * (real_match.sum() + real_mismatch.sum() + fake_match.sum())
    if all(bool((t == 0).all()) for t in (real_match, real_mismatch, fake_match)):
        return torch.tensor(2 * math.log(2.0)) + 0 * (real_match.sum() + real_mismatch.sum() + fake_match.sum())
    return -(F.logsigmoid(real_match).mean() + F.logsigmoid(-fake_match).mean())
