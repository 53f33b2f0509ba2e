# Mutant: backward starts from (probs - Y) without the 1/N of the mean loss
# %% grade_id=backward
def backward(params, cache, probs, labels):
    """Gradients of the mean cross-entropy: a list of {"W": dL/dW, "b": dL/db}, one per layer, shaped like params."""
    n, k = probs.shape
    Y = np.zeros((n, k))
    Y[np.arange(n), labels] = 1.0
    dZ = probs - Y
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        A_prev, _ = cache[i]
        grads[i] = {"W": A_prev.T @ dZ, "b": dZ.sum(axis=0)}
        if i > 0:
            dZ = (dZ @ params[i]["W"].T) * relu_grad(cache[i - 1][1])
    return grads
