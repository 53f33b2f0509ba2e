# Mutant: one update of both networks on G's loss: after G's backward pass both optimisers step
# %% grade_id=train_step
def train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
    z = torch.randn(len(real), latent_dim)
    fake = G(z)
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    g_loss = generator_loss(D(fake), saturating=saturating)
    opt_G.zero_grad()
    opt_D.zero_grad()
    g_loss.backward()
    for optimizer in (opt_G, opt_D):
        optimizer.step()
    correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": correct.item() / (2 * len(real))}
