# Mutant: train_vae ignores its lr argument (Adam's default learning rate)
# %% grade_id=train_vae
def train_vae(model, images, epochs, batch_size=32, lr=3e-3):
    optimizer = torch.optim.Adam(model.parameters())
    history = {"loss": [], "reconstruction": [], "kl": []}
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images))
        loss_sum = kl_sum = 0.0
        for start in range(0, len(images), batch_size):
            x = images[order[start : start + batch_size]]
            logits, mu, logvar = model(x)
            loss = vae_loss(x, logits, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(x)
            kl_sum += gaussian_kl(mu, logvar).sum().item()
        history["loss"].append(loss_sum / len(images))
        history["kl"].append(kl_sum / len(images))
        history["reconstruction"].append(history["loss"][-1] - history["kl"][-1])
    return history
