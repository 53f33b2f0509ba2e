# Mutant: predict takes the argmax over examples (axis 0) instead of over classes
# %% grade_id=predict
def predict(params, X):
    """The most probable class for each row of X: an integer array (N,)."""
    probs, _ = forward(params, X)
    return np.argmax(probs, axis=0)
