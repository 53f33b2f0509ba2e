# Mutant: init_params draws He-scaled weights from a uniform distribution (right std, wrong distribution)
# %% grade_id=init_params
def init_params(layer_sizes, seed=0):
    """He-initialised weights and zero biases: a list of {"W": (n_in, n_out), "b": (n_out,)}, one per layer."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        limit = np.sqrt(6.0 / n_in)
        params.append({"W": rng.uniform(-limit, limit, size=(n_in, n_out)), "b": np.zeros(n_out)})
    return params
