# Mutant: init_params draws weights with standard deviation sqrt(1 / n_in) instead of He's sqrt(2 / n_in)
# %% grade_id=init_params
def init_params(layer_sizes, seed=0):
    """He-initialised weights and zero biases: a list of {"W": (n_in, n_out), "b": (n_out,)}, one per layer."""
    rng = np.random.default_rng(seed)
    return [{"W": rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_out)), "b": np.zeros(n_out)}
            for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]
