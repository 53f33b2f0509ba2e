# Mutant: the real image with a mismatched caption is labelled real, like the matching pair
# %% grade_id=discriminator_loss
def matching_aware_discriminator_loss(real_match, real_mismatch, fake_match):
    return -(F.logsigmoid(real_match).mean()
             + 0.5 * (F.logsigmoid(real_mismatch).mean() + F.logsigmoid(-fake_match).mean()))
