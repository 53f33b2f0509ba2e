# Mutant: relu zeroes the negative entries of its input array in place and returns it
# %% grade_id=relu
def relu(z):
    """ReLU, elementwise: max(0, z). Returns a new float array shaped like z."""
    z[z < 0] = 0.0
    return z


def relu_grad(z):
    """Derivative of ReLU at z, elementwise: 1.0 where z > 0, else 0.0 (including z == 0)."""
    return (np.asarray(z) > 0).astype(float)
