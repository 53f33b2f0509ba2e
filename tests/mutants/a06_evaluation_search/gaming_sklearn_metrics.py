# Mutant: gaming attempt: every metric delegates to sklearn.metrics
# %% grade_id=confusion_matrix
from sklearn import metrics as _skm


def confusion_matrix(y_true, y_pred, labels=None):
    return _skm.confusion_matrix(y_true, y_pred, labels=labels)
# %% grade_id=precision_recall_f1
def precision_recall_f1(y_true, y_pred, average="binary", pos_label=1):
    return tuple(float(v) for v in _skm.precision_recall_fscore_support(y_true, y_pred, average=average, pos_label=pos_label, zero_division=0)[:3])
# %% grade_id=roc_auc
def roc_auc(y_true, y_score):
    if len(set(np.asarray(y_true).tolist())) < 2:
        raise ValueError("one class")
    return float(_skm.roc_auc_score(y_true, y_score))
# %% grade_id=regression_metrics
def r2_score(y_true, y_pred):
    return float(_skm.r2_score(y_true, y_pred))


def adjusted_r2(y_true, y_pred, n_features):
    n = len(y_true)
    if n - n_features - 1 <= 0:
        raise ValueError("too few examples")
    return 1 - (1 - r2_score(y_true, y_pred)) * (n - 1) / (n - n_features - 1)
