# Mutant: train_step makes the D-phase fakes under torch.no_grad() and runs G(z) a second time for the generator phase: same z and values, but G's forward runs twice per step (batch-norm running statistics updated twice) instead of scoring the same fake tensor again
# %% grade_id=train_step
def train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
    # One alternating update: D on real and detached fake samples, then G through the updated D.
    z = torch.randn(len(real), latent_dim, device=real.device)
    with torch.no_grad():  # D's phase must not touch G's graph
        fake = G(z)

    # discriminator phase
    real_logits = D(real)
    fake_logits = D(fake)
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()

    # generator phase: the same noise, now with G's graph, scored by the updated D
    fake = G(z)
    g_loss = generator_loss(D(fake), saturating=saturating)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()

    with torch.no_grad():
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        accuracy = correct.float() / (len(real_logits) + len(fake_logits))
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_accuracy": accuracy.item()}
