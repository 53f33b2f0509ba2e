# Mutant: gaming attempt: random search that secretly evaluates ten times its budget and reports only the best trials
# %% grade_id=random_search
def random_search(objective, space, n_trials, seed=0, direction="maximize"):
    generator = np.random.default_rng(seed)

    def draw(spec):
        if isinstance(spec, list):
            return spec[int(generator.integers(len(spec)))]
        kind, low, high = spec
        if kind == "uniform":
            return float(generator.uniform(low, high))
        if kind == "log-uniform":
            return float(math.exp(generator.uniform(math.log(low), math.log(high))))
        return int(generator.integers(low, high + 1))

    trials = []
    for _ in range(10 * n_trials):
        params = {name: draw(spec) for name, spec in space.items()}
        trials.append((params, objective(**params)))
    sign = 1.0 if direction == "maximize" else -1.0
    trials.sort(key=lambda pair: -sign * pair[1])
    history = trials[:n_trials]
    return history[0][0], history[0][1], history
