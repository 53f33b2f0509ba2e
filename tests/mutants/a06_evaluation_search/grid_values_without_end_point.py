# Mutant: a grid that misses its upper end point (np.linspace with endpoint=False)
# %% grade_id=grid_search
def grid_values(low, high, n, log=False):
    if log:
        return 10.0 ** np.linspace(np.log10(low), np.log10(high), n, endpoint=False)
    return np.linspace(low, high, n, endpoint=False)


def grid_search(objective, grid, direction="maximize"):
    names = list(grid)
    history = []
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values))
        history.append((params, objective(**params)))
    sign = 1.0 if direction == "maximize" else -1.0
    best = max(range(len(history)), key=lambda k: (sign * history[k][1], -k))
    return history[best][0], history[best][1], history
