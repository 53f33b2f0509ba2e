"""The test helpers of assignment a01 (course_utils.checks.a01_neural_net_from_scratch), without nbgrader.

The solution's functions pass every check on fresh random cases. Wrong answers written from the
released notebook fail the check of their part on every draw: the ones below are checked here, in
process, in a fraction of a second each; tests/mutants/a01_neural_net_from_scratch/ holds those that
go through the whole nbgrader round trip (test_assignments.py).
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest
from tqdm.auto import tqdm

import nbgrader_harness as H
from nbtools import exec_as_cell
from course_utils import grading as G
from course_utils.checks import a01_neural_net_from_scratch as A01

ASSIGNMENT = "a01_neural_net_from_scratch"
DRAWS = (11, 12, 13)  # every wrong answer must fail on each of these draws


def _solution_cells() -> dict[str, str]:
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: H.strip_solution_markers(cell.source) for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution") and "def " in cell.source}


SOLUTION = _solution_cells()


def _namespace(**replaced_cells: str) -> dict:
    """The graded functions as a notebook defines them: the solution's cells, some replaced."""
    namespace = {"np": np, "tqdm": tqdm, "__name__": "__main__"}
    for grade_id, source in {**SOLUTION, **replaced_cells}.items():
        exec_as_cell(source, namespace, grade_id)
    return namespace


def _train_variant(old: str, new: str) -> str:
    assert old in SOLUTION["train"], old
    return SOLUTION["train"].replace(old, new)


@pytest.fixture(scope="module")
def solution() -> dict:
    return _namespace()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_solution_passes_every_function_check(solution, seed):
    rng = np.random.default_rng(seed)
    A01.check_relu(solution["relu"], solution["relu_grad"], rng)
    A01.check_softmax(solution["softmax"], rng)
    A01.check_cross_entropy(solution["cross_entropy"], rng)
    A01.check_init_params(solution["init_params"], rng)
    A01.check_forward_cases(solution["forward"], rng)
    A01.check_predict_cases(solution["predict"], rng)
    A01.check_backward_cases(solution["backward"], rng)
    A01.check_backward(solution["backward"], *A01.backward_case(rng, [3, 5, 4, 3], 7, kink_free=True), "a net",
                       finite_differences=True)
    A01.check_multistep_lr(solution["multistep_lr"], rng)
    A01.check_train_steps(solution["train"], solution["init_params"], A01.train_case(rng, missing_class=True))
    A01.check_train_history(solution["train"], A01.train_case(rng))


BACKWARD_BY_AUTOGRAD = '''
import torch as _t

def backward(params, cache, probs, labels):
    weights = [(_t.tensor(p["W"], requires_grad=True), _t.tensor(p["b"], requires_grad=True)) for p in params]
    A = _t.tensor(cache[0][0])
    for i, (W, b) in enumerate(weights):
        A = A @ W + b if i == len(weights) - 1 else _t.relu(A @ W + b)
    _t.nn.functional.cross_entropy(A, _t.tensor(labels)).backward()
    return [{"W": W.grad.numpy(), "b": b.grad.numpy()} for W, b in weights]
'''
BACKWARD_BY_COURSE_DIFFERENCES = '''
from course_utils.grading import numerical_gradient as _difference

def backward(params, cache, probs, labels):
    def loss():
        return cross_entropy(forward(params, cache[0][0])[0], labels)
    return [{key: _difference(loss, layer[key]) for key in ("W", "b")} for layer in params]
'''
BACKWARD_BY_OWN_DIFFERENCES = '''
def backward(params, cache, probs, labels, h=1e-5):
    grads = []
    for layer in params:
        grads.append({})
        for key, array in layer.items():
            grad = np.zeros_like(array)
            for index in np.ndindex(array.shape):
                old = array[index]
                array[index] = old + h
                up = cross_entropy(forward(params, cache[0][0])[0], labels)
                array[index] = old - h
                down = cross_entropy(forward(params, cache[0][0])[0], labels)
                array[index] = old
                grad[index] = (up - down) / (2 * h)
            grads[-1][key] = grad
    return grads
'''
BACKWARD_ONE_HOT_FROM_LABELS = SOLUTION["backward"].replace(
    "targets = np.zeros((n_examples, n_classes))", "targets = np.zeros((n_examples, labels.max() + 1))")

# name: (replaced cells, the check that must fail, what its message must say)
WRONG_ANSWERS = {
    "relu_keeps_integer_dtype": ({"relu": "def relu(z):\n    return np.maximum(z, 0)\n\ndef relu_grad(z):\n    return np.asarray(z) > 0\n"},
                                 lambda ns, rng: A01.check_relu(ns["relu"], ns["relu_grad"], rng), "float"),
    "softmax_batch_maximum": ({"softmax": "def softmax(z):\n    e = np.exp(z - np.max(z))\n    return e / e.sum(axis=1, keepdims=True)\n"},
                              lambda ns, rng: A01.check_softmax(ns["softmax"], rng), "softmax"),
    "softmax_sums_without_keepdims": (
        {"softmax": "def softmax(z):\n    e = np.exp(z - z.max(axis=1, keepdims=True))\n    return (e.T / e.sum(axis=1)).T if z.shape[0] != z.shape[1] else e / e.sum(axis=1)\n"},
        lambda ns, rng: A01.check_softmax(ns["softmax"], rng), "square"),
    "softmax_from_scipy": ({"softmax": "from scipy.special import softmax as _s\n\ndef softmax(z):\n    return _s(z, axis=1)\n"},
                           lambda ns, rng: A01.check_softmax(ns["softmax"], rng), "scipy"),
    "cross_entropy_from_sklearn": (
        {"cross_entropy": "from sklearn.metrics import log_loss\n\ndef cross_entropy(probs, labels, eps=1e-12):\n"
                          "    return float(log_loss(labels, probs, labels=np.arange(probs.shape[1])))\n"},
        lambda ns, rng: A01.check_cross_entropy(ns["cross_entropy"], rng), "sklearn"),
    "cross_entropy_ignores_eps": (
        {"cross_entropy": "def cross_entropy(probs, labels, eps=1e-12):\n    p = probs[np.arange(len(labels)), labels]\n"
                          "    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))\n"},
        lambda ns, rng: A01.check_cross_entropy(ns["cross_entropy"], rng), "eps="),
    "cross_entropy_mean_over_classes": (
        {"cross_entropy": "def cross_entropy(probs, labels, eps=1e-12):\n    Y = np.eye(probs.shape[1])[labels]\n"
                          "    return float(-np.mean(Y * np.log(np.clip(probs, eps, 1.0))))\n"},
        lambda ns, rng: A01.check_cross_entropy(ns["cross_entropy"], rng), "cross_entropy"),
    "init_params_bias_row": (
        {"init_params": SOLUTION["init_params"].replace('"b": np.zeros(n_out)', '"b": np.zeros((1, n_out))')},
        lambda ns, rng: A01.check_init_params(ns["init_params"], rng), "1-D"),
    "init_params_fan_out": (
        {"init_params": SOLUTION["init_params"].replace("np.sqrt(2.0 / n_in)", "np.sqrt(2.0 / n_out)")},
        lambda ns, rng: A01.check_init_params(ns["init_params"], rng), "sqrt"),
    "init_params_unseeded": (
        {"init_params": SOLUTION["init_params"].replace("np.random.default_rng(seed)", "np.random.default_rng()")},
        lambda ns, rng: A01.check_init_params(ns["init_params"], rng), "same seed"),
    "predict_floats": ({"predict": "def predict(params, X):\n    return forward(params, X)[0].argmax(axis=1).astype(float)\n"},
                       lambda ns, rng: A01.check_predict_cases(ns["predict"], rng), "integer"),
    "forward_caches_outputs": (
        {"forward": SOLUTION["forward"].replace(
            "        cache.append((activation, pre_activation))\n        activation = softmax(pre_activation) if index == last_layer else relu(pre_activation)",
            "        activation = softmax(pre_activation) if index == last_layer else relu(pre_activation)\n        cache.append((activation, pre_activation))")},
        lambda ns, rng: A01.check_forward_cases(ns["forward"], rng), "cache"),
    "backward_torch_autograd": ({"backward": BACKWARD_BY_AUTOGRAD}, lambda ns, rng: A01.check_backward_cases(ns["backward"], rng), "torch"),
    "backward_course_finite_differences": ({"backward": BACKWARD_BY_COURSE_DIFFERENCES},
                                           lambda ns, rng: A01.check_backward_cases(ns["backward"], rng), "numerical_gradient"),
    "backward_own_finite_differences": ({"backward": BACKWARD_BY_OWN_DIFFERENCES},
                                        lambda ns, rng: A01.check_backward_cases(ns["backward"], rng), "grads["),
    "backward_one_hot_from_labels": ({"backward": BACKWARD_ONE_HOT_FROM_LABELS},
                                     lambda ns, rng: A01.check_backward_cases(ns["backward"], rng), ""),
    "multistep_lr_assumes_sorted": (
        {"multistep_lr": "def multistep_lr(base_lr, epoch, milestones, gamma):\n    lr = base_lr\n    for m in milestones:\n"
                         "        if epoch < m:\n            break\n        lr *= gamma\n    return lr\n"},
        lambda ns, rng: A01.check_multistep_lr(ns["multistep_lr"], rng), "multistep_lr"),
    "train_drops_last_batch": ({"train": _train_variant("range(0, len(X), batch_size)", "range(0, len(X) - batch_size + 1, batch_size)")},
                               lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "updates"),
    "train_counts_present_classes": ({"train": _train_variant("int(labels.max()) + 1", "len(np.unique(labels))")},
                                     lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng, missing_class=True)), ""),
    "train_never_shuffles": ({"train": _train_variant("order = shuffle_rng.permutation(len(X))", "order = np.arange(len(X))")},
                             lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "original order"),
    "train_same_order_each_epoch": (
        {"train": _train_variant("order = shuffle_rng.permutation(len(X))", "order = np.random.default_rng(seed).permutation(len(X))")},
        lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "same order"),
    "train_shuffles_the_callers_arrays": (
        {"train": _train_variant("    X = np.asarray(X, dtype=float)\n", "").replace(
            "order = shuffle_rng.permutation(len(X))",
            "order = shuffle_rng.permutation(len(X)); X[:] = X[order]; labels[:] = labels[order]; order = np.arange(len(X))")},
        lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "changed in place"),
    "train_concatenates_lists": ({"train": _train_variant("[X.shape[1], *hidden_sizes, n_classes]", "[X.shape[1]] + hidden_sizes + [n_classes]")},
                                 lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "list"),
    "train_ignores_seed_for_weights": ({"train": _train_variant("n_classes], seed=seed)", "n_classes])")},
                                       lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "initial"),
    "train_epochs_from_one": ({"train": _train_variant("multistep_lr(lr, epoch, milestones, gamma)", "multistep_lr(lr, epoch + 1, milestones, gamma)")},
                              lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "lr"),
    "train_no_bias_update": ({"train": _train_variant('                layer["b"] -= lr_now * layer_grads["b"]\n', "")},
                             lambda ns, rng: A01.check_train_steps(ns["train"], ns["init_params"], A01.train_case(rng)), "['b']"),
    "train_accuracy_in_percent": (
        {"train": _train_variant('history["accuracy"].append(float(', 'history["accuracy"].append(100 * float(')},
        lambda ns, rng: A01.check_train_history(ns["train"], A01.train_case(rng)), "fraction"),
    "train_loss_before_the_updates": (
        {"train": _train_variant("        lr_now = multistep_lr(lr, epoch, milestones, gamma)\n",
                                 "        lr_now = multistep_lr(lr, epoch, milestones, gamma)\n        probs_all, _ = forward(params, X)\n"
                                 "        history['loss'].append(cross_entropy(probs_all, labels))\n").replace(
            '        history["loss"].append(cross_entropy(probs_all, labels))\n', "")},
        lambda ns, rng: A01.check_train_history(ns["train"], A01.train_case(rng)), "history['loss']"),
}


@pytest.mark.parametrize("name", sorted(WRONG_ANSWERS))
def test_a_wrong_answer_fails_its_check_on_every_draw(name):
    cells, check, message = WRONG_ANSWERS[name]
    namespace = _namespace(**cells)
    for draw in DRAWS:
        with pytest.raises(Exception, match=re.escape(message) if message else None):
            check(namespace, np.random.default_rng(draw))


def test_baseline_and_sweep_numbers_are_recomputed(solution, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")  # the settings the autograder uses
    settings = A01.notebook_settings()
    namespace = {**settings, **A01.notebook_data(settings["N_SAMPLES"])}
    train, predict = solution["train"], solution["predict"]

    def accuracies(name, hidden_sizes):
        params, history = train(namespace[f"X_{name}_train"], namespace[f"y_{name}_train"], hidden_sizes=hidden_sizes,
                                epochs=settings["EPOCHS"], batch_size=settings["BATCH_SIZE"], lr=settings["LR"],
                                milestones=settings["MILESTONES"], gamma=settings["GAMMA"], seed=0)
        return history["accuracy"][-1], float(np.mean(predict(params, namespace[f"X_{name}_test"]) == namespace[f"y_{name}_test"]))

    namespace["logreg_test_accuracy"] = accuracies("circles", [])[1]
    namespace["mlp_test_accuracy"] = accuracies("circles", settings["HIDDEN"])[1]
    sweep = [accuracies("spirals", [settings["SWEEP_WIDTH"]] * depth) for depth in settings["DEPTHS"]]
    namespace["sweep_train_accuracy"] = [train_accuracy for train_accuracy, _ in sweep]
    namespace["sweep_test_accuracy"] = [test_accuracy for _, test_accuracy in sweep]
    A01.check_baseline(train, namespace)
    A01.check_sweep(train, namespace)

    typed_in = {**namespace, "logreg_test_accuracy": 0.5, "mlp_test_accuracy": 0.98,
                "sweep_train_accuracy": [0.4, 0.6, 0.85, 0.9, 0.88], "sweep_test_accuracy": [0.4, 0.58, 0.83, 0.87, 0.85]}
    with pytest.raises(AssertionError, match="recomputed here"):
        A01.check_baseline(train, typed_in)
    with pytest.raises(AssertionError, match="recomputed here"):
        A01.check_sweep(train, typed_in)
    with pytest.raises(AssertionError, match="use the notebook's settings"):
        A01.check_baseline(train, {**namespace, "EPOCHS": 5})


def test_a_train_that_uses_pytorch_fails_at_once(solution):
    namespace = _namespace(backward=BACKWARD_BY_AUTOGRAD)
    with pytest.raises(AssertionError, match="torch"):
        A01.probe_train(namespace["train"])
    A01.probe_train(solution["train"])
    assert G.call_student(solution["relu"], np.array([-1.0, 2.0]), limits=A01.NUMPY_ONLY).tolist() == [0.0, 2.0]
