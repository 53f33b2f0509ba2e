# Mutant: random search always maximises
# %% grade_id=random_search
def random_search(objective, space, n_trials, seed=0, direction="maximize"):
    """Evaluate objective at n_trials configurations drawn from space; return (best_params, best_value, history)."""
    generator = np.random.default_rng(seed)

    def draw(spec):
        if isinstance(spec, list):
            return spec[int(generator.integers(len(spec)))]
        kind, low, high = spec
        if kind == "uniform":
            return float(generator.uniform(low, high))
        if kind == "log-uniform":
            return float(math.exp(generator.uniform(math.log(low), math.log(high))))
        if kind == "int":
            return int(generator.integers(low, high + 1))
        raise ValueError(f"unknown distribution {kind!r}")

    history = []
    for _ in range(n_trials):
        params = {name: draw(spec) for name, spec in space.items()}
        history.append((params, objective(**params)))
    sign = 1.0
    best = max(range(len(history)), key=lambda k: (sign * history[k][1], -k))
    return history[best][0], history[best][1], history
