# Mutant: one generator per hyperparameter, all seeded with the same seed: the hyperparameters move together
# %% grade_id=random_search
def random_search(objective, space, n_trials, seed=0, direction="maximize"):
    generators = {name: np.random.default_rng(seed) for name in space}  # created once each, but identical streams

    def draw(spec, generator):
        if isinstance(spec, list):
            return spec[int(generator.integers(len(spec)))]
        kind, low, high = spec
        if kind == "uniform":
            return float(generator.uniform(low, high))
        if kind == "log-uniform":
            return float(math.exp(generator.uniform(math.log(low), math.log(high))))
        return int(generator.integers(low, high + 1))

    history = []
    for _ in range(n_trials):
        params = {name: draw(spec, generators[name]) for name, spec in space.items()}
        history.append((params, objective(**params)))
    sign = 1.0 if direction == "maximize" else -1.0
    best = max(range(len(history)), key=lambda k: (sign * history[k][1], -k))
    return history[best][0], history[best][1], history
