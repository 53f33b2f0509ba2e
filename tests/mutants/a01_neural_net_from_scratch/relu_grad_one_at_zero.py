# Mutant: relu_grad uses z >= 0, so the derivative at z = 0 is 1 instead of 0
# %% grade_id=relu
def relu(z):
    """ReLU, elementwise: max(0, z). Returns a new float array shaped like z."""
    return np.maximum(np.asarray(z, dtype=float), 0.0)


def relu_grad(z):
    """Derivative of ReLU at z, elementwise: 1.0 where z > 0, else 0.0 (including z == 0)."""
    return (np.asarray(z) >= 0).astype(float)
