# Mutant: tied (positive, negative) pairs counted as wins
# %% grade_id=roc_auc
def roc_auc(y_true, y_score):
    """P(score of a random positive > score of a random negative), ties counting 1/2."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    n_pos, n_neg = int(np.sum(y_true == 1)), int(np.sum(y_true == 0))
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes in y_true")
    order = np.argsort(y_score, kind="mergesort")
    _, first, count = np.unique(y_score[order], return_index=True, return_counts=True)
    ranks = np.empty(len(y_score))
    ranks[order] = np.repeat(first + count, count)  # tied scores share their average rank (1-based)
    wins = ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2.0  # Mann-Whitney U of the positives
    return float(wins / (n_pos * n_neg))
