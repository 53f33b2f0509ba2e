# Mutant: log(sigmoid(l)) written out, which gives inf for confident logits, and the G loss likewise
# %% grade_id=discriminator_loss
def discriminator_loss(real_logits, fake_logits):
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    return -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
# %% grade_id=generator_loss
def generator_loss(fake_logits, saturating=False):
    d_fake = torch.sigmoid(fake_logits)
    if saturating:
        return torch.log(1 - d_fake).mean()
    return -torch.log(d_fake).mean()
