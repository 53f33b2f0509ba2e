# Mutant: softmax without subtracting the row maximum (overflows to NaN for logits around 1000)
# %% grade_id=softmax
def softmax(z):
    """Row-wise softmax of logits z (N, K), stable for large logits; returns (N, K) probabilities."""
    exp_z = np.exp(np.asarray(z, dtype=float))
    return exp_z / exp_z.sum(axis=1, keepdims=True)
