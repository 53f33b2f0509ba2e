# Mutant: the generator's loss leaves out the KL term of the conditioning augmentation (kl_weight is ignored)
# %% grade_id=kl
def kl_to_standard_normal(mu, logvar):
    return (0.5 * (mu ** 2 + torch.exp(logvar) - 1 - logvar)).sum(dim=1).mean()


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
