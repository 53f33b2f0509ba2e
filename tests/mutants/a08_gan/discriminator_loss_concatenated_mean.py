# Mutant: one mean over the real and fake logits together, half the loss when the batches are equal in size
# %% grade_id=discriminator_loss
def discriminator_loss(real_logits, fake_logits):
    logits = torch.cat([real_logits, fake_logits])
    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels)
