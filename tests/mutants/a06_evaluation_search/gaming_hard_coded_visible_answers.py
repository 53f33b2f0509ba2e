# Mutant: gaming attempt: return the visible tests' answers and a plausible constant otherwise
# %% grade_id=roc_auc
def roc_auc(y_true, y_score):
    known = {(0.1, 0.4, 0.35, 0.8): 0.75, (0.1, 0.4, 0.4, 0.8): 0.875}
    if len(set(np.asarray(y_true).tolist())) < 2:
        raise ValueError("one class")
    return known.get(tuple(np.round(np.asarray(y_score, float), 3).tolist()), 0.5)
# %% grade_id=regression_metrics
def r2_score(y_true, y_pred):
    return 0.99 if len(y_true) == 5 else (1.0 if np.allclose(y_true, y_pred) else 0.0)


def adjusted_r2(y_true, y_pred, n_features):
    n = len(y_true)
    if n - n_features - 1 <= 0:
        raise ValueError("too few examples")
    return 1 - (1 - r2_score(y_true, y_pred)) * (n - 1) / (n - n_features - 1)
