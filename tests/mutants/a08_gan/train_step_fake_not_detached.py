# Mutant: the fake batch is not detached in D's phase, so D's loss sends gradients into G (G is re-run for its phase)
# %% grade_id=train_step
def train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
    z = torch.randn(len(real), latent_dim)
    real_logits = D(real)
    fake_logits = D(G(z))
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    g_loss = generator_loss(D(G(z)), saturating=saturating)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": correct.item() / (2 * len(real))}
