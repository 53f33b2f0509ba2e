# Mutant: default labels taken from y_true only, so a class only predicted is dropped
# %% grade_id=confusion_matrix
def confusion_matrix(y_true, y_pred, labels=None):
    """Counts (K, K): entry [i, j] is the number of examples of true class labels[i] predicted as labels[j]."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and of equal length, got shapes {y_true.shape} and {y_pred.shape}")
    if labels is None:
        labels = np.unique(y_true)
    position = {label: i for i, label in enumerate(np.asarray(labels).tolist())}
    counts = np.zeros((len(position), len(position)), dtype=np.int64)
    for truth, guess in zip(y_true.tolist(), y_pred.tolist()):
        row, column = position.get(truth), position.get(guess)
        if row is not None and column is not None:
            counts[row, column] += 1
    return counts
