# Mutant: gaming attempt: call the course's reference implementations and scikit-learn's search and dummy classes
# %% grade_id=confusion_matrix
from course_utils import metrics as _ref
from course_utils import search as _search


def confusion_matrix(y_true, y_pred, labels=None):
    return _ref.confusion_matrix(y_true, y_pred, labels=labels)
# %% grade_id=precision_recall_f1
def precision_recall_f1(y_true, y_pred, average="binary", pos_label=1):
    return _ref.precision_recall_f1(y_true, y_pred, average=average, pos_label=pos_label)
# %% grade_id=roc_auc
def roc_auc(y_true, y_score):
    if len(set(np.asarray(y_true).tolist())) < 2:
        raise ValueError("one class")
    return _ref.roc_auc(y_true, y_score)
# %% grade_id=dummy_baseline
from sklearn.dummy import DummyClassifier as _DC, DummyRegressor as _DR


class DummyBaseline:
    def __init__(self, strategy="most_frequent"):
        if strategy not in ("most_frequent", "mean", "median"):
            raise ValueError(strategy)
        self.model = _DC(strategy=strategy) if strategy == "most_frequent" else _DR(strategy=strategy)

    def fit(self, X, y):
        self.model.fit(X, y)
        return self

    def predict(self, X):
        return self.model.predict(X)
# %% grade_id=grid_search
def grid_values(low, high, n, log=False):
    return _search.grid_values(low, high, n, log=log)


def grid_search(objective, grid, direction="maximize"):
    from sklearn.model_selection import ParameterGrid
    history = [(dict(params), objective(**params)) for params in ParameterGrid(grid)]
    pick = max if direction == "maximize" else min
    best_params, best_value = pick(history, key=lambda pair: pair[1])
    return best_params, best_value, history
