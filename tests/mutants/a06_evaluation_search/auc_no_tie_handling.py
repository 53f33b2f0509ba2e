# Mutant: ROC AUC from ranks without averaging tied scores (ties broken by position)
# %% grade_id=roc_auc
def roc_auc(y_true, y_score):
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    n_pos, n_neg = int(np.sum(y_true == 1)), int(np.sum(y_true == 0))
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes in y_true")
    ranks = np.empty(len(y_score))
    ranks[np.argsort(y_score, kind="mergesort")] = np.arange(1, len(y_score) + 1)
    return float((ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
