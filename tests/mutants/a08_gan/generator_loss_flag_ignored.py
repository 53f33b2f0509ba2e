# Mutant: generator_loss ignores `saturating` and always returns the non-saturating loss
# %% grade_id=generator_loss
def generator_loss(fake_logits, saturating=False):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
