# Mutant: generator_loss uses the "fake" label for the generated pairs, -mean log(1 - D) (log sigma(-logit)) instead of -mean log D; identical at logit 0
# %% grade_id=kl
def kl_to_standard_normal(mu, logvar):
    per_row = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
    return per_row.mean()


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    # the generated image paired with its caption: log(1 - D) = logsigmoid(-logit)
    adversarial = -F.logsigmoid(-fake_logits).mean()
    return adversarial + kl_weight * kl_to_standard_normal(mu, logvar)
