# Mutant: train_vae never calls model.train(): a model handed over in eval mode is trained (and called) in eval mode
# %% grade_id=train_vae
def train_vae(model, images, epochs, batch_size=32, lr=3e-3):
    # Train model in place on images for `epochs` epochs; return {"loss", "reconstruction", "kl"}, one mean per epoch.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "reconstruction": [], "kl": []}
    n = len(images)
    for epoch in range(epochs):
        pass  # the model is trained as it is
        order = torch.randperm(n)
        total_rec, total_kl, seen = 0.0, 0.0, 0
        for start in range(0, n, batch_size):
            x = images[order[start:start + batch_size]]
            logits, mu, logvar = model(x)
            loss = vae_loss(x, logits, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(len(x), -1).sum(dim=1)
                kl = gaussian_kl(mu, logvar)
            total_rec += float(rec.sum())
            total_kl += float(kl.sum())
            seen += len(x)
        history["reconstruction"].append(total_rec / seen)
        history["kl"].append(total_kl / seen)
        history["loss"].append((total_rec + total_kl) / seen)
    return history
