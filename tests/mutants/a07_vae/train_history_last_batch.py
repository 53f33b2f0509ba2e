# Mutant: the history records the last mini-batch's values instead of the epoch's means
# %% grade_id=train_vae
def train_vae(model, images, epochs, batch_size=32, lr=3e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "reconstruction": [], "kl": []}
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch_size):
            x = images[order[start : start + batch_size]]
            logits, mu, logvar = model(x)
            loss = vae_loss(x, logits, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        kl = gaussian_kl(mu, logvar).mean().item()
        history["loss"].append(loss.item())
        history["kl"].append(kl)
        history["reconstruction"].append(loss.item() - kl)
    return history
