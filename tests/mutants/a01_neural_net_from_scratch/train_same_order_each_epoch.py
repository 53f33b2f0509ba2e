# Mutant: train makes a new generator from the seed inside the epoch loop, so every epoch uses the same order
# %% grade_id=train
def train(X, labels, hidden_sizes=(64, 64), epochs=100, batch_size=32, lr=0.1, milestones=(), gamma=0.1,
          seed=0, progress=False):
    """Mini-batch gradient descent with multi-step learning-rate decay."""
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels, dtype=int)
    params = init_params([X.shape[1], *hidden_sizes, int(labels.max()) + 1], seed=seed)
    rng = np.random.default_rng(seed)
    history = {"loss": [], "accuracy": [], "lr": []}
    for epoch in range(epochs):
        lr_now = multistep_lr(lr, epoch, milestones, gamma)
        order = np.random.default_rng(seed).permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            probs, cache = forward(params, X[batch])
            grads = backward(params, cache, probs, labels[batch])
            for layer, grad in zip(params, grads):
                layer["W"] -= lr_now * grad["W"]
                layer["b"] -= lr_now * grad["b"]
        probs, _ = forward(params, X)
        history["loss"].append(cross_entropy(probs, labels))
        history["accuracy"].append(float(np.mean(probs.argmax(axis=1) == labels)))
        history["lr"].append(lr_now)
    return params, history
