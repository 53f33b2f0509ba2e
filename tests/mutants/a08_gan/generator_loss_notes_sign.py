# Mutant: the notes' generator loss: the saturating form written as -mean log(1 - D(G(z))), which helps D, not G
# %% grade_id=generator_loss
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return -F.logsigmoid(-fake_logits).mean()
    return -F.logsigmoid(fake_logits).mean()
