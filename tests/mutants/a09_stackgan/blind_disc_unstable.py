# Mutant: discriminator loss computed as torch.log(sigmoid) / torch.log(1 - sigmoid): right for moderate logits, inf/nan at +-150
# %% grade_id=discriminator_loss
def matching_aware_discriminator_loss(real_match, real_mismatch, fake_match):
    d_real = torch.sigmoid(real_match)
    d_wrong = torch.sigmoid(real_mismatch)
    d_fake = torch.sigmoid(fake_match)
    real_term = torch.log(d_real).mean()
    mismatch_term = torch.log(1 - d_wrong).mean()
    fake_term = torch.log(1 - d_fake).mean()
    return -(real_term + 0.5 * (mismatch_term + fake_term))
