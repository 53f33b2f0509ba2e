# Mutant: cross_entropy sums the per-example losses instead of averaging them
# %% grade_id=cross_entropy
def cross_entropy(probs, labels, eps=1e-12):
    """Mean over the batch of -log(probs[i, labels[i]]), probabilities clipped into [eps, 1]."""
    probs = np.asarray(probs, dtype=float)
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.sum(np.log(np.clip(picked, eps, 1.0))))
