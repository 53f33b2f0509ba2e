# Mutant: forward applies ReLU to the output layer too, before the softmax
# %% grade_id=forward
def forward(params, X):
    """Probabilities (N, K) for inputs X (N, d), and the cache [(A_prev, Z), ...] with one entry per layer."""
    A = np.asarray(X, dtype=float)
    cache = []
    for layer in params:
        Z = A @ layer["W"] + layer["b"]
        cache.append((A, Z))
        A = relu(Z)
    return softmax(A), cache
