# Mutant: train_model records the plain mean of the mini-batch losses (a short last batch weighs as much as a full one)
# %% grade_id=train_model
def train_model(model, train_images, train_labels, val_images, val_labels, max_epochs=MAX_EPOCHS, lr=None, patience=None,
                batch_size=None, seed=0, progress=False):
    """Train model in place: mini-batches, a learning-rate schedule, early stopping on validation accuracy.

    lr, patience, batch_size: None stands for your own defaults. Returns the history
    {"train_loss", "val_accuracy", "lr": one value per epoch run, "best_epoch": index};
    at the end the model holds the weights of its best validation epoch.
    """
    lr = 2e-3 if lr is None else lr  # Adam; chosen with the learning-rate search of part 4
    patience = 4 if patience is None else patience
    batch_size = 32 if batch_size is None else batch_size
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7)  # 30 % smaller after every epoch
    generator = torch.Generator().manual_seed(seed)
    history = {"train_loss": [], "val_accuracy": [], "lr": []}
    best_accuracy, best_weights, epochs_without_improvement = -1.0, None, 0
    n_train = len(train_labels)
    for _ in tqdm(range(max_epochs), desc="epochs", disable=not progress):
        model.train()
        history["lr"].append(optimizer.param_groups[0]["lr"])
        order = torch.randperm(n_train, generator=generator).to(train_images.device)
        batch_losses = []
        for start in range(0, n_train, batch_size):
            batch = order[start:start + batch_size]
            images, labels = train_images[batch].to(device), train_labels[batch].to(device)
            # augmentation: shift the batch by up to 2 pixels (the digits have empty borders, so roll only moves background)
            shift_rows, shift_cols = torch.randint(-2, 3, (2,), generator=generator).tolist()
            images = torch.roll(images, shifts=(shift_rows, shift_cols), dims=(2, 3))
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        scheduler.step()
        history["train_loss"].append(sum(batch_losses) / len(batch_losses))
        val_accuracy = evaluate_accuracy(model, val_images, val_labels)
        history["val_accuracy"].append(val_accuracy)
        if val_accuracy > best_accuracy:  # strictly better: keep a real copy of these weights
            best_accuracy, best_weights, epochs_without_improvement = val_accuracy, copy.deepcopy(model.state_dict()), 0
        else:
            epochs_without_improvement += 1
            if epochs_without_improvement >= patience:
                break  # early stopping
    model.load_state_dict(best_weights)
    history["best_epoch"] = int(np.argmax(history["val_accuracy"]))  # the first epoch with the best accuracy
    return history
