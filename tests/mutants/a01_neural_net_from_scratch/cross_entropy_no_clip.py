# Mutant: cross_entropy takes the log without clipping, so a zero probability gives an infinite loss
# %% grade_id=cross_entropy
def cross_entropy(probs, labels, eps=1e-12):
    """Mean over the batch of -log(probs[i, labels[i]]), probabilities clipped into [eps, 1]."""
    probs = np.asarray(probs, dtype=float)
    return float(-np.mean(np.log(probs[np.arange(len(labels)), labels])))
