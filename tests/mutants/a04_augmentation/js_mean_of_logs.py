# Mutant: the JS mixture is the mean of the log-probabilities (a geometric mean), not the log of the mean
# %% grade_id=js_loss
def js_consistency_loss(logits_clean, logits_aug1, logits_aug2):
    logs = [torch.log_softmax(z, dim=1) for z in (logits_clean, logits_aug1, logits_aug2)]
    log_mixture = (logs[0] + logs[1] + logs[2]) / 3
    divergences = [(log_p.exp() * (log_p - log_mixture)).sum(dim=1) for log_p in logs]
    return ((divergences[0] + divergences[1] + divergences[2]) / 3).mean()
