# Mutant: macro / weighted / micro averages over the classes of y_true only, ignoring classes that are only predicted
# %% grade_id=precision_recall_f1
def precision_recall_f1(y_true, y_pred, average="binary", pos_label=1):
    """(precision, recall, F1) for one class ("binary") or averaged over classes ("macro", "micro", "weighted")."""
    if average not in ("binary", "macro", "micro", "weighted"):
        raise ValueError(f"unknown average {average!r}")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    if average == "binary":
        classes = np.unique(np.concatenate([y_true, y_pred]))
        if len(classes) > 2:
            raise ValueError(f"average='binary' needs at most two labels, found {len(classes)}")
        classes = [pos_label]
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in classes], dtype=float)
    fp = np.array([np.sum((y_true != c) & (y_pred == c)) for c in classes], dtype=float)
    fn = np.array([np.sum((y_true == c) & (y_pred != c)) for c in classes], dtype=float)
    support = tp + fn
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)

    def ratio(top, bottom):
        return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)

    scores = [ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)]
    if average == "weighted":
        weights = support / support.sum()
    else:
        weights = np.full(len(tp), 1.0 / len(tp))
    return tuple(float(np.dot(score, weights)) for score in scores)
