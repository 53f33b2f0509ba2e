# Mutant: grid search always maximises
# %% grade_id=grid_search
def grid_values(low, high, n, log=False):
    """n evenly spaced values from low to high inclusive (geometrically spaced with log=True)."""
    if n == 1:
        return np.array([float(low)])
    if log:
        return 10.0 ** np.linspace(np.log10(low), np.log10(high), n)
    return np.linspace(low, high, n)


def grid_search(objective, grid, direction="maximize"):
    """Evaluate objective(**params) at every combination of the grid; return (best_params, best_value, history)."""
    names = list(grid)
    history = []
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values))
        history.append((params, objective(**params)))
    sign = 1.0
    best = max(range(len(history)), key=lambda k: (sign * history[k][1], -k))  # largest, then earliest
    return history[best][0], history[best][1], history
