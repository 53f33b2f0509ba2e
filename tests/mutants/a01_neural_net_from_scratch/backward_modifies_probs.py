# Mutant: backward subtracts 1 from the correct-class probabilities in place, changing the caller's probs
# %% grade_id=backward
def backward(params, cache, probs, labels):
    """Gradients of the mean cross-entropy with respect to every W and b."""
    n = probs.shape[0]
    dZ = probs
    dZ[np.arange(n), labels] -= 1.0
    dZ /= n
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        A_prev, _ = cache[i]
        grads[i] = {"W": A_prev.T @ dZ, "b": dZ.sum(axis=0)}
        if i > 0:
            dZ = (dZ @ params[i]["W"].T) * relu_grad(cache[i - 1][1])
    return grads
