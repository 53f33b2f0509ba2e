# Mutant: macro-F1 computed as the F1 of the macro precision and the macro recall
# %% grade_id=precision_recall_f1
def precision_recall_f1(y_true, y_pred, average="binary", pos_label=1):
    if average not in ("binary", "macro", "micro", "weighted"):
        raise ValueError(f"unknown average {average!r}")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(np.concatenate([y_true, y_pred]))
    if average == "binary":
        if len(classes) > 2:
            raise ValueError("too many labels")
        classes = [pos_label]
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in classes], dtype=float)
    fp = np.array([np.sum((y_true != c) & (y_pred == c)) for c in classes], dtype=float)
    fn = np.array([np.sum((y_true == c) & (y_pred != c)) for c in classes], dtype=float)
    support = tp + fn
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    ratio = lambda top, bottom: np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    weights = support / support.sum() if average == "weighted" else np.full(len(tp), 1.0 / len(tp))
    p, r = float(precision @ weights), float(recall @ weights)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)
