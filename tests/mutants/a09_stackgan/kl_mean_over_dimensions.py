# Mutant: the KL averaged over the dimensions (and the batch) instead of summed over the dimensions
# %% grade_id=kl
def kl_to_standard_normal(mu, logvar):
    return 0.5 * torch.mean(mu ** 2 + logvar.exp() - 1 - logvar)


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    return -F.logsigmoid(fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar)
