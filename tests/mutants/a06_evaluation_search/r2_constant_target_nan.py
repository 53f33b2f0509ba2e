# Mutant: R^2 of a constant target divides by zero
# %% grade_id=regression_metrics
def r2_score(y_true, y_pred):
    """Coefficient of determination: 1 - residual sum of squares / total sum of squares."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    residual = np.sum((y_true - y_pred) ** 2)
    total = np.sum((y_true - np.mean(y_true)) ** 2)
    return float(1.0 - residual / total)


def adjusted_r2(y_true, y_pred, n_features):
    """R^2 corrected for the number of features p: 1 - (1 - R^2)(n - 1)/(n - p - 1)."""
    n = len(y_true)
    dof = n - n_features - 1
    if dof <= 0:
        raise ValueError(f"adjusted R^2 needs n - p - 1 > 0, got n={n}, p={n_features}")
    return float(1.0 - (1.0 - r2_score(y_true, y_pred)) * (n - 1) / dof)
