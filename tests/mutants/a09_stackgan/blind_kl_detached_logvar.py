# Mutant: KL value is right but logvar is detached ("it is only a regulariser"), so no gradient reaches the log-variance half
# %% grade_id=kl
def kl_to_standard_normal(mu, logvar):
    lv = logvar.detach()
    per_row = 0.5 * (mu.pow(2) + lv.exp() - 1.0 - lv).sum(dim=1)
    return per_row.mean()


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    return -F.logsigmoid(fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar)
