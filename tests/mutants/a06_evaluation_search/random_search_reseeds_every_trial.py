# Mutant: random search that creates a new generator from the same seed for every trial
# %% grade_id=random_search
def random_search(objective, space, n_trials, seed=0, direction="maximize"):
    history = []
    for _ in range(n_trials):
        generator = np.random.default_rng(seed)
        params = {}
        for name, spec in space.items():
            if isinstance(spec, list):
                params[name] = spec[int(generator.integers(len(spec)))]
            elif spec[0] == "uniform":
                params[name] = float(generator.uniform(spec[1], spec[2]))
            elif spec[0] == "log-uniform":
                params[name] = float(math.exp(generator.uniform(math.log(spec[1]), math.log(spec[2]))))
            else:
                params[name] = int(generator.integers(spec[1], spec[2] + 1))
        history.append((params, objective(**params)))
    pick = max if direction == "maximize" else min
    best_params, best_value = pick(history, key=lambda pair: pair[1])
    return best_params, best_value, history
