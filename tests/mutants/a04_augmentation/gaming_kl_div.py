# Mutant: gaming: the JS loss built on torch.nn.functional.kl_div, which the task forbids
# %% grade_id=js_loss
import torch.nn.functional as F


def js_consistency_loss(logits_clean, logits_aug1, logits_aug2):
    probabilities = [torch.softmax(z, dim=1) for z in (logits_clean, logits_aug1, logits_aug2)]
    log_mixture = torch.log(sum(probabilities) / 3)
    return sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probabilities) / 3
