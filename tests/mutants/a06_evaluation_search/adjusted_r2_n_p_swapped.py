# Mutant: adjusted R^2 with the number of examples and the number of features swapped
# %% grade_id=regression_metrics
def r2_score(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    residual = np.sum((y_true - y_pred) ** 2)
    total = np.sum((y_true - np.mean(y_true)) ** 2)
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return float(1.0 - residual / total)


def adjusted_r2(y_true, y_pred, n_features):
    n, p = n_features, len(y_true)
    return float(1.0 - (1.0 - r2_score(y_true, y_pred)) * (n - 1) / (n - p - 1))
