"""Assignment a01, a neural network from scratch: the limits, the test helpers and the promise list.

The notebook's test cells call only the functions below, those of :mod:`course_utils.grading`,
NumPy, PyTorch and scikit-learn. Every call of a student's function goes through
:func:`course_utils.grading.call_student` with :data:`NUMPY_ONLY`. Hidden tests pass a generator from
:func:`course_utils.grading.fresh_rng`, so their cases are drawn at grading time.

Limits
------
``NUMPY_ONLY`` holds for every graded function (``relu``, ``relu_grad``, ``softmax``,
``cross_entropy``, ``init_params``, ``forward``, ``predict``, ``backward``, ``multistep_lr``,
``train``): NumPy code only. No PyTorch in any form (autograd included), no scikit-learn, no SciPy,
no ``course_utils.grading.numerical_gradient``, and no course reference
(``course_utils.numpy_nn``, ``course_utils.activations``, or a copy of their bytecode; the guard
refuses those for every task). The baseline (part 9) and sweep (part 10) cells are not functions:
their numbers are recomputed with the student's ``train`` under ``NUMPY_ONLY`` and compared.

Promise list
------------
Every promise the instructions make, and the test cell (and helper) that holds the code to it.
V: visible test; H: hidden test on cases drawn at grading time.

``relu(z)``, ``relu_grad(z)``: ``test_relu`` (:func:`check_relu`)
  R1  relu(z) = max(0, z) elementwise, for any shape ........................... V, H (oracle torch.relu)
  R2  relu_grad(z) = 1 where z > 0, else 0; 0 at z = 0 (and -0.0) ............... V, H (zeros forced in)
  R3  both return float arrays shaped like z, integer input included .......... H
  R4  both return a new array: z is unchanged and shares no memory with it ..... H
``softmax(z)``: ``test_softmax`` (:func:`check_softmax`)
  S1  (N, K) in, (N, K) out; rows are probabilities (>= 0, sum to 1) .......... V, H
  S2  normalised along each row, also when N = K .............................. V, H (oracle torch.softmax)
  S3  adding a constant to a row (a different one per row) changes nothing ..... V, H
  S4  stable: logits around +-1000, rows far below the batch's maximum ......... H
  S5  K = 1 gives ones; N = 1 works; z unchanged ............................... H
``cross_entropy(probs, labels, eps=1e-12)``: ``test_cross_entropy`` (:func:`check_cross_entropy`)
  C1  the MEAN over the batch of -log probs[i, labels[i]] ....................... V, H (oracle sklearn log_loss)
  C2  returns a Python float ..................................................... V, H
  C3  the picked probability is clipped into [eps, 1] with the eps passed in .... V, H
  C4  only the correct class enters: zeros in other classes give no nan ........ H
  C5  N = 1 and K = 2 work; probs and labels unchanged ........................ H
``init_params(layer_sizes, seed=0)``: ``test_init_params`` (:func:`check_init_params`)
  I1  a list of len(layer_sizes) - 1 dicts {"W": (n_in, n_out), "b": (n_out,)} .. V, H (random sizes, one layer)
  I2  biases are zeros ........................................................... V, H
  I3  W ~ N(0, 2 / n_in) per layer: mean 0, std sqrt(2 / n_in) with n_in of that
      layer (n_in != n_out), normal tails .................................... H
  I4  same seed, same weights (whatever NumPy's global state); other seed, other
      weights; the default seed is 0; every call returns new arrays ........... V, H
``forward(params, X)``: ``test_forward`` (:func:`check_forward`)
  F1  returns (probs, cache); probs (N, K): ReLU on hidden layers, softmax last . V, H (oracle: torch ops)
  F2  cache[i] = (A_prev, Z) of layer i, one pair per layer ..................... V, H
  F3  any depth (no hidden layer included), N = 1, biases added to every row ... H
  F4  params and X unchanged ..................................................... H
``predict(params, X)``: ``test_predict`` (:func:`check_predict`)
  P1  integer array (N,): the most probable class of each row ................... V, H
  P2  N != K, N = 1, K = 2; params and X unchanged ............................... H
``backward(params, cache, probs, labels)``: ``test_backward`` (:func:`check_backward`, finite differences
included), ``test_backward_edge_cases`` (:func:`check_backward`, :func:`check_backward_cases`)
  B1  a list shaped like params: grads[i]["W"], grads[i]["b"] with params' shapes V, H
  B2  gradients of the MEAN cross-entropy: agree with finite differences ........ V, H
  B3  agree with torch autograd, and with backpropagation to rounding error
      (rtol 1e-9): finite differences are not backpropagation ................. V, H
  B4  ReLU'(0) = 0 where Z is exactly 0; no hidden layer; N = 1; labels without
      the highest class ...................................................... H
  B5  params, cache, probs and labels unchanged ................................. H
``multistep_lr(base_lr, epoch, milestones, gamma)``: ``test_multistep_lr`` (:func:`check_multistep_lr`)
  M1  base_lr * gamma ** #{m in milestones : epoch >= m}; a milestone epoch
      counts ................................................................. V, H (oracle torch MultiStepLR,
      through :func:`rate`)
  M2  no milestones: constant; milestone 0 decays from epoch 0; milestones in any
      order, as a list or a tuple; gamma = 0 gives 0 from the first milestone .. V, H
``train(X, labels, hidden_sizes, epochs, batch_size, lr, milestones, gamma, seed, progress)``:
``test_train`` (:func:`check_train_steps`), ``test_train_history`` (:func:`check_train_history`),
``test_train_learns`` (:func:`check_training`, :func:`check_schedule_freezes`)
  T1  returns (params, history); layer sizes [d, *hidden_sizes, labels.max() + 1]
      (a class missing from labels still counts; hidden_sizes a list or tuple) V, H
  T2  starts from the student's init_params(sizes, seed=seed) .................... V, H
  T3  every epoch a fresh permutation (not the previous epoch's), cut into batches
      of batch_size, the last one smaller; every example once, with its label . V, H (the test watches the
      calls of the student's ``forward`` and ``backward``, as the instructions say)
  T4  every batch: theta <- theta - lr_e * grad for every W and b, with the rate
      lr_e of the multi-step schedule for that epoch ............................ V, H
  T5  history["lr"][e] is lr_e; every field has one entry per epoch .............. V, H
  T6  history["loss"][e], history["accuracy"][e]: cross-entropy and accuracy (a
      fraction) on the whole training set after epoch e ....................... test_train_history V, H
  T7  same seed, same result; another seed, other initial weights and order ..... V, H
  T8  X and labels unchanged ..................................................... V, H
  T9  gamma = 0 stops learning at the milestone .................................. test_train_learns V
  T10 it learns: held-out accuracy on 2-D data the test makes .................. test_train_learns V, H
  (``progress`` only chooses whether a bar is shown: not graded.)
Baseline, part 9: ``test_baseline`` (:func:`check_baseline`, :func:`check_linear_baseline`)
  L1  logreg_test_accuracy, mlp_test_accuracy: fractions in [0, 1] ................ V
  L2  each equals the held-out accuracy on the circles of the student's train
      (hidden_sizes [] and HIDDEN, the notebook's settings, seed 0), recomputed . V
  L3  what it shows: logistic regression near chance on the circles (<= 0.75),
      the MLP >= 0.9 and at least 0.2 better .................................. V
  L4  train with hidden_sizes=[] is a linear classifier: >= 0.9 on separable
      clusters, beaten by an MLP on XOR ........................................ H
Sweep, part 10: ``test_sweep`` (:func:`check_sweep`)
  W1  sweep_train_accuracy, sweep_test_accuracy: one fraction per depth in DEPTHS . V
  W2  each equals the accuracy of the student's train with [SWEEP_WIDTH] * depth
      hidden layers on that split, recomputed ................................. V
  W3  what it shows: no hidden layer stays near chance (<= 0.5); the best net with
      two or more hidden layers beats it by at least 0.2 ........................ V
The plots and the written answers are graded by hand.

Wrong answers each check must refuse on every draw: ``tests/mutants/a01_neural_net_from_scratch/``
(through nbgrader, ``tests/test_assignments.py``) and ``tests/test_checks_a01.py`` (in process).
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable

import numpy as np

from course_utils import grading as G
from course_utils import numpy_nn
from course_utils.runtime import budget

NUMPY_ONLY = G.Limits(
    modules=("torch", "sklearn", "scipy"),
    functions=("course_utils.grading.numerical_gradient",),
    rule="Graded functions use NumPy only: no PyTorch (autograd included), no scikit-learn, no SciPy, "
         "no finite differences from course_utils.",
)

EXACT = {"rtol": 1e-9, "atol": 1e-12}  # a correct NumPy answer differs from the oracle by rounding only


# ---------------------------------------------------------------- calling the student's code

def call(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """``call_student`` under :data:`NUMPY_ONLY`, with NumPy's floating-point warnings kept out of the output."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G.call_student(func, *args, limits=NUMPY_ONLY, **kwargs)


def _copy_params(params) -> list[dict[str, np.ndarray]]:
    return [{key: np.array(value, dtype=float, copy=True) for key, value in layer.items()} for layer in params]


def _check_unchanged(before: Any, after: Any, what: str) -> None:
    """Fail if an array (or a list/tuple/dict of arrays) differs from its copy taken before the call."""
    if isinstance(before, dict):
        for key in before:
            _check_unchanged(before[key], after[key], f"{what}['{key}']")
    elif isinstance(before, (list, tuple)):
        for i, (b, a) in enumerate(zip(before, after)):
            _check_unchanged(b, a, f"{what}[{i}]")
    else:
        G.check_true(np.array_equal(np.asarray(before), np.asarray(after)),
                     f"{what} was changed in place; work on a new array and leave the caller's data alone")


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


# ---------------------------------------------------------------- oracles nobody here wrote (PyTorch)

def _torch_forward(params, X):
    import torch

    A = torch.as_tensor(np.asarray(X, dtype=float))
    cache = []
    for i, layer in enumerate(params):
        Z = A @ torch.as_tensor(layer["W"]) + torch.as_tensor(layer["b"])
        cache.append((A.numpy().copy(), Z.numpy().copy()))
        A = torch.softmax(Z, dim=1) if i == len(params) - 1 else torch.relu(Z)
    return A.numpy().copy(), cache


def _torch_gradients(params, X, labels):
    """Gradients of the mean cross-entropy by torch autograd (float64)."""
    import torch

    weights = [(torch.tensor(layer["W"], requires_grad=True), torch.tensor(layer["b"], requires_grad=True))
               for layer in params]
    A = torch.as_tensor(np.asarray(X, dtype=float))
    for i, (W, b) in enumerate(weights):
        Z = A @ W + b
        A = Z if i == len(weights) - 1 else torch.relu(Z)
    torch.nn.functional.cross_entropy(A, torch.as_tensor(np.asarray(labels), dtype=torch.long)).backward()
    return [{"W": W.grad.numpy().copy(), "b": b.grad.numpy().copy()} for W, b in weights]


def accuracy(params, X, labels) -> float:
    """Fraction of rows of ``X`` whose most probable class (by the course's forward pass) is the label."""
    return float(np.mean(numpy_nn.predict(params, X) == np.asarray(labels)))


# ---------------------------------------------------------------- part 1: relu, relu_grad

def check_relu(relu: Callable, relu_grad: Callable, rng: np.random.Generator) -> None:
    """R1-R4 on random arrays of random shapes, with exact zeros (and -0.0) and an integer array."""
    import torch

    shapes = [(int(rng.integers(5, 30)),), tuple(int(s) for s in rng.integers(2, 7, size=3))]
    for shape in shapes:
        z = rng.normal(scale=2.0, size=shape)
        flat = z.reshape(-1)
        flat[rng.choice(flat.size, size=max(2, flat.size // 5), replace=False)] = 0.0
        flat[0] = -0.0
        z_copy = z.copy()
        for func, oracle, name in [(relu, torch.relu, "relu"), (relu_grad, lambda t: (t > 0).double(), "relu_grad")]:
            result = call(func, z)
            G.check_true(_is_float_array(result), f"{name} should return a float NumPy array, got "
                                                  f"{type(result).__name__} {getattr(result, 'dtype', '')}")
            note = " (the derivative at 0 is 0)" if name == "relu_grad" else ""
            G.check_close(result, oracle(torch.as_tensor(z_copy)).numpy(), rtol=0, atol=0,
                          name=f"{name}(z) for a random {shape} array with some zeros{note}")
            _check_unchanged(z_copy, z, f"the input of {name}")
            G.check_true(not np.shares_memory(result, z), f"{name} returned its input array; return a new array")
    z_int = rng.integers(-5, 6, size=(int(rng.integers(3, 9)), 4))
    z_int[0, :2] = [0, 3]
    for func, expected, name in [(relu, np.maximum(z_int, 0), "relu"), (relu_grad, (z_int > 0), "relu_grad")]:
        result = call(func, z_int)
        G.check_true(_is_float_array(result), f"{name} of an integer array should be a float array, got "
                                              f"{type(result).__name__} {getattr(result, 'dtype', '')}")
        G.check_close(result, expected.astype(float), name=f"{name} of an integer array")


# ---------------------------------------------------------------- part 2: softmax

def check_softmax(softmax: Callable, rng: np.random.Generator) -> None:
    """S1-S5: random shapes (square included) against torch.softmax, row shifts, huge logits, K = 1, N = 1."""
    import torch

    def compare(z, description, atol=1e-12):
        z_copy = z.copy()
        probs = call(softmax, z)
        G.check_shape(probs, z.shape, name=f"softmax of {description}")
        G.check_finite(probs, f"softmax of {description} (subtract each row's maximum before exp)")
        expected = torch.softmax(torch.as_tensor(z_copy), dim=1).numpy()
        G.check_close(probs, expected, rtol=1e-7, atol=atol, name=f"softmax of {description}")
        probs = np.asarray(probs, dtype=float)
        G.check_true(probs.min() >= 0, f"softmax of {description} has a negative entry")
        sums = probs.sum(axis=1)
        row = int(np.argmax(np.abs(sums - 1)))
        G.check_true(abs(sums[row] - 1) < 1e-9, f"softmax of {description}: row {row} sums to {sums[row]:.6g}, expected 1")
        _check_unchanged(z_copy, z, "the logits passed to softmax")
        return probs

    n_rows, n_classes = int(rng.integers(5, 12)), int(rng.integers(2, 8))
    n_rows += n_rows == n_classes
    z = rng.normal(scale=3.0, size=(n_rows, n_classes))
    base = compare(z, f"random ({n_rows}, {n_classes}) logits")
    shifts = rng.uniform(-50.0, 50.0, size=(n_rows, 1))
    G.check_close(call(softmax, z + shifts), base, rtol=1e-7, atol=1e-12,
                  name="softmax(z + c) with a different constant c for each row (it must equal softmax(z))")
    n_square = int(rng.integers(3, 7))
    compare(rng.normal(scale=2.0, size=(n_square, n_square)), f"square ({n_square}, {n_square}) logits (normalise each row)")
    huge = rng.normal(scale=3.0, size=(6, int(rng.integers(3, 9))))
    huge += np.array([[1000.0], [-1000.0], [800.0], [-300.0], [0.0], [1000.0]])  # rows far apart
    huge[5, :] = 1000.0  # a row of equal huge logits
    compare(huge, "logits around +-1000 in rows far apart (subtract each row's own maximum)", atol=1e-15)
    compare(rng.normal(size=(1, int(rng.integers(2, 6)))), "a single row")
    ones = call(softmax, rng.normal(size=(4, 1)))
    G.check_close(ones, np.ones((4, 1)), name="softmax with one class (every probability is 1)")


# ---------------------------------------------------------------- part 3: cross_entropy

def check_cross_entropy(cross_entropy: Callable, rng: np.random.Generator) -> None:
    """C1-C5: random batches against scikit-learn's log_loss, zeros, eps, N = 1, K = 2."""
    from sklearn.metrics import log_loss

    for n_rows, n_classes in [(int(rng.integers(8, 40)), int(rng.integers(3, 8))), (1, 3), (int(rng.integers(5, 20)), 2)]:
        logits = rng.normal(scale=2.0, size=(n_rows, n_classes))
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        labels = rng.integers(0, n_classes, size=n_rows)
        probs_copy, labels_copy = probs.copy(), labels.copy()
        loss = call(cross_entropy, probs, labels)
        G.check_true(isinstance(loss, float), f"cross_entropy should return a Python float, got {type(loss).__name__}")
        G.check_close(loss, log_loss(labels_copy, probs_copy, labels=np.arange(n_classes)), rtol=1e-9,
                      name=f"cross_entropy of a random ({n_rows}, {n_classes}) batch (the mean of -log p[correct class])")
        _check_unchanged((probs_copy, labels_copy), (probs, labels), "the (probs, labels) passed to cross_entropy")
    # zeros: in the correct class (clipped to eps) and in the other classes (they must not enter)
    n_rows = int(rng.integers(4, 10))
    probs = np.zeros((n_rows, 3))
    labels = rng.integers(0, 3, size=n_rows)
    probs[np.arange(n_rows), labels] = 1.0
    probs[0] = [0.0, 0.0, 0.0]
    probs[0, (labels[0] + 1) % 3] = 1.0  # the first example gives its correct class probability 0
    for eps in (1e-12, float(10.0 ** -rng.integers(2, 6))):
        expected = -np.log(eps) / n_rows
        loss = call(cross_entropy, probs, labels, eps=eps) if eps != 1e-12 else call(cross_entropy, probs, labels)
        G.check_finite(loss, "cross_entropy with zero probabilities (clip the picked probabilities into [eps, 1])")
        G.check_close(loss, expected, rtol=1e-9, name=f"cross_entropy with eps={eps:g} when one correct class has "
                                                       "probability 0 and the other classes hold zeros")


# ---------------------------------------------------------------- part 4: init_params

def check_layers(params: Any, sizes: list[int], who: str = "init_params") -> None:
    """Structure (I1) and zero biases (I2) of a parameter list for ``sizes``."""
    G.check_true(isinstance(params, (list, tuple)), f"{who} should return a list of layers, got {type(params).__name__}")
    G.check_true(len(params) == len(sizes) - 1,
                 f"layer sizes {sizes} need {len(sizes) - 1} layer(s); {who} returned {len(params)}")
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        G.check_true(isinstance(params[i], dict) and {"W", "b"} <= set(params[i]),
                     f"params[{i}] from {who} should be a dict with keys 'W' and 'b'")
        G.check_shape(params[i]["W"], (n_in, n_out), name=f"params[{i}]['W'] for layer sizes {sizes}")
        G.check_shape(params[i]["b"], (n_out,), name=f"params[{i}]['b'] for layer sizes {sizes} (a 1-D vector)")


def check_init_params(init_params: Callable, rng: np.random.Generator) -> None:
    """I1-I4 on random layer sizes; He statistics on wide layers whose fan-in and fan-out differ."""
    sizes = [int(rng.integers(2, 9))] + [int(s) for s in rng.integers(3, 40, size=int(rng.integers(1, 4)))] + [int(rng.integers(2, 6))]
    for layer_sizes in (sizes, [int(rng.integers(2, 9)), int(rng.integers(2, 6))]):
        params = call(init_params, layer_sizes, int(rng.integers(1000)))
        check_layers(params, layer_sizes)
        for i, layer in enumerate(params):
            G.check_close(layer["b"], np.zeros(layer_sizes[i + 1]), name=f"params[{i}]['b'] (biases start at 0)")
    # He initialisation, layer by layer: fan-in differs from fan-out, so sqrt(2 / n_out) fails
    wide = [int(rng.integers(350, 500)), int(rng.integers(150, 250)), int(rng.integers(20, 60))]
    params = call(init_params, wide, int(rng.integers(1000)))
    check_layers(params, wide)
    for i, (n_in, n_out) in enumerate(zip(wide[:-1], wide[1:])):
        weights = np.asarray(params[i]["W"], dtype=float)
        expected_std, count = math.sqrt(2.0 / n_in), weights.size
        G.check_true(abs(weights.std() / expected_std - 1.0) < 6.5 / math.sqrt(2 * count),
                     f"params[{i}]['W'] (layer sizes {n_in} -> {n_out}) has standard deviation {weights.std():.4f}; "
                     f"He initialisation uses sqrt(2 / n_in) = {expected_std:.4f}")
        G.check_true(abs(weights.mean()) < 6.5 * expected_std / math.sqrt(count),
                     f"params[{i}]['W'] has mean {weights.mean():.4f}; the weights should be centred on 0")
        if i == 0:  # a normal distribution puts 4.55 % of its mass beyond two standard deviations
            tail = float(np.mean(np.abs(weights) > 2 * expected_std))
            G.check_true(abs(tail - 0.0455) < 6.5 * math.sqrt(0.0455 * 0.9545 / count),
                         f"{tail:.2%} of params[0]['W'] lie beyond two standard deviations; a normal distribution "
                         "has 4.55 % there (draw the weights from a normal distribution)")
    # seeds: reproducible whatever NumPy's global state, the default is 0, other seeds differ, arrays are new
    seed = int(rng.integers(1, 1000))
    first = call(init_params, sizes, seed)
    np.random.seed(int(rng.integers(2**31)))
    again = call(init_params, sizes, seed)
    for i in range(len(first)):
        G.check_close(again[i]["W"], first[i]["W"], rtol=0, atol=0, name=f"params[{i}]['W'] from a second call with the same seed")
        G.check_true(not np.shares_memory(again[i]["W"], first[i]["W"]),
                     "init_params returned the same arrays twice; every call must build new arrays")
    other = call(init_params, sizes, seed + 1)
    G.check_true(not np.allclose(other[0]["W"], first[0]["W"]), f"init_params gave the same weights for seeds {seed} and {seed + 1}")
    default, zero = call(init_params, sizes), call(init_params, sizes, 0)
    G.check_close(default[0]["W"], zero[0]["W"], rtol=0, atol=0, name="init_params(sizes) (the default seed is 0)")


# ---------------------------------------------------------------- part 5: forward, predict

def random_network(rng: np.random.Generator, sizes: list[int], bias_scale: float = 0.5) -> list[dict[str, np.ndarray]]:
    """He-initialised weights and random (non-zero) biases for ``sizes``."""
    return [{"W": rng.normal(scale=math.sqrt(2.0 / n_in), size=(n_in, n_out)), "b": rng.normal(scale=bias_scale, size=n_out)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def check_forward(forward: Callable, params: list, X: np.ndarray, description: str) -> None:
    """F1, F2, F4 for one network and batch, against the same computation in PyTorch."""
    params_copy, X_copy = _copy_params(params), np.array(X, copy=True)
    expected_probs, expected_cache = _torch_forward(params_copy, X_copy)
    result = call(forward, params, X)
    G.check_true(isinstance(result, tuple) and len(result) == 2, "forward must return a pair (probs, cache)")
    probs, cache = result
    G.check_shape(probs, expected_probs.shape, name=f"probs from forward ({description})")
    G.check_close(probs, expected_probs, rtol=1e-7, atol=1e-12, name=f"probs from forward ({description})")
    G.check_true(isinstance(cache, (list, tuple)) and len(cache) == len(params),
                 f"the cache should hold one (A_prev, Z) pair per layer: {len(params)} layer(s) ({description})")
    for i, (entry, (A_expected, Z_expected)) in enumerate(zip(cache, expected_cache)):
        G.check_true(isinstance(entry, (list, tuple)) and len(entry) == 2, f"cache[{i}] should be a pair (A_prev, Z)")
        G.check_close(entry[0], A_expected, rtol=1e-7, atol=1e-12, name=f"cache[{i}][0], the input A_prev of layer {i} ({description})")
        G.check_close(entry[1], Z_expected, rtol=1e-7, atol=1e-12, name=f"cache[{i}][1], the pre-activation Z of layer {i} ({description})")
    _check_unchanged(params_copy, params, "params passed to forward")
    _check_unchanged(X_copy, X, "X passed to forward")


def check_forward_cases(forward: Callable, rng: np.random.Generator) -> None:
    """F1-F4 on a random deep network, logistic regression and a single example."""
    deep = [int(rng.integers(2, 8))] + [int(s) for s in rng.integers(3, 12, size=int(rng.integers(2, 4)))] + [int(rng.integers(2, 6))]
    for sizes, n_rows in [(deep, int(rng.integers(5, 20))), ([int(rng.integers(2, 6)), int(rng.integers(2, 6))], int(rng.integers(5, 12))),
                          ([int(rng.integers(2, 6)), int(rng.integers(3, 9)), int(rng.integers(2, 5))], 1)]:
        check_forward(forward, random_network(rng, sizes), rng.normal(size=(n_rows, sizes[0])),
                      f"layer sizes {sizes}, {n_rows} example(s)")


def check_predict(predict: Callable, params: list, X: np.ndarray, description: str) -> None:
    """P1, P2 for one network and batch."""
    params_copy, X_copy = _copy_params(params), np.array(X, copy=True)
    labels = call(predict, params, X)
    expected = _torch_forward(params_copy, X_copy)[0].argmax(axis=1)
    G.check_true(isinstance(labels, np.ndarray) and np.issubdtype(labels.dtype, np.integer),
                 f"predict should return an integer NumPy array, got {type(labels).__name__} {getattr(labels, 'dtype', '')} ({description})")
    G.check_shape(labels, expected.shape, name=f"predict(params, X) ({description})")
    G.check_close(labels, expected, rtol=0, atol=0, name=f"predict(params, X) ({description})")
    _check_unchanged(params_copy, params, "params passed to predict")
    _check_unchanged(X_copy, X, "X passed to predict")


def check_predict_cases(predict: Callable, rng: np.random.Generator) -> None:
    """P1, P2 on random networks: many examples, a single one, two classes."""
    for sizes, n_rows in [([int(rng.integers(2, 6)), int(rng.integers(5, 15)), int(rng.integers(3, 7))], int(rng.integers(10, 30))),
                          ([int(rng.integers(2, 6)), int(rng.integers(5, 15)), 2], int(rng.integers(3, 9))),
                          ([int(rng.integers(2, 6)), int(rng.integers(3, 7))], 1)]:
        check_predict(predict, random_network(rng, sizes, bias_scale=1.0), rng.normal(size=(n_rows, sizes[0])),
                      f"layer sizes {sizes}, {n_rows} example(s)")


# ---------------------------------------------------------------- part 6: backward

def backward_case(rng: np.random.Generator, sizes: list[int], n_rows: int, *, kink_free: bool = False,
                  zero_rows: bool = False, missing_last_class: bool = False) -> tuple:
    """A random network and batch for backward: (params, X, labels). Options shape the edge cases."""
    for _ in range(100):
        params = random_network(rng, sizes, bias_scale=0.1)
        X = rng.normal(size=(n_rows, sizes[0]))
        if zero_rows:  # exact zeros in the first pre-activation: ReLU'(0) must be 0
            params[0]["b"][: max(1, sizes[1] // 2)] = 0.0
            X[: max(1, n_rows // 3)] = 0.0
        high = sizes[-1] - 1 if missing_last_class else sizes[-1]
        labels = rng.integers(0, high, size=n_rows)
        if not kink_free or all(np.abs(Z).min() > 1e-3 for _, Z in _torch_forward(params, X)[1][:-1]):
            return params, X, labels
    raise RuntimeError("could not draw a network without pre-activations near 0")


def check_backward(backward: Callable, params: list, X: np.ndarray, labels: np.ndarray, description: str,
                   finite_differences: bool = False) -> None:
    """B1-B3, B5 for one case: torch autograd, backpropagation to rounding, optionally finite differences."""
    probs, cache = _torch_forward(params, X)
    params_copy, X_copy, labels_copy = _copy_params(params), X.copy(), labels.copy()
    cache_copy, probs_copy = [(a.copy(), z.copy()) for a, z in cache], probs.copy()
    grads = call(backward, params, cache, probs, labels)
    _check_unchanged(params_copy, params, "params passed to backward")
    _check_unchanged(cache_copy, cache, "the cache passed to backward")
    _check_unchanged(probs_copy, probs, "probs passed to backward")
    _check_unchanged(labels_copy, labels, "labels passed to backward")
    G.check_true(isinstance(grads, (list, tuple)) and len(grads) == len(params),
                 f"backward should return one dict of gradients per layer ({len(params)} for {description})")
    expected_torch = _torch_gradients(params_copy, X_copy, labels_copy)
    expected_exact = numpy_nn.backward(params_copy, cache_copy, probs_copy, labels_copy)

    def loss():
        return numpy_nn.cross_entropy(numpy_nn.forward(params_copy, X_copy)[0], labels_copy)

    for i, layer in enumerate(params_copy):
        G.check_true(isinstance(grads[i], dict) and {"W", "b"} <= set(grads[i]),
                     f"grads[{i}] should be a dict with keys 'W' and 'b' ({description})")
        for key in ("W", "b"):
            what = f"grads[{i}]['{key}'] ({description})"
            G.check_shape(grads[i][key], layer[key].shape, name=what)
            if finite_differences:
                G.check_close(grads[i][key], G.numerical_gradient(loss, layer[key]), rtol=1e-4, atol=1e-7,
                              name=f"{what} vs finite differences")
            G.check_close(grads[i][key], expected_torch[i][key], rtol=1e-7, atol=1e-10, name=f"{what} vs torch autograd")
            G.check_close(grads[i][key], expected_exact[i][key], **EXACT,
                          name=f"{what}: backpropagation is exact up to rounding (finite differences are not)")


def check_backward_cases(backward: Callable, rng: np.random.Generator) -> None:
    """B1-B5 on the edge cases: exact zeros of Z, no hidden layer, one example, a missing last class, a deep net."""
    d, h, k = int(rng.integers(2, 6)), int(rng.integers(4, 9)), int(rng.integers(3, 6))
    check_backward(backward, *backward_case(rng, [d, h, k], int(rng.integers(6, 12)), zero_rows=True),
                   f"sizes {[d, h, k]}, some pre-activations exactly 0 (ReLU'(0) = 0)")
    sizes = [int(rng.integers(2, 7)), int(rng.integers(2, 6))]
    check_backward(backward, *backward_case(rng, sizes, int(rng.integers(5, 15))), f"logistic regression, sizes {sizes}")
    sizes = [d, h, h, k]
    check_backward(backward, *backward_case(rng, sizes, 1), f"a single example, sizes {sizes}")
    sizes = [d, h, k]
    check_backward(backward, *backward_case(rng, sizes, int(rng.integers(4, 9)), missing_last_class=True),
                   f"sizes {sizes}, labels without the last class {k - 1}")
    sizes = [d] + [int(s) for s in rng.integers(3, 9, size=3)] + [k]
    check_backward(backward, *backward_case(rng, sizes, int(rng.integers(20, 70))), f"a deep net, sizes {sizes}")


# ---------------------------------------------------------------- part 7: multistep_lr

def check_multistep_lr(multistep_lr: Callable, rng: np.random.Generator) -> None:
    """M1, M2 on random schedules, around every milestone; unsorted and tuple milestones, milestone 0, gamma 0.

    The expected rates come from :func:`rate`, the course's reference, which tests/test_numpy_nn.py holds to
    torch's MultiStepLR (building that scheduler would cost the grading kernel seconds).
    """
    for case_index in range(3):
        n_milestones = int(rng.integers(1, 5)) if case_index < 2 else int(rng.integers(2, 5))
        milestones = sorted(int(m) for m in rng.choice(np.arange(1, 60), size=n_milestones, replace=False))
        gamma, base = float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.001, 1.0))
        given = [milestones, tuple(milestones), milestones[::-1]][case_index]  # a list, a tuple, out of order
        for epoch in sorted({0, 69} | {m + d for m in milestones for d in (-1, 0, 1)}):
            G.check_close(call(multistep_lr, base, epoch, given, gamma), rate(base, epoch, milestones, gamma), rtol=1e-12,
                          name=f"multistep_lr({base:.4g}, epoch={epoch}, milestones={given}, gamma={gamma:.3g})")
    base = float(rng.uniform(0.01, 1.0))
    G.check_close(call(multistep_lr, base, 0, [0, 5], 0.5), base * 0.5, rtol=1e-12,
                  name=f"multistep_lr({base:.4g}, epoch=0, milestones=[0, 5], gamma=0.5) (milestone 0 counts at epoch 0)")
    G.check_close(call(multistep_lr, base, 7, (), 0.5), base, rtol=1e-12, name="multistep_lr with milestones=() (no decay)")
    milestone = int(rng.integers(2, 9))
    G.check_close(call(multistep_lr, base, milestone - 1, [milestone], 0.0), base, rtol=1e-12,
                  name=f"multistep_lr with gamma=0 before the milestone {milestone}")
    G.check_close(call(multistep_lr, base, milestone + 3, [milestone], 0.0), 0.0,
                  name=f"multistep_lr with gamma=0 after the milestone {milestone}")


# ---------------------------------------------------------------- part 8: train

def rate(base_lr: float, epoch: int, milestones, gamma: float) -> float:
    """The multi-step rate of ``epoch`` (the course's reference, held to torch's MultiStepLR in tests/test_numpy_nn.py)."""
    return numpy_nn.multistep_lr(base_lr, epoch, milestones, gamma)


class _Steps:
    """Watches the student's ``forward`` and ``backward`` while their ``train`` runs (the notebook's names).

    Records, for every call of backward, the parameters it was given, the batch (the rows of the
    forward call that produced its probs), the labels and the gradients it returned.
    """

    def __init__(self, train: Callable):
        self.namespace = getattr(train, "__globals__", {})
        self.originals = {name: self.namespace.get(name) for name in ("forward", "backward")}
        self.steps: list[dict[str, Any]] = []
        self.last_forward: tuple[Any, Any] = (None, None)

    def __enter__(self) -> "_Steps":
        forward, backward = self.originals["forward"], self.originals["backward"]
        G.check_true(callable(forward) and callable(backward), "define forward and backward before train")
        recorder = self

        def watched_forward(params, X, *args, **kwargs):
            result = forward(params, X, *args, **kwargs)
            probs = result[0] if isinstance(result, tuple) and result else None
            recorder.last_forward = (np.array(X, dtype=float, copy=True), probs)
            return result

        def watched_backward(params, cache, probs, labels, *args, **kwargs):
            rows, forward_probs = recorder.last_forward
            if rows is None or forward_probs is not probs:
                rows = np.array(cache[0][0], dtype=float, copy=True)
            state = _copy_params(params)
            grads = backward(params, cache, probs, labels, *args, **kwargs)
            try:
                grads_copy = _copy_params(grads)
            except (TypeError, KeyError, AttributeError, ValueError):
                grads_copy = None
            recorder.steps.append({"params": state, "rows": rows, "labels": np.array(labels, copy=True), "grads": grads_copy})
            return grads

        self.namespace["forward"], self.namespace["backward"] = watched_forward, watched_backward
        return self

    def __exit__(self, *exc) -> None:
        self.namespace.update(self.originals)


def probe_train(train: Callable) -> None:
    """One tiny run of train under the guard, so code the limits refuse fails at once, before the long runs."""
    X = np.linspace(-1.0, 1.0, 16).reshape(8, 2)
    call(train, X, np.arange(8) % 2, hidden_sizes=[3], epochs=1, batch_size=4, lr=0.1, milestones=[], gamma=0.1, seed=0)


def train_case(rng: np.random.Generator, missing_class: bool = False) -> dict[str, Any]:
    """A small random training problem and hyperparameters whose effects train must show."""
    n_rows = int(rng.integers(30, 61))
    batch_size = int(rng.integers(5, 17))
    while n_rows % batch_size == 0:
        batch_size += 1
    n_classes = int(rng.integers(2, 5)) + missing_class
    classes = np.delete(np.arange(n_classes), n_classes // 2) if missing_class else np.arange(n_classes)
    labels = rng.permutation(np.resize(classes, n_rows))
    d = int(rng.integers(2, 6))
    X = rng.normal(size=(n_rows, d)) + labels[:, None] * 0.5
    epochs = int(rng.integers(4, 6))
    milestones = sorted(int(m) for m in rng.choice(np.arange(1, epochs), size=2, replace=False))
    hidden = [int(h) for h in rng.integers(3, 9, size=int(rng.integers(1, 3)))]
    return {"X": X, "labels": labels, "hidden_sizes": hidden, "epochs": epochs, "batch_size": batch_size,
            "lr": float(rng.uniform(0.05, 0.5)), "milestones": milestones, "gamma": float(rng.uniform(0.1, 0.7)),
            "seed": int(rng.integers(1000))}


def run_train(train: Callable, case: dict[str, Any], **changes: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    """Call the student's train on ``case`` (with ``changes``) under the guard; return (params, history, steps)."""
    settings = {**case, **changes}
    X, labels = settings.pop("X"), settings.pop("labels")
    X_copy, labels_copy = X.copy(), labels.copy()
    with _Steps(train) as watch:
        result = call(train, X, labels, **settings)
    _check_unchanged(X_copy, X, "X passed to train")
    _check_unchanged(labels_copy, labels, "labels passed to train")
    G.check_true(isinstance(result, tuple) and len(result) == 2, "train must return a pair (params, history)")
    return result[0], result[1], watch.steps


def _epoch_states(steps, params_final, n_batches: int, epochs: int) -> list:
    """The parameters after each epoch: the state before the next epoch's first update, or the final params."""
    return [steps[(e + 1) * n_batches]["params"] if e + 1 < epochs else params_final for e in range(epochs)]


def check_train_steps(train: Callable, init_params: Callable, case: dict[str, Any]) -> None:
    """T1-T5, T7, T8: shapes, the initial weights, every batch of every epoch, every update, history['lr'], seeds."""
    X, labels, epochs, batch_size = case["X"], case["labels"], case["epochs"], case["batch_size"]
    n_rows = len(X)
    sizes = [X.shape[1], *case["hidden_sizes"], int(labels.max()) + 1]
    described = (f"{n_rows} examples, hidden_sizes={case['hidden_sizes']}, epochs={epochs}, batch_size={batch_size}, "
                 f"lr={case['lr']:.3g}, milestones={case['milestones']}, gamma={case['gamma']:.3g}, seed={case['seed']}")
    params, history, steps = run_train(train, case, hidden_sizes=tuple(case["hidden_sizes"]))
    check_layers(params, sizes, who=f"train ({described}; classes are 0..labels.max())")
    G.check_true(isinstance(history, dict), f"history should be a dict, got {type(history).__name__}")
    for key in ("loss", "accuracy", "lr"):
        G.check_true(key in history and len(history[key]) == epochs,
                     f"history['{key}'] should have one entry per epoch ({epochs}); {described}")
    G.check_close(history["lr"], [rate(case["lr"], e, case["milestones"], case["gamma"]) for e in range(epochs)],
                  rtol=1e-12, name=f"history['lr'] (the rate used in each epoch; {described})")
    n_batches = math.ceil(n_rows / batch_size)
    G.check_true(len(steps) > 0, "train never called your backward: for each mini-batch it must run your forward, "
                                 "your backward and the update (the tests watch these calls)")
    G.check_true(len(steps) == epochs * n_batches,
                 f"train ran backward {len(steps)} times; {epochs} epochs of {n_rows} examples in batches of {batch_size} "
                 f"make {epochs} x {n_batches} = {epochs * n_batches} updates (the last batch of an epoch is smaller)")
    initial = call(init_params, sizes, case["seed"])
    for i, layer in enumerate(steps[0]["params"]):
        for key in ("W", "b"):
            G.check_close(layer[key], initial[i][key], rtol=0, atol=0,
                          name=f"the initial params[{i}]['{key}'] in train (use your init_params({sizes}, seed=seed))")
    row_index = {X[i].astype(float).tobytes(): i for i in range(n_rows)}
    previous_order = None
    for epoch in range(epochs):
        order = []
        for step in steps[epoch * n_batches:(epoch + 1) * n_batches]:
            indices = [row_index.get(row.tobytes()) for row in np.asarray(step["rows"], dtype=float)]
            G.check_true(None not in indices, f"epoch {epoch}: backward was given rows that are not rows of X "
                                              "(pass X[batch] to forward and its probs and cache to backward)")
            G.check_true(np.array_equal(step["labels"], labels[indices]),
                         f"epoch {epoch}: the labels of a batch do not belong to its rows (shuffle X and labels with the same indices)")
            order += indices
        sizes_seen = sorted(len(s["rows"]) for s in steps[epoch * n_batches:(epoch + 1) * n_batches])
        expected_sizes = sorted([batch_size] * (n_batches - 1) + [n_rows - batch_size * (n_batches - 1)])
        G.check_true(sizes_seen == expected_sizes, f"epoch {epoch}: batch sizes {sizes_seen}, expected {expected_sizes}")
        G.check_true(sorted(order) == list(range(n_rows)), f"epoch {epoch} did not use every example exactly once")
        G.check_true(order != list(range(n_rows)), f"epoch {epoch} used the examples in their original order; shuffle them")
        G.check_true(order != previous_order, f"epoch {epoch} used the same order as epoch {epoch - 1}; "
                                              "draw a fresh permutation every epoch from one generator")
        previous_order = order
    for k, step in enumerate(steps):
        epoch = k // n_batches
        lr_now = rate(case["lr"], epoch, case["milestones"], case["gamma"])
        after = steps[k + 1]["params"] if k + 1 < len(steps) else _copy_params(params)
        G.check_true(step["grads"] is not None, "backward's gradients could not be read as a list of {'W', 'b'} dicts")
        for i, layer in enumerate(step["params"]):
            for key in ("W", "b"):
                G.check_close(after[i][key], layer[key] - lr_now * step["grads"][i][key], **EXACT,
                              name=f"params[{i}]['{key}'] after update {k % n_batches} of epoch {epoch} "
                                   f"(theta - lr_e * grad with lr_e = {lr_now:.4g})")
    # seeds: the same seed gives the same result, another seed other weights and another order
    params_again, history_again, _ = run_train(train, case)
    for i in range(len(params)):
        G.check_close(params_again[i]["W"], params[i]["W"], rtol=0, atol=0, name=f"params[{i}]['W'] from train with the same seed")
    G.check_close(history_again["loss"], history["loss"], rtol=0, atol=0, name="history['loss'] from train with the same seed")
    _, _, steps_other = run_train(train, case, seed=case["seed"] + 1)
    G.check_true(not np.allclose(steps_other[0]["params"][0]["W"], steps[0]["params"][0]["W"]),
                 "train with another seed started from the same weights")
    G.check_true(any(not np.array_equal(a["rows"], b["rows"]) for a, b in zip(steps_other[:n_batches], steps[:n_batches])),
                 "train with another seed used the same order of examples")


def check_train_history(train: Callable, case: dict[str, Any]) -> None:
    """T6: history['loss'] and history['accuracy'] after every epoch, on the whole training set."""
    X, labels, epochs = case["X"], case["labels"], case["epochs"]
    params, history, steps = run_train(train, case)
    G.check_true(isinstance(history, dict) and all(key in history and len(history[key]) == epochs for key in ("loss", "accuracy")),
                 f"history['loss'] and history['accuracy'] should have one entry per epoch ({epochs})")
    n_batches = math.ceil(len(X) / case["batch_size"])
    G.check_true(len(steps) == epochs * n_batches, "train should update once per mini-batch (see test_train)")
    for epoch, state in enumerate(_epoch_states(steps, _copy_params(params), n_batches, epochs)):
        probs = numpy_nn.forward(state, X)[0]
        expected_loss = numpy_nn.cross_entropy(probs, labels)
        expected_accuracy = float(np.mean(probs.argmax(axis=1) == labels))
        G.check_close(history["loss"][epoch], expected_loss, rtol=1e-7,
                      name=f"history['loss'][{epoch}] (the cross-entropy on the whole training set after epoch {epoch})")
        G.check_close(history["accuracy"][epoch], expected_accuracy, rtol=1e-9,
                      name=f"history['accuracy'][{epoch}] (the fraction of the training set classified correctly after epoch {epoch})")


def check_training(train: Callable, dataset: str, n_classes: int, n_samples: int, noise: float, data_seed: int,
                   hidden_sizes: list[int], epochs: int, lr: float, milestones: list[int], threshold: float,
                   seed: int = 0) -> float:
    """T10: train on a training split, measure the held-out accuracy here; return it."""
    from sklearn.model_selection import train_test_split

    from course_utils.data import make_toy

    probe_train(train)
    X_all, y_all = make_toy(dataset, n_samples=n_samples, noise=noise, seed=data_seed, n_classes=n_classes)
    X_fit, X_held, y_fit, y_held = train_test_split(X_all, y_all, test_size=0.25, stratify=y_all, random_state=data_seed % 1000)
    result = call(train, X_fit, y_fit, hidden_sizes=hidden_sizes, epochs=epochs, batch_size=32, lr=lr,
                  milestones=milestones, gamma=0.1, seed=seed)
    G.check_true(isinstance(result, tuple) and len(result) == 2, "train must return a pair (params, history)")
    check_layers(result[0], [2, *hidden_sizes, int(y_all.max()) + 1], who="train")
    held_out = accuracy(result[0], X_held, y_held)
    G.check_at_least(held_out, threshold, f"held-out accuracy on {dataset} ({len(np.unique(y_all))} classes, "
                                          f"hidden_sizes={hidden_sizes}, {epochs} epochs, data seed {data_seed})")
    return held_out


def check_schedule_freezes(train: Callable) -> None:
    """T9: with gamma = 0 the rate is 0 from the milestone on, so the loss stops changing there."""
    from course_utils.data import make_toy

    probe_train(train)
    X, y = make_toy("spirals", n_samples=300, noise=0.2, seed=4, n_classes=3)
    _, history = call(train, X, y, hidden_sizes=[16], epochs=6, batch_size=32, lr=0.2, milestones=[3], gamma=0.0, seed=1)
    losses = np.asarray(history["loss"], dtype=float)
    G.check_true(losses[2] < losses[0], "with lr=0.2 the loss should fall during the first epochs")
    G.check_close(losses[3:], np.full(3, losses[2]), rtol=1e-9,
                  name="history['loss'] in epochs 3-5 with milestones=[3], gamma=0 (the rate is 0 there: nothing may change)")


# ---------------------------------------------------------------- parts 9 and 10: the baseline and the sweep

def notebook_settings() -> dict[str, Any]:
    """The notebook's settings cell (``settings``), for recomputing the students' numbers; keep the two in step."""
    epochs = budget(fast=60, cpu=300)
    return {"N_SAMPLES": budget(fast=600, cpu=1200), "EPOCHS": epochs, "BATCH_SIZE": 32, "LR": 0.2,
            "MILESTONES": [int(0.6 * epochs), int(0.85 * epochs)], "GAMMA": 0.1, "HIDDEN": [32, 32],
            "DEPTHS": [0, 1, 2, 3, 4], "SWEEP_WIDTH": 8}


def notebook_data(n_samples: int) -> dict[str, np.ndarray]:
    """The notebook's data cell (``data``): the spirals and circles with their training and held-out splits."""
    from sklearn.model_selection import train_test_split

    from course_utils.data import make_toy

    data = {}
    for name, kwargs in [("spirals", {"noise": 0.2, "n_classes": 3}), ("circles", {"noise": 0.1})]:
        X, y = make_toy(name, n_samples=n_samples, seed=0, **kwargs)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        data.update({f"X_{name}_train": X_train, f"X_{name}_test": X_test, f"y_{name}_train": y_train, f"y_{name}_test": y_test})
    return data


def _check_setup(namespace: dict[str, Any], settings: dict[str, Any], data: dict[str, np.ndarray]) -> None:
    """The settings and data the instructions give must still be in place when the numbers are checked."""
    for name, value in settings.items():
        G.check_true(name in namespace and np.array_equal(np.asarray(namespace[name], dtype=object), np.asarray(value, dtype=object)),
                     f"{name} is {namespace.get(name)!r}, but the notebook sets {value!r}; use the notebook's settings")
    for name, value in data.items():
        G.check_true(name in namespace and np.array_equal(np.asarray(namespace[name]), value),
                     f"{name} differs from the data the notebook makes; keep the notebook's data")


def _student_fraction(namespace: dict[str, Any], name: str, cell: str) -> float:
    G.check_true(name in namespace, f"`{name}` is not defined; the {cell} cell must store it")
    value = namespace[name]
    G.check_true(isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool),
                 f"`{name}` should be a number (an accuracy), got {type(value).__name__}")
    G.check_true(0.0 <= float(value) <= 1.0, f"`{name}` is {float(value):.4g}; store accuracy as a fraction between 0 and 1")
    return float(value)


def _recomputed(train: Callable, X_train, y_train, X_test, y_test, hidden_sizes, settings) -> tuple[float, float]:
    """(training accuracy, held-out accuracy) of the student's train with the notebook's settings and seed 0."""
    result = call(train, X_train, y_train, hidden_sizes=list(hidden_sizes), epochs=settings["EPOCHS"],
                  batch_size=settings["BATCH_SIZE"], lr=settings["LR"], milestones=list(settings["MILESTONES"]),
                  gamma=settings["GAMMA"], seed=0)
    G.check_true(isinstance(result, tuple) and len(result) == 2, "train must return a pair (params, history)")
    check_layers(result[0], [X_train.shape[1], *hidden_sizes, int(y_train.max()) + 1], who="train")
    return accuracy(result[0], X_train, y_train), accuracy(result[0], X_test, y_test)


def _check_matches(stored: float, recomputed: float, what: str) -> None:
    G.check_true(abs(stored - recomputed) < 1e-9,
                 f"{what}: your variable holds {stored:.4f}, but your train with the notebook's settings and seed=0 gives "
                 f"{recomputed:.4f} on that split, recomputed here. Store the number your own code measures (if it does, "
                 "check that train gives the same result every time for a fixed seed)")


def _caller_namespace(namespace: dict[str, Any] | None) -> dict[str, Any]:
    """The notebook's variables: the globals of the test cell that called the check (no name a student can rebind)."""
    if namespace is not None:
        return namespace
    return inspect.currentframe().f_back.f_back.f_globals


def check_baseline(train: Callable, namespace: dict[str, Any] | None = None) -> None:
    """L1-L3: the baseline cell's two accuracies, recomputed, and what they show (variables read from the caller)."""
    namespace = _caller_namespace(namespace)
    settings = notebook_settings()
    data = notebook_data(settings["N_SAMPLES"])
    logreg = _student_fraction(namespace, "logreg_test_accuracy", "baseline")
    mlp = _student_fraction(namespace, "mlp_test_accuracy", "baseline")
    _check_setup(namespace, settings, data)
    probe_train(train)
    split = (data["X_circles_train"], data["y_circles_train"], data["X_circles_test"], data["y_circles_test"])
    _, logreg_expected = _recomputed(train, *split, [], settings)
    _check_matches(logreg, logreg_expected, "logreg_test_accuracy (logistic regression, held-out circles)")
    _, mlp_expected = _recomputed(train, *split, settings["HIDDEN"], settings)
    _check_matches(mlp, mlp_expected, f"mlp_test_accuracy (MLP {settings['HIDDEN']}, held-out circles)")
    G.check_true(logreg <= 0.75, f"logistic regression reaches {logreg:.3f} on the held-out circles; a straight line "
                                 "cannot separate two rings (chance is 0.5)")
    G.check_at_least(mlp, 0.9, f"held-out accuracy of the MLP {settings['HIDDEN']} on the circles")
    G.check_at_least(mlp - logreg, 0.2, "how much the MLP beats logistic regression on the held-out circles")


def check_linear_baseline(train: Callable, rng: np.random.Generator) -> None:
    """L4: logistic regression (hidden_sizes=[]) separates separable clusters and fails on XOR, where an MLP wins."""
    from sklearn.model_selection import train_test_split

    def held_out(X, y, hidden_sizes, epochs):
        X_fit, X_held, y_fit, y_held = train_test_split(X, y, test_size=0.25, stratify=y, random_state=int(rng.integers(1000)))
        result = call(train, X_fit, y_fit, hidden_sizes=hidden_sizes, epochs=epochs, batch_size=32, lr=0.2,
                      milestones=[int(0.6 * epochs), int(0.85 * epochs)], gamma=0.1, seed=int(rng.integers(1000)))
        G.check_true(isinstance(result, tuple) and len(result) == 2, "train must return a pair (params, history)")
        check_layers(result[0], [2, *hidden_sizes, int(y.max()) + 1], who="train")
        return accuracy(result[0], X_held, y_held)

    probe_train(train)
    angles = rng.uniform(0, 2 * np.pi) + np.arange(4) * np.pi / 2
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y_clusters = np.repeat(np.arange(4), 100)
    X_clusters = centres[y_clusters] + rng.normal(scale=0.7, size=(400, 2))
    G.check_at_least(held_out(X_clusters, y_clusters, [], 30), 0.9,
                     "held-out accuracy of logistic regression (hidden_sizes=[]) on four separable clusters (chance 0.25)")
    X_xor = rng.uniform(-1.0, 1.0, size=(600, 2))
    y_xor = (X_xor[:, 0] * X_xor[:, 1] > 0).astype(int)
    line, mlp = held_out(X_xor, y_xor, [], 60), held_out(X_xor, y_xor, [32, 32], 60)
    G.check_at_least(mlp, 0.9, "held-out accuracy of an MLP [32, 32] on XOR quadrants")
    G.check_at_least(mlp - line, 0.2, "how much an MLP beats logistic regression on XOR quadrants")


def check_sweep(train: Callable, namespace: dict[str, Any] | None = None) -> None:
    """W1-W3: the sweep's accuracy lists, recomputed depth by depth, and what they show (variables read from the caller)."""
    namespace = _caller_namespace(namespace)
    settings = notebook_settings()
    data = notebook_data(settings["N_SAMPLES"])
    depths = settings["DEPTHS"]
    stored = {}
    for name in ("sweep_train_accuracy", "sweep_test_accuracy"):
        G.check_true(name in namespace, f"`{name}` is not defined; the sweep cell must store it")
        values = namespace[name]
        G.check_true(isinstance(values, (list, tuple, np.ndarray)) and len(values) == len(depths),
                     f"`{name}` should hold one accuracy per depth in DEPTHS ({len(depths)} values)")
        stored[name] = [_student_fraction({f"{name}[{i}]": v}, f"{name}[{i}]", "sweep") for i, v in enumerate(values)]
    _check_setup(namespace, settings, data)
    probe_train(train)
    split = (data["X_spirals_train"], data["y_spirals_train"], data["X_spirals_test"], data["y_spirals_test"])
    for i, depth in enumerate(depths):
        train_acc, test_acc = _recomputed(train, *split, [settings["SWEEP_WIDTH"]] * depth, settings)
        _check_matches(stored["sweep_train_accuracy"][i], train_acc, f"sweep_train_accuracy[{i}] ({depth} hidden layer(s), training split)")
        _check_matches(stored["sweep_test_accuracy"][i], test_acc, f"sweep_test_accuracy[{i}] ({depth} hidden layer(s), held-out split)")
    test_acc = stored["sweep_test_accuracy"]
    G.check_true(test_acc[0] <= 0.5, f"with no hidden layer the held-out accuracy on the spirals is {test_acc[0]:.3f}; "
                                     "a linear model should stay near chance (1/3)")
    best_deep = max(a for d, a in zip(depths, test_acc) if d >= 2)
    G.check_at_least(best_deep - test_acc[0], 0.2, "how much the best net with two or more hidden layers beats no hidden layer")
