# Mutant: softmax normalises each column (axis 0) instead of each row
# %% grade_id=softmax
def softmax(z):
    """Row-wise softmax of logits z (N, K), stable for large logits; returns (N, K) probabilities."""
    z = np.asarray(z, dtype=float)
    exp_shifted = np.exp(z - z.max(axis=0, keepdims=True))
    return exp_shifted / exp_shifted.sum(axis=0, keepdims=True)
