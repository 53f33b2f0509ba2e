# Mutant: backward passes the gradient through W^T but forgets to multiply by ReLU'(Z) of the layer below
# %% grade_id=backward
def backward(params, cache, probs, labels):
    """Gradients of the mean cross-entropy: a list of {"W": dL/dW, "b": dL/db}, one per layer, shaped like params."""
    n, k = probs.shape
    Y = np.zeros((n, k))
    Y[np.arange(n), labels] = 1.0
    dZ = (probs - Y) / n
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        A_prev, _ = cache[i]
        grads[i] = {"W": A_prev.T @ dZ, "b": dZ.sum(axis=0)}
        if i > 0:
            dZ = dZ @ params[i]["W"].T
    return grads
