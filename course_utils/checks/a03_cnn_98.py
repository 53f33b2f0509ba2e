"""What the tests of assignment a03_cnn_98 (a CNN that reaches 98 % on MNIST) call.

Limits (stated in the notebook's rules too)
-------------------------------------------
* :data:`CONV_LIMITS`: ``conv_output_size`` is arithmetic: no PyTorch while it runs (measuring the
  size by running a layer is not deriving it), and not the course's reference.
* :data:`MODEL_LIMITS`: ``build_model`` and the network it returns do not run the course's
  ``MNISTNet`` or ``course_utils.train``, and read no files (no saved weights).
* :data:`EVAL_LIMITS`: ``evaluate_accuracy`` is your own loop: no ``course_utils.train``, no files.
* :data:`TRAIN_LIMITS`: ``train_model`` trains only on the tensors it is given: while it runs it may
  not read files or load data (``course_utils.data.load_mnist``, ``mnist_tensors``,
  ``torchvision.datasets``), nor run ``course_utils.train``. During the graded run the notebook's
  own data (every global that holds digits) is also out of its reach, and the test split is not
  loaded until it has returned.

The graded run (part 5): how the 98 % target is graded
------------------------------------------------------
nbgrader always grades with the small budget, so the target itself (98 % on MNIST's 10,000 test
digits after at most 20 epochs on 60,000 training digits) cannot be measured while grading. The
tests therefore re-run the student's ``build_model`` and ``train_model`` (their defaults) under a
declared budget, :func:`graded_settings`, and compare the accuracy on digits the run never saw
with a threshold measured for that budget:

* the training split is shuffled with a seed drawn at grading time; 500 digits are given to
  ``train_model`` for validation and 2,500 others for training; at most 8 epochs;
* the evaluation digits are the whole test split plus every training-split digit the run neither
  trained nor validated on (offline: 1,000 + 1,000 = 2,000 real digits; on full MNIST 10,000 +
  57,000);
* the standard error of the accuracy on 2,000 digits is sqrt(p (1 - p) / 2000): 0.0033 at the
  solution's 0.978, 0.0044 at the threshold 0.96; on full MNIST's 67,000 digits below 0.001;
* measured on the offline fallback with this budget (one split and initialisation per seed): the
  solution 0.978 on average over 11 seeds (standard deviation 0.0036, lowest 0.9715); the same
  network and loop stopped after one epoch 0.924-0.957 (11 seeds), after two 0.940-0.968 (5);
  plain SGD at 0.01 0.946-0.961 (5); ``lr=2e-4`` 0.937-0.954 (5); ``lr=1e-4`` 0.887-0.902 (5); no
  non-linearity 0.830-0.847 (5).
  The threshold 0.96 (:data:`GRADED_THRESHOLD`) is 5 standard deviations below the solution and
  above every one-epoch run.

With the default budget on full MNIST (not graded by nbgrader) the same test checks the target
itself: 15,000 training digits on a CPU, 59,500 on a GPU, 20 epochs, 0.98. On the offline fallback
it keeps the grading budget: 98 % cannot be measured on 1,000 test digits.

Promise list: what the instructions promise and which check holds each promise
------------------------------------------------------------------------------
``conv_output_size(n, f, p=0, s=1, d=1)`` (test_conv_output_size):

1. returns a Python ``int`` (not a float, not a bool) -- :func:`check_conv_sizes`;
2. equals the length PyTorch's ``conv1d`` produces, for every size, kernel, padding, stride and
   dilation: a fixed grid (visible), dilated, large-stride and exactly fitting cases and random
   cases drawn at grading time (hidden) -- :func:`check_conv_sizes`, :func:`random_conv_cases`;
3. a stride larger than the input is allowed (only one placement fits) -- :data:`LARGE_STRIDE_CASES`;
4. raises ``ValueError`` when the (dilated) kernel covers more inputs than the padded input has,
   including random failing cases -- :func:`check_conv_raises`, :func:`random_conv_error_cases`;
5. the defaults ``p=0, s=1, d=1`` hold when they are left out -- :func:`check_conv_defaults`;
6. no PyTorch and not the reference while it runs -- :data:`CONV_LIMITS` in every call.

``build_model()`` (test_build_model):

1. returns an ``nn.Module`` mapping (N, 1, 28, 28) to finite (N, 10) logits, in evaluation and in
   training mode, for N = 1 too -- :func:`check_model_outputs`;
2. logits, not probabilities -- :func:`check_model_outputs`;
3. at least one ``nn.Conv2d``; fewer than 500,000 trainable parameters -- :func:`check_model_structure`;
4. a new network on every call (no shared parameters) -- :func:`check_fresh_models`;
5. every trainable parameter is used by forward (gets a gradient) -- :func:`check_model_outputs`;
6. untrained: a fresh network classifies real digits near chance -- :func:`check_untrained`;
7. not the course's ``MNISTNet``: its code does not run (:data:`MODEL_LIMITS`), the network does not
   have MNISTNet's layers, and its class is not MNISTNet's code with names changed --
   :func:`check_not_mnistnet`;
8. no saved weights (no files) and no data inside the network (no tensor but parameters and small
   buffers) -- :data:`MODEL_LIMITS`, :func:`check_holds_no_data`.

``evaluate_accuracy(model, images, labels, batch_size=1000)`` (test_evaluate_accuracy):

1. returns a Python ``float``: the fraction of images whose largest logit is at the label --
   :func:`check_evaluate_accuracy` with probe networks and fractions drawn at grading time;
2. in evaluation mode (the probe's modes disagree) -- same;
3. without building a graph (the probe records whether gradients were on) -- same;
4. in batches of at most ``batch_size``, every image exactly once, the last batch short -- same;
5. changes no parameter or buffer of the model, and leaves gradients switched on -- same;
6. own loop (no ``course_utils.train``), no files -- :data:`EVAL_LIMITS`.

``train_model(model, train_images, train_labels, val_images, val_labels, max_epochs=MAX_EPOCHS,
lr=None, patience=None, batch_size=None, seed=0, progress=False)`` (test_train_model: early stopping
and history; test_train_model_loop: what one epoch does):

1. returns a ``dict`` with ``train_loss``, ``val_accuracy``, ``lr`` (one entry per epoch run) and
   ``best_epoch`` (an int) -- :func:`check_history_format`;
2. ``val_accuracy[e]`` is the accuracy on the validation data given, measured after epoch e --
   :func:`scripted_run` (a network whose validation accuracy follows a script; it answers only
   on the validation images it was given);
3. early stopping: strictly higher is an improvement, anything else adds 1 to a counter that an
   improvement resets, and training stops when the counter reaches ``patience`` --
   :func:`scripted_run` on the instructions' example (visible) and on scripts, patiences and
   epoch limits drawn at grading time (hidden), against :func:`early_stopping_oracle`;
4. each way the loop ends: patience exhausted, ``max_epochs`` reached while still improving,
   ``max_epochs`` reached after the best epoch but before patience runs out, both at once, and
   ``patience`` larger than ``max_epochs`` -- :func:`random_scripts` covers every kind;
5. never more than ``max_epochs`` epochs -- :func:`scripted_run`, blobs test, graded run;
6. after either ending the model passed in holds the weights of the best epoch (a real copy is
   restored), and ``best_epoch`` is the 0-based index of the first best epoch -- :func:`scripted_run`;
7. trains the model passed in, in place, and returns the history (not a model) -- :func:`scripted_run`;
8. ``lr`` is honoured: ``history["lr"]`` holds ``lr`` times the schedule's factor, so it scales
   with ``lr`` (:func:`check_lr_scaling`); ``lr=0`` freezes the weights and records zeros; a
   positive ``lr`` records positive rates (:func:`check_frozen_by_zero_lr`, :func:`check_blob_training`);
9. ``batch_size`` is honoured: one training forward pass per mini-batch of ``batch_size`` (the last
   one may be shorter), every training image exactly once per epoch -- :func:`recording_run`;
10. shuffled every epoch with a generator seeded with ``seed``: the order changes from epoch to
    epoch, the same ``seed`` repeats it and another ``seed`` changes it -- :func:`check_shuffling`;
11. training mode while training, cross-entropy on the training batch; ``train_loss[e]`` is the
    mean of epoch e's mini-batch losses weighted by batch size -- :func:`recording_run`;
12. the validation data never trains the model (no validation image in a training batch) --
    :func:`recording_run`;
13. the data it is given are left unchanged -- :func:`recording_run`, :func:`check_blob_training`;
14. the default ``max_epochs`` is ``MAX_EPOCHS`` (20) and ``None`` stands for the student's own
    defaults, which make the loss fall on easy data -- :func:`check_signature`, :func:`check_blob_training`;
15. uses no data it is not given, no files, no ``course_utils.train`` -- :data:`TRAIN_LIMITS` in every
    call, and :func:`graded_run` hides the notebook's data.

The experiment of part 4 (test_experiment), :func:`check_experiment`:

1. defines ``train_images``, ``train_labels``, ``val_images``, ``val_labels``, ``cnn_model``,
   ``cnn_history``, ``test_accuracy`` and ``used_fallback``;
2. the validation digits: exactly ``VAL_SIZE`` digits of the training split, chosen at random
   (not a block of the split's order), none of them trained on;
3. the training digits: at most ``EXPERIMENT_TRAIN_SIZE`` digits of the training split;
4. no test digit among either; every label is the true label of its digit;
5. at most ``EXPERIMENT_EPOCHS`` epochs, and the history belongs to ``cnn_model``: its validation
   accuracy, measured again, is the best one in ``cnn_history`` (the best weights were restored);
6. ``test_accuracy`` is the accuracy of ``cnn_model`` on the test split, measured after training;
7. ``used_fallback`` says which data the notebook ran on;
8. the model is trained: on the training-split digits the experiment neither trained nor
   validated on (a clean held-out set) it reaches :data:`EXPERIMENT_MIN_ACCURACY`;
9. the experiment is reproducible as the instructions state it (``seed_everything(EXPERIMENT_SEED)``,
   ``build_model()``, ``train_model`` on the four tensors with ``max_epochs=EXPERIMENT_EPOCHS``): a
   re-run gives the same history and, on a CPU, the same predictions on the test split, so
   ``cnn_model`` was trained on the training digits and nothing else (not on the test split, not
   fine-tuned afterwards, not left untrained) -- :func:`check_experiment_replicates`;
10. the model has not seen the test split, checked a second time by statistics: its test accuracy is
    not significantly higher than its accuracy on the clean held-out digits (:data:`LEAK_Z`). With
    the grading budget a model trained on the test split gains at most about 2 points there (measured),
    which this check alone would miss; item 9 catches it.

Not autograded: what the experiment prints and plots (the written answers of part 6 quote them).

The graded run of part 5 (test_graded_run, test_graded_model), :func:`graded_run`:

1. ``build_model`` and ``train_model`` with the student's defaults, under :data:`MODEL_LIMITS` and
   :data:`TRAIN_LIMITS`, on a split drawn at grading time, with the notebook's data hidden --
   :func:`graded_run`;
2. the network fresh from ``build_model`` is untrained (near chance on the validation digits) and
   holds no data -- :func:`graded_run`;
3. at most ``max_epochs`` epochs; accuracy on the evaluation digits at least the threshold; the
   test split not significantly easier for the model than the unused training digits --
   :func:`check_graded_accuracy`;
4. the model ``train_model`` leaves behind holds its best epoch: its validation accuracy,
   measured again, is the best in the history, and ``best_epoch`` points at it --
   :func:`check_graded_model`.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import grading as G

# ----------------------------------------------------------------------------------------- limits
CONV_LIMITS = G.Limits(
    modules=("torch",),
    rule="conv_output_size is arithmetic on integers: no PyTorch (running a layer to measure the size is not deriving it).",
    cells=("conv_output_size",),
)
MODEL_LIMITS = G.Limits(
    modules=("course_utils.train",),
    functions=("course_utils.models.cnn.MNISTNet",),
    no_files=True,
    rule="build_model builds your own network from torch.nn layers: not the course's MNISTNet, and no saved weights (no files).",
    cells=("build_model",),
)
EVAL_LIMITS = G.Limits(
    modules=("course_utils.train",),
    no_files=True,
    rule="evaluate_accuracy is your own loop: not course_utils.train, no files.",
    cells=("evaluate_accuracy",),
)
TRAIN_LIMITS = G.Limits(
    modules=("course_utils.train",),
    no_files=True,
    rule="train_model trains only on the tensors it is given: it may not read files or load data (load_mnist, "
    "mnist_tensors, torchvision.datasets) and may not run course_utils.train; the loop is yours.",
    cells=("train_model",),
)

PARAMETER_LIMIT = 500_000
MAX_EPOCHS = 20  # the assignment's limit
CHANCE_CEILING = 0.30  # a fresh network classifies at most this share of real digits (chance 0.10; the solution 0.05-0.15)
DATA_TENSOR_ELEMENTS = 10 * 28 * 28  # a tensor this large that is not a parameter would hold ten digits
EXPERIMENT_MIN_ACCURACY = 0.80  # the experiment's model on clean held-out digits (untrained: about 0.1)
LEAK_Z = 4.0  # test accuracy more than this many standard errors above the clean held-out accuracy: test split seen
LEAK_MIN_GAP = 0.01  # ... and by at least one point


def call(func: Callable, *args: Any, limits: G.Limits | None = None, **kwargs: Any) -> Any:
    """``G.call_student`` with library warnings silenced (printing one would read a source file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G.call_student(func, *args, limits=limits, **kwargs)


def resolve(device=None) -> torch.device:
    """``device``, or the one the notebook uses (CUDA, then MPS, then the CPU)."""
    from course_utils.runtime import get_device

    return torch.device(device) if device is not None else get_device()


# ------------------------------------------------------------------------------ conv_output_size
def pytorch_output_size(n: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """The length PyTorch's conv1d really produces: the oracle."""
    return int(F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, f), stride=s, padding=p, dilation=d).shape[-1])


def fits(n: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> bool:
    return n + 2 * p >= d * (f - 1) + 1


MNIST_LAYER_CASES = [(28, 3, 1, 1, 1), (28, 5, 0, 1, 1), (28, 5, 2, 1, 1), (14, 3, 0, 1, 1), (28, 2, 0, 2, 1)]
SIZE_GRID = [(n, f, p, s, 1) for n, f, p, s in itertools.product([5, 7, 8, 28], [1, 2, 3, 5], [0, 1, 2], [1, 2, 3])
             if n + 2 * p >= f]
DILATED_CASES = [(n, f, p, s, d) for n, f, p, s, d in itertools.product([7, 12, 28], [2, 3, 5], [0, 1, 3], [1, 2], [2, 3])
                 if fits(n, f, p, s, d)]
LARGE_STRIDE_CASES = [(28, 3, 0, 4, 1), (28, 3, 1, 7, 1), (28, 5, 2, 10, 1), (9, 3, 0, 30, 1), (5, 5, 0, 3, 1),
                      (1, 1, 0, 5, 1), (28, 28, 0, 1, 1), (28, 29, 1, 2, 1), (30, 3, 0, 27, 1), (31, 3, 0, 27, 1),
                      (5, 3, 1, 1, 3), (4, 7, 2, 2, 1), (1, 2, 1, 1, 1)]
ERROR_CASES = [(2, 5, 0, 1, 1), (5, 3, 0, 1, 3), (4, 7, 1, 2, 1), (1, 2, 0, 1, 1)]


def random_conv_cases(rng: np.random.Generator, count: int = 80) -> list[tuple[int, int, int, int, int]]:
    """Random (n, f, p, s, d) whose dilated kernel fits in the padded input."""
    cases = []
    while len(cases) < count:
        case = (int(rng.integers(1, 60)), int(rng.integers(1, 8)), int(rng.integers(0, 5)), int(rng.integers(1, 9)),
                int(rng.integers(1, 4)))
        if fits(*case):
            cases.append(case)
    return cases


def random_conv_error_cases(rng: np.random.Generator, count: int = 10) -> list[tuple[int, int, int, int, int]]:
    """Random (n, f, p, s, d) whose dilated kernel covers more inputs than the padded input has."""
    cases = []
    while len(cases) < count:
        case = (int(rng.integers(1, 12)), int(rng.integers(2, 10)), int(rng.integers(0, 3)), int(rng.integers(1, 5)),
                int(rng.integers(1, 4)))
        if not fits(*case):
            cases.append(case)
    return cases


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_conv_sizes(conv_output_size: Callable, cases, description: str) -> None:
    """conv_output_size(n, f, p, s, d) returns PyTorch's output length as an int for every case."""
    for n, f, p, s, d in cases:
        expected = pytorch_output_size(n, f, p, s, d)
        result = call(conv_output_size, n, f, p, s, d, limits=CONV_LIMITS)
        G.check_true(_is_int(result),
                     f"conv_output_size({n}, {f}, p={p}, s={s}, d={d}) should return an int, got {type(result).__name__} {result!r}")
        G.check_true(result == expected,
                     f"conv_output_size(n={n}, f={f}, p={p}, s={s}, d={d}) returned {result}, but PyTorch's Conv1d "
                     f"produces {expected} outputs ({description})")


def check_conv_defaults(conv_output_size: Callable, cases) -> None:
    """Leaving out p, s or d means p=0, s=1, d=1."""
    for n, f, p, s, d in cases:
        calls = [((n, f), {}, (0, 1, 1)), ((n, f), {"p": p}, (p, 1, 1)), ((n, f), {"s": s}, (0, s, 1)),
                 ((n, f), {"d": d}, (0, 1, d)), ((n, f, p, s), {}, (p, s, 1))]
        for args, kwargs, (pp, ss, dd) in calls:
            if not fits(n, f, pp, ss, dd):
                continue
            expected = pytorch_output_size(n, f, pp, ss, dd)
            result = call(conv_output_size, *args, limits=CONV_LIMITS, **kwargs)
            shown = ", ".join([*map(str, args), *(f"{k}={v}" for k, v in kwargs.items())])
            G.check_true(_is_int(result) and result == expected,
                         f"conv_output_size({shown}) returned {result!r}, expected {expected}: the defaults are p=0, s=1, d=1")


def check_conv_raises(conv_output_size: Callable, cases) -> None:
    """A kernel that does not fit raises ValueError."""
    for n, f, p, s, d in cases:
        span = d * (f - 1) + 1
        try:
            result = call(conv_output_size, n, f, p, s, d, limits=CONV_LIMITS)
        except ValueError:
            continue
        raise AssertionError(f"conv_output_size({n}, {f}, p={p}, s={s}, d={d}) returned {result!r}; it should raise "
                             f"ValueError: the kernel covers {span} inputs, the padded input has {n + 2 * p}")


# ------------------------------------------------------------------------------ models, generally
def submodules(module: nn.Module) -> list[nn.Module]:
    """Every module inside ``module`` (itself included), read from PyTorch's own bookkeeping, not from overridable methods."""
    found, stack, seen = [], [module], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        stack.extend(reversed([m for m in current.__dict__.get("_modules", {}).values() if m is not None]))  # in order
    return found


def parameters_of(module: nn.Module) -> list[nn.Parameter]:
    params, seen = [], set()
    for m in submodules(module):
        for p in m.__dict__.get("_parameters", {}).values():
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer, keyed by position (no overridable state_dict)."""
    state = {}
    for i, m in enumerate(submodules(model)):
        for kind in ("_parameters", "_buffers"):
            for name, t in m.__dict__.get(kind, {}).items():
                if t is not None:
                    state[f"{type(m).__name__}#{i}.{name}"] = t.detach().clone()
    return state


def check_state_unchanged(model: nn.Module, before: dict[str, torch.Tensor], who: str) -> None:
    after = model_state(model)
    for key, value in before.items():
        G.check_true(key in after and torch.equal(after[key], value),
                     f"{who} changed the model's '{key}'; it must leave parameters and buffers as they were")


def logits_of(model: nn.Module, images: torch.Tensor, limits: G.Limits = MODEL_LIMITS) -> torch.Tensor:
    """The model's output for ``images``, run under the guard."""
    out = call(model, images, limits=limits)
    G.check_true(isinstance(out, torch.Tensor), f"the model should return a tensor of logits, got {type(out).__name__}")
    return out


def model_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500,
                   limits: G.Limits = MODEL_LIMITS) -> float:
    """Accuracy of ``model`` in evaluation mode, computed by the tests (the student's code only runs forward)."""
    call(model.eval, limits=limits)
    device = parameters_of(model)[0].device if parameters_of(model) else images.device
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            out = logits_of(model, images[start:start + batch_size].to(device), limits)
            G.check_shape(out, (len(labels[start:start + batch_size]), 10), name="the output of your model")
            correct += int((out.argmax(dim=1).cpu() == labels[start:start + batch_size].cpu()).sum())
    return correct / len(labels)


def accuracy_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on n independent digits."""
    return math.sqrt(max(accuracy * (1 - accuracy), 1e-4) / n)


# ------------------------------------------------------------------------------------------- data
def mnist_split(train: bool, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, bool]:
    """A whole MNIST split, freshly loaded (never cached where student code could reach it)."""
    from course_utils.data import load_mnist, mnist_tensors

    dataset = load_mnist(train=train, verbose=False)
    images, labels = mnist_tensors(dataset, device)
    return images, labels, bool(dataset.is_fallback)


def image_keys(images: torch.Tensor) -> list[bytes]:
    """Each normalised image as the bytes of its 0-255 pixels, to find digits across splits."""
    from course_utils.data import MNIST_MEAN, MNIST_STD

    pixels = (images.detach().float().cpu().reshape(len(images), -1) * MNIST_STD + MNIST_MEAN) * 255
    return [bytes(row) for row in pixels.round().clamp(0, 255).to(torch.uint8).numpy()]


# ----------------------------------------------------------------------------------- build_model
def build(build_model: Callable, device: torch.device | str | None = None) -> nn.Module:
    """A fresh network from the student's build_model, on ``device``, checked to be an nn.Module."""
    model = call(build_model, limits=MODEL_LIMITS)
    G.check_true(isinstance(model, nn.Module), f"build_model should return a torch.nn.Module, got {type(model).__name__}")
    if device is not None:
        moved = call(model.to, device, limits=MODEL_LIMITS)
        G.check_true(moved is model, "model.to(device) should return the model itself")
    return model


def check_model_structure(model: nn.Module) -> int:
    """At least one Conv2d and fewer than PARAMETER_LIMIT trainable parameters; returns the count."""
    G.check_true(any(isinstance(m, nn.Conv2d) for m in submodules(model)),
                 "your model has no nn.Conv2d layer: this assignment is about a convolutional network")
    n_parameters = sum(p.numel() for p in parameters_of(model) if p.requires_grad)
    G.check_true(n_parameters > 0, "your model has no trainable parameters")
    G.check_true(n_parameters < PARAMETER_LIMIT,
                 f"your model has {n_parameters:,} trainable parameters; it must have fewer than {PARAMETER_LIMIT:,}")
    return n_parameters


def check_holds_no_data(model: nn.Module) -> None:
    """The network holds its parameters and small buffers, nothing the size of a few digits."""
    params = {id(p) for p in parameters_of(model)}
    for m in submodules(model):
        values = list(m.__dict__.get("_buffers", {}).items())
        values += [(k, v) for k, v in vars(m).items() if not k.startswith("_")]
        for name, value in values:
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, (torch.Tensor, np.ndarray)) and id(item) not in params and item.size and \
                        int(np.prod(item.shape)) >= DATA_TENSOR_ELEMENTS:
                    raise AssertionError(f"your network keeps a tensor '{name}' of shape {tuple(item.shape)} that is not a "
                                         "parameter; a network built by build_model holds only its parameters and small "
                                         "buffers, no data")


def check_model_outputs(model: nn.Module, rng: np.random.Generator, device=None) -> None:
    """Logits of shape (N, 10) in both modes, for N = 1 too; every parameter used; not probabilities."""
    device = resolve(device)
    gen = G.torch_generator(rng)
    call(model.eval, limits=MODEL_LIMITS)
    with torch.no_grad():
        for n in (5, 1):
            out = logits_of(model, torch.randn(n, 1, 28, 28, generator=gen).to(device))
            G.check_shape(out, (n, 10), name=f"the output of your model for a batch of {n} image(s) (evaluation mode)")
            G.check_finite(out, "the output of your model")
        many = logits_of(model, 3 * torch.randn(16, 1, 28, 28, generator=gen).to(device))
    sums = many.sum(dim=1)
    probabilities = bool(((many >= 0) & (many <= 1)).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4))
    G.check_true(not probabilities,
                 "your model outputs probabilities (rows sum to 1); return raw logits: F.cross_entropy applies log-softmax itself")
    call(model.train, limits=MODEL_LIMITS)
    out = logits_of(model, torch.randn(3, 1, 28, 28, generator=gen).to(device))
    G.check_shape(out, (3, 10), name="the output of your model in training mode for a batch of 3 images")
    call(F.cross_entropy(out, torch.tensor([0, 1, 2], device=out.device)).backward, limits=MODEL_LIMITS)
    named = [(f"{type(m).__name__}.{k}", p) for m in submodules(model) for k, p in m.__dict__.get("_parameters", {}).items()
             if p is not None]
    unused = [name for name, p in named if p.requires_grad and p.grad is None]
    G.check_true(not unused, f"these parameters get no gradient, so forward does not use them: {unused[:5]}")
    for _, p in named:
        p.grad = None


def check_fresh_models(first: nn.Module, second: nn.Module) -> None:
    G.check_true(first is not second, "build_model returned the same object twice; build a new network every time")
    shared = {id(p) for p in parameters_of(first)} & {id(p) for p in parameters_of(second)}
    G.check_true(not shared, "two calls of build_model share parameters; build a new network every time")


def check_untrained(build_model: Callable, rng: np.random.Generator, n_digits: int = 1000) -> float:
    """A fresh network, seeded from ``rng``, classifies real training digits near chance; returns its accuracy."""
    from course_utils.runtime import seed_everything

    images, labels, _ = mnist_split(train=True)
    pick = torch.from_numpy(rng.choice(len(labels), size=min(n_digits, len(labels)), replace=False))
    seed_everything(int(rng.integers(0, 2**31)))
    model = build(build_model, "cpu")
    accuracy = model_accuracy(model, images[pick], labels[pick])
    G.check_true(accuracy <= CHANCE_CEILING,
                 f"a network fresh from build_model already classifies {accuracy:.1%} of {len(pick)} real digits correctly "
                 f"(chance is 10 %, an untrained network stays below {CHANCE_CEILING:.0%}); build_model must return an untrained "
                 "network, training happens in train_model")
    return accuracy


def _mnistnet_layout(width: int) -> list[tuple[str, tuple]]:
    from course_utils.models.cnn import MNISTNet

    return layer_layout(MNISTNet(width=width))


def layer_layout(model: nn.Module) -> list[tuple[str, tuple]]:
    """The network's layers in order: type and parameter shapes, names ignored."""
    layout = []
    for m in submodules(model):
        if not m.__dict__.get("_modules"):
            shapes = tuple(tuple(p.shape) for p in m.__dict__.get("_parameters", {}).values() if p is not None)
            layout.append((type(m).__name__, shapes))
    return layout


def check_not_mnistnet(model: nn.Module) -> None:
    """Not MNISTNet: not the class, not its layers under another name, not its code with names changed."""
    from course_utils.models.cnn import MNISTNet

    G.check_true(not any(isinstance(m, MNISTNet) for m in submodules(model)),
                 "build_model returns the course's reference MNISTNet; design your own network")
    convs = [m for m in submodules(model) if isinstance(m, nn.Conv2d)]
    if convs:
        layout = layer_layout(model)
        width = min(conv.out_channels for conv in convs)
        if sorted(layout) == sorted(_mnistnet_layout(width)):
            raise AssertionError(f"your network has exactly the layers of the course's MNISTNet(width={width}); "
                                 "design your own network")
    for cls in type(model).__mro__:
        if cls.__module__.split(".")[0] in ("torch", "builtins") or cls is MNISTNet:
            continue
        mine = cls.__dict__.get("__init__")  # where the layers are made (a one-line forward says too little)
        if inspect.isfunction(mine):
            G.check_not_copied(mine, MNISTNet.__init__, f"{cls.__name__}.__init__ of your network")


# ------------------------------------------------------------------------------ evaluate_accuracy
class ProbeNetwork(nn.Module):
    """A network whose training and evaluation modes disagree, and which records how it is called."""

    def __init__(self, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(32, 10))
        with torch.no_grad():
            for p in self.body.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
            self.body[2].running_mean.uniform_(-1.0, 1.0, generator=gen)
            self.body[2].running_var.uniform_(0.5, 2.0, generator=gen)
        self.calls: list[tuple[int, bool, bool]] = []  # (batch size, training mode, gradients on)

    def forward(self, images):
        self.calls.append((len(images), self.training, torch.is_grad_enabled()))
        return self.body(images)


def labels_for_accuracy(probe: ProbeNetwork, images: torch.Tensor, fraction: float, rng: np.random.Generator):
    """Labels that the probe's evaluation-mode predictions match on a random ``fraction`` of the images."""
    probe.eval()
    with torch.no_grad():
        predicted = probe.body(images).argmax(dim=1)
    n_right = round(fraction * len(images))
    right = torch.from_numpy(rng.permutation(len(images))[:n_right]).to(images.device)
    labels = (predicted + torch.from_numpy(rng.integers(1, 10, len(images))).to(images.device)) % 10
    labels[right] = predicted[right]
    return labels, n_right / len(images)


def check_evaluate_accuracy(evaluate_accuracy: Callable, rng: np.random.Generator, n_images: int, fraction: float,
                            device=None, batch_size: int | None = None) -> None:
    """evaluate_accuracy on a probe network: value, type, mode, no graph, batches, model and grad mode untouched."""
    device = resolve(device)
    probe = ProbeNetwork(int(rng.integers(0, 2**31))).to(device)
    images = torch.randn(n_images, 1, 28, 28, generator=G.torch_generator(rng)).to(device)
    labels, expected = labels_for_accuracy(probe, images, fraction, rng)
    before = model_state(probe)
    probe.train()  # the student's function must switch to evaluation mode itself
    probe.calls.clear()
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    described = f"{n_images} images, {expected:.1%} of them right, batch_size={batch_size or 'default (1000)'}"
    result = call(evaluate_accuracy, probe, images, labels, limits=EVAL_LIMITS, **kwargs)
    G.check_true(isinstance(result, float), f"evaluate_accuracy should return a Python float (use .item()), got {type(result).__name__}")
    G.check_true(torch.is_grad_enabled(), "evaluate_accuracy switched gradients off for good; use `with torch.no_grad():`")
    check_state_unchanged(probe, before, "evaluate_accuracy")
    calls = probe.calls
    G.check_true(calls, "evaluate_accuracy never ran the model")
    G.check_true(all(not training for _, training, _ in calls),
                 "evaluate_accuracy ran the model in training mode; switch to evaluation mode first (model.eval())")
    G.check_true(all(not grad for _, _, grad in calls),
                 "evaluate_accuracy ran the model with gradients on, which builds a graph; wrap it in `with torch.no_grad():`")
    limit = batch_size or 1000
    sizes = [size for size, _, _ in calls]
    G.check_true(max(sizes) <= limit, f"evaluate_accuracy passed batches of {max(sizes)} images with batch_size={limit}")
    G.check_true(sum(sizes) == n_images,
                 f"evaluate_accuracy passed {sum(sizes)} images through the model for {n_images} images; each exactly once")
    G.check_close(result, expected, atol=0.5 / n_images, name=f"evaluate_accuracy ({described})")


# ------------------------------------------------------------------------------------ train_model
def check_signature(train_model: Callable) -> None:
    """The signature of the instructions, with max_epochs defaulting to MAX_EPOCHS (20)."""
    try:
        parameters = inspect.signature(train_model).parameters
    except (TypeError, ValueError):
        raise AssertionError("train_model should be a Python function") from None
    expected = ["model", "train_images", "train_labels", "val_images", "val_labels", "max_epochs", "lr", "patience",
                "batch_size", "seed", "progress"]
    G.check_true(list(parameters)[:len(expected)] == expected,
                 f"train_model's parameters are {list(parameters)}; keep the signature of the instructions: {expected}")
    defaults = {name: parameters[name].default for name in expected[5:]}
    wanted = {"max_epochs": MAX_EPOCHS, "lr": None, "patience": None, "batch_size": None, "seed": 0, "progress": False}
    G.check_true(defaults == wanted, f"train_model's defaults are {defaults}; the instructions ask for {wanted}")


def check_history_format(history: Any) -> dict[str, Any]:
    """A dict with train_loss, val_accuracy, lr (one number per epoch) and an int best_epoch; returns it cleaned."""
    G.check_true(type(history) is dict, f"train_model should return the history as a dict, got {type(history).__name__}")
    for key in ("train_loss", "val_accuracy", "lr", "best_epoch"):
        G.check_true(key in history, f"the history has no key '{key}'")
    clean = {}
    for key in ("train_loss", "val_accuracy", "lr"):
        value = history[key]
        G.check_true(isinstance(value, (list, tuple, np.ndarray)),
                     f"history['{key}'] should be a list with one number per epoch, got {type(value).__name__}")
        try:
            clean[key] = [float(x) for x in list(value)]
        except (TypeError, ValueError):
            raise AssertionError(f"history['{key}'] should hold numbers, got {list(value)[:3]!r}") from None
    n_epochs = len(clean["val_accuracy"])
    G.check_true(n_epochs >= 1, "the history records no epoch")
    for key in ("train_loss", "lr"):
        G.check_true(len(clean[key]) == n_epochs,
                     f"history['{key}'] has {len(clean[key])} entries and history['val_accuracy'] {n_epochs}; record one of each per epoch")
    G.check_true(np.all(np.isfinite(clean["train_loss"])), "history['train_loss'] contains NaN or infinity")
    best = history["best_epoch"]
    G.check_true(_is_int(best), f"history['best_epoch'] should be an int (an epoch index), got {type(best).__name__} {best!r}")
    clean["best_epoch"] = int(best)
    return clean


@G.reference  # an expected answer: graded code may not call it
def early_stopping_oracle(script: list[float], patience: int, max_epochs: int) -> tuple[int, int]:
    """(epochs run, index of the best epoch) for validation accuracies ``script`` under the instructions' rule."""
    best, best_epoch, counter = -math.inf, -1, 0
    for epoch in range(max_epochs):
        accuracy = script[epoch]
        if accuracy > best:
            best, best_epoch, counter = accuracy, epoch, 0
        else:
            counter += 1
            if counter >= patience:
                return epoch + 1, best_epoch
    return max_epochs, best_epoch


class ScriptedNetwork(nn.Module):
    """A network whose validation accuracy after epoch e is ``script[e - 1]``.

    It answers only on the validation images it was built for: validation image i carries its index
    in every pixel (i + 1000), and any other image gets a wrong answer. It counts the training
    examples it has seen in a buffer (so the count is part of its weights) and so knows how many
    epochs have passed. Its one parameter gets a zero gradient, so the optimiser changes nothing else.
    """

    def __init__(self, script: list[float], n_train: int, val_labels: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.register_buffer("examples_seen", torch.zeros((), dtype=torch.long))
        self.script, self.n_train, self.val_labels = list(script), n_train, val_labels

    def forward(self, images):
        logits = torch.zeros(images.shape[0], 10, device=images.device) + 0.0 * self.weight
        if self.training and torch.is_grad_enabled():
            self.examples_seen += images.shape[0]
            return logits
        epochs_done = int(self.examples_seen) // self.n_train
        accuracy = self.script[min(epochs_done, len(self.script)) - 1] if epochs_done > 0 else 0.0
        n_val = len(self.val_labels)
        n_right = round(accuracy * n_val)
        marker = images.reshape(len(images), -1).median(dim=1).values - 1000
        index = marker.round().long().clamp(0, n_val - 1)
        is_val = (marker - index).abs() < 0.25
        right = torch.where(index < n_right, self.val_labels[index], (self.val_labels[index] + 1) % 10)
        predicted = torch.where(is_val, right, (self.val_labels[index] + 2) % 10)
        return logits + 10.0 * F.one_hot(predicted, 10).float()


def scripted_data(n_val: int, n_train: int, device):
    val_labels = torch.arange(n_val, device=device) % 10
    val_images = (1000 + torch.arange(n_val, device=device, dtype=torch.float32)).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()
    train_images = torch.randn(n_train, 1, 28, 28).to(device)
    train_labels = torch.randint(0, 10, (n_train,)).to(device)
    return train_images, train_labels, val_images, val_labels


def scripted_run(train_model: Callable, script: list[float], patience: int, max_epochs: int, device=None,
                 lr: float | None = None, n_val: int = 100, n_train: int = 256) -> dict[str, Any]:
    """Train the scripted network with the student's loop; check when it stops and which weights come back."""
    device = resolve(device)
    expected_epochs, expected_best = early_stopping_oracle(script, patience, max_epochs)
    train_images, train_labels, val_images, val_labels = scripted_data(n_val, n_train, device)
    network = ScriptedNetwork(script, n_train, val_labels).to(device)
    kwargs = {} if lr is None else {"lr": lr}
    history = call(train_model, network, train_images, train_labels, val_images, val_labels, max_epochs=max_epochs,
                   patience=patience, batch_size=32, limits=TRAIN_LIMITS, **kwargs)
    G.check_true(history is not network, "train_model should return the history dict; it trains the model passed in, in place")
    history = check_history_format(history)
    n_epochs = len(history["val_accuracy"])
    shown = [round(a, 2) for a in script[:max(expected_epochs, n_epochs)]]
    G.check_true(n_epochs <= max_epochs, f"train_model ran {n_epochs} epochs with max_epochs={max_epochs}")
    G.check_true(n_epochs == expected_epochs,
                 f"with validation accuracies {shown}, patience={patience} and max_epochs={max_epochs}, training should "
                 f"stop after {expected_epochs} epochs (only a strictly higher accuracy is an improvement); your loop ran {n_epochs}")
    G.check_close(history["val_accuracy"], script[:n_epochs], atol=1e-9,
                  name="history['val_accuracy'] (one validation accuracy per epoch, measured on the validation data after the epoch)")
    G.check_true(history["best_epoch"] == expected_best,
                 f"history['best_epoch'] is {history['best_epoch']}; the first best epoch of {shown} has index {expected_best}")
    network.eval()
    with torch.no_grad():
        final = (network(val_images).argmax(dim=1) == val_labels).float().mean().item()
    G.check_close(final, script[expected_best], atol=1e-9,
                  name=f"validation accuracy of the model passed to train_model after training with {shown} "
                       f"(it should hold the best epoch's weights: load them back, from a real copy, whichever way training ends)")
    return history


EXAMPLE_SCRIPT = ([0.5, 0.8, 0.7, 0.8, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9], 2, 10)  # the instructions' example: 4 epochs, best 1


def random_scripts(rng: np.random.Generator) -> list[tuple[list[float], int, int, str]]:
    """Scripts, patiences and epoch limits drawn at grading time, at least one of every way the loop can end.

    Accuracies come from a coarse grid so ties (no improvement) are frequent.
    """
    kinds = {"patience exhausted": None, "max_epochs reached while improving": None,
             "max_epochs reached after the best epoch, patience left": None,
             "patience exhausted exactly at max_epochs": None, "patience larger than max_epochs": None,
             "patience 1": None}
    for _ in range(20000):
        max_epochs = int(rng.integers(2, 10))
        patience = int(rng.integers(1, 7))
        script = [round(float(v), 2) for v in rng.choice(np.arange(0.1, 1.0, 0.1), size=max_epochs + 6)]
        if rng.random() < 0.3:  # a rising script
            script = sorted(script)
        epochs, best = early_stopping_oracle(script, patience, max_epochs)
        stopped_early = epochs < max_epochs or (epochs == max_epochs and epochs - 1 - best >= patience)
        if epochs < max_epochs:
            kind = "patience exhausted"
        elif best == max_epochs - 1:
            kind = "max_epochs reached while improving"
        elif stopped_early:
            kind = "patience exhausted exactly at max_epochs"
        else:
            kind = "max_epochs reached after the best epoch, patience left"
        for name in ([kind] + (["patience larger than max_epochs"] if patience > max_epochs else [])
                     + (["patience 1"] if patience == 1 and epochs < max_epochs else [])):
            if kinds[name] is None:
                kinds[name] = (script, patience, max_epochs, name)
        if all(kinds.values()):
            break
    return [case for case in kinds.values() if case is not None]


def check_lr_scaling(train_model: Callable, rng: np.random.Generator, device=None) -> None:
    """history['lr'] is lr times the schedule's factor: it scales with lr when nothing else changes."""
    script = [round(float(v), 2) for v in rng.choice(np.arange(0.1, 1.0, 0.1), size=6)]
    base = float(rng.choice([1e-3, 2e-3, 5e-3]))
    factor = float(rng.choice([3.0, 7.0]))
    runs = []
    for lr in (base, base * factor):
        history = scripted_run(train_model, script, patience=6, max_epochs=4, device=device, lr=lr)
        runs.append(np.asarray(history["lr"]))
    G.check_true(all(runs[0] > 0), f"with lr={base:g} history['lr'] should hold the positive rates used: {runs[0].tolist()}")
    G.check_close(runs[1], factor * runs[0], rtol=1e-6, atol=1e-12,
                  name=f"history['lr'] with lr={base * factor:g} (it should be {factor:g} times the rates with lr={base:g}; "
                       "every rate is lr times your schedule's factor)")


class RecordingNetwork(nn.Module):
    """Records every batch it sees; its logits are a fixed function of the image, so the tests can recompute each loss.

    Training image i is constant, with value label + 0.1 + 0.8 i / (n - 1): a shift, flip or small rotation
    keeps its median, so the label and the index can be read back from any augmented batch.
    Validation image j is constant 100 + j and always classified correctly. The one parameter gets a zero gradient.
    """

    def __init__(self, n_train: int, val_labels: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.n_train, self.val_labels = n_train, val_labels
        self.records: list[dict[str, Any]] = []

    def forward(self, images):
        values = images.detach().reshape(len(images), -1).median(dim=1).values
        phases = torch.arange(10, device=images.device, dtype=torch.float32)
        logits = 4 * torch.sin(2.1 * phases.view(1, -1) + 5.3 * values.view(-1, 1))
        is_val = values > 50
        val_index = (values - 100).round().long().clamp(0, len(self.val_labels) - 1)
        logits = torch.where(is_val.view(-1, 1), 10.0 * F.one_hot(self.val_labels[val_index], 10).float(), logits)
        labels = values.floor().long().clamp(0, 9)
        index = ((values - labels - 0.1) / 0.8 * (self.n_train - 1)).round().long()
        losses = F.cross_entropy(logits, labels, reduction="none")
        self.records.append({"size": len(images), "training": self.training, "grad": torch.is_grad_enabled(),
                             "val": int(is_val.sum()), "index": index.cpu().tolist(), "losses": losses.cpu()})
        return logits + 0.0 * self.weight


def recording_data(n_train: int, n_val: int, device, rng: np.random.Generator):
    labels = torch.from_numpy(rng.integers(0, 10, n_train))
    values = labels.float() + 0.1 + 0.8 * torch.arange(n_train, dtype=torch.float32) / (n_train - 1)
    images = values.view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()
    val_images = (100 + torch.arange(n_val, dtype=torch.float32)).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()
    val_labels = torch.from_numpy(rng.integers(0, 10, n_val))
    return images.to(device), labels.to(device), val_images.to(device), val_labels.to(device)


def recording_run(train_model: Callable, rng: np.random.Generator, device=None, n_train: int = 64, batch_size: int = 24,
                  epochs: int = 3, seed: int = 0, lr: float = 1e-3) -> list[list[int]]:
    """Train the recording network; check batches, modes, the use of the data and train_loss; return each epoch's order."""
    device = resolve(device)
    train_images, train_labels, val_images, val_labels = recording_data(n_train, 40, device, rng)
    originals = [t.clone() for t in (train_images, train_labels, val_images, val_labels)]
    network = RecordingNetwork(n_train, val_labels).to(device)
    steps: list[tuple[int, float]] = []  # (number of forward passes so far, rate) at every optimiser step

    def record_step(optimizer, args, kwargs):
        for group in optimizer.param_groups:
            if any(p is network.weight for p in group["params"]):
                steps.append((len(network.records), float(group["lr"])))

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(record_step)
    try:
        history = call(train_model, network, train_images, train_labels, val_images, val_labels, max_epochs=epochs,
                       patience=epochs + 5, batch_size=batch_size, seed=seed, lr=lr, limits=TRAIN_LIMITS)
    finally:
        handle.remove()
    history = check_history_format(history)
    for position, record in enumerate(network.records, start=1):
        record["rates"] = [rate for at, rate in steps if at == position]
    for name, before, after in zip(("train_images", "train_labels", "val_images", "val_labels"), originals,
                                   (train_images, train_labels, val_images, val_labels)):
        G.check_true(torch.equal(before, after), f"train_model changed its argument {name}; leave the data it is given unchanged "
                                                 "(augment copies of the batches)")
    G.check_true(len(history["val_accuracy"]) == epochs,
                 f"with max_epochs={epochs} and a patience of {epochs + 5}, train_model should run {epochs} epochs, "
                 f"it ran {len(history['val_accuracy'])}")
    training = [r for r in network.records if r["grad"]]
    G.check_true(all(r["training"] for r in training),
                 "train_model ran training batches (with gradients on) in evaluation mode; call model.train() at the start "
                 "of every epoch")
    G.check_true(not any(r["val"] for r in training),
                 "validation images went through the model in a training step: the validation data may only decide when "
                 "to stop and which weights to keep, never train")
    validation = [r for r in network.records if r["val"]]
    G.check_true(validation and all(not r["training"] and not r["grad"] for r in validation),
                 "train_model measured the validation accuracy in training mode or with gradients on; use your "
                 "evaluate_accuracy (evaluation mode, torch.no_grad())")
    seen = sum(r["size"] for r in training)
    G.check_true(seen == epochs * n_train,
                 f"in {epochs} epochs over {n_train} training images the model saw {seen} training images (with gradients "
                 "on); every epoch should visit each training image exactly once, in one forward pass per mini-batch")
    orders, losses_per_epoch = [], []
    for e in range(epochs):
        batches, count = [], 0
        while count < n_train:
            batches.append(training.pop(0))
            count += batches[-1]["size"]
        sizes = sorted((r["size"] for r in batches), reverse=True)
        expected_sizes = [batch_size] * (n_train // batch_size) + ([n_train % batch_size] if n_train % batch_size else [])
        G.check_true(sizes == expected_sizes,
                     f"epoch {e + 1}: the mini-batches had {sizes} images with batch_size={batch_size} and {n_train} training "
                     f"images; expected {expected_sizes}")
        order = [i for r in batches for i in r["index"]]
        G.check_true(sorted(order) == list(range(n_train)),
                     f"epoch {e + 1} did not visit every training image exactly once; shuffle a permutation of the training set")
        orders.append(order)
        weighted = sum(float(r["losses"].sum()) for r in batches) / n_train
        losses_per_epoch.append(weighted)
        if steps:  # a torch.optim optimiser: its steps and rates can be watched
            counts = [len(r["rates"]) for r in batches]
            G.check_true(counts == [1] * len(batches),
                         f"epoch {e + 1}: the optimiser stepped {counts} times after the {len(batches)} mini-batches; take "
                         "exactly one optimiser step per mini-batch")
            rates = [rate for r in batches for rate in r["rates"]]
            recorded = history["lr"][e]
            G.check_true(min(rates) * (1 - 1e-6) - 1e-12 <= recorded <= max(rates) * (1 + 1e-6) + 1e-12,
                         f"history['lr'][{e}] is {recorded:.6g}, but the optimiser stepped with rates "
                         f"{sorted(set(round(r, 8) for r in rates))} during epoch {e + 1}; record the rate used during the "
                         "epoch (read it before the scheduler steps)")
    G.check_close(history["train_loss"], losses_per_epoch, rtol=1e-4, atol=1e-6,
                  name="history['train_loss'] (the mean of the epoch's mini-batch cross-entropy losses, weighted by batch size)")
    G.check_close(history["val_accuracy"], [1.0] * epochs, atol=1e-9,
                  name="history['val_accuracy'] of a network that classifies every validation image correctly")
    return orders


def check_shuffling(train_model: Callable, rng: np.random.Generator, device=None) -> None:
    """Every epoch in a new order; the same seed repeats the orders, another seed changes them."""
    seed = int(rng.integers(0, 1000))
    data_seed = int(rng.integers(0, 2**31))
    first = recording_run(train_model, np.random.default_rng(data_seed), device, seed=seed)
    G.check_true(first[0] != first[1] and first[1] != first[2],
                 "the training set was visited in the same order in two epochs; shuffle it anew every epoch")
    G.check_true(first[0] != sorted(first[0]), "the first epoch visited the training set in its stored order; shuffle it")
    again = recording_run(train_model, np.random.default_rng(data_seed), device, seed=seed)
    G.check_true(again == first, f"two runs with seed={seed} shuffled differently; shuffle with a torch.Generator seeded with seed")
    other = recording_run(train_model, np.random.default_rng(data_seed), device, seed=seed + 1)
    G.check_true(other != first, f"seed={seed} and seed={seed + 1} gave the same order; shuffle with a generator seeded with seed")


def blob_images(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fake digits: class k is a blurry blob at its own place on a circle, plus noise; a linear model can learn them."""
    rows, cols = torch.arange(28.0).view(1, 28, 1), torch.arange(28.0).view(1, 1, 28)
    angles = 2 * np.pi * labels.float() / 10
    centre_rows = (13.5 + 9 * torch.sin(angles)).view(-1, 1, 1)
    centre_cols = (13.5 + 9 * torch.cos(angles)).view(-1, 1, 1)
    blobs = torch.exp(-((rows - centre_rows) ** 2 + (cols - centre_cols) ** 2) / (2 * 2.5**2))
    return (3 * blobs + 0.3 * torch.randn(len(labels), 28, 28, generator=generator)).unsqueeze(1)


def blob_data(rng: np.random.Generator, device=None, n_train: int = 640, n_val: int = 200):
    device = resolve(device)
    gen = G.torch_generator(rng)
    train_labels = torch.randperm(n_train, generator=gen) % 10
    val_labels = torch.randperm(n_val, generator=gen) % 10
    return (blob_images(train_labels, gen).to(device), train_labels.to(device), blob_images(val_labels, gen).to(device),
            val_labels.to(device))


def linear_network(rng: np.random.Generator, device=None) -> nn.Module:
    device = resolve(device)
    torch.manual_seed(int(rng.integers(0, 2**31)))
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).to(device)


def check_blob_training(train_model: Callable, rng: np.random.Generator, device=None, max_epochs: int = 3,
                        blank_validation: bool = False, patience: int = 5) -> dict[str, Any]:
    """The student's defaults on learnable fake digits: the loss falls, max_epochs holds, rates are positive.

    With ``blank_validation`` every validation image is blank, so the validation accuracy cannot change
    while the training loss falls: early stopping must watch the validation accuracy and stop after 1 + patience.
    """
    train_images, train_labels, val_images, val_labels = blob_data(rng, device)
    if blank_validation:
        val_images = torch.zeros_like(val_images)
    originals = [t.clone() for t in (train_images, train_labels, val_images, val_labels)]
    history = call(train_model, linear_network(rng, device), train_images, train_labels, val_images, val_labels,
                   max_epochs=max_epochs, patience=patience, limits=TRAIN_LIMITS)
    history = check_history_format(history)
    for before, after in zip(originals, (train_images, train_labels, val_images, val_labels)):
        G.check_true(torch.equal(before, after), "train_model changed the data it was given; augment copies of the batches")
    n_epochs = len(history["val_accuracy"])
    expected = min(max_epochs, 1 + patience) if blank_validation else max_epochs
    G.check_true(n_epochs == expected,
                 (f"the validation accuracy stays {history['val_accuracy'][0]:.2f} (blank validation images) while the training "
                  f"loss falls; with patience={patience} training must stop after {expected} epochs (early stopping watches "
                  f"the validation accuracy), it ran {n_epochs}") if blank_validation else
                 f"max_epochs={max_epochs} and patience={patience}: train for {max_epochs} epochs, not {n_epochs}")
    G.check_true(history["train_loss"][-1] < history["train_loss"][0],
                 f"the training loss should fall on easy fake digits with your default learning rate: {history['train_loss']}")
    G.check_true(all(rate > 0 for rate in history["lr"]), f"history['lr'] should hold the positive rates used: {history['lr']}")
    if not blank_validation:
        G.check_at_least(max(history["val_accuracy"]), 0.5, f"best validation accuracy on easy fake digits after {max_epochs} epochs")
    return history


def check_frozen_by_zero_lr(train_model: Callable, rng: np.random.Generator, device=None) -> None:
    """lr=0 freezes the weights, so the validation accuracy is flat: patience ends the run; history['lr'] is zero."""
    train_images, train_labels, val_images, val_labels = blob_data(rng, device)
    network = linear_network(rng, device)
    before = model_state(network)
    patience = int(rng.integers(1, 4))
    history = call(train_model, network, train_images, train_labels, val_images, val_labels, max_epochs=8,
                   patience=patience, lr=0.0, limits=TRAIN_LIMITS)
    history = check_history_format(history)
    check_state_unchanged(network, before, "train_model with lr=0 (every rate must be lr times a factor)")
    n_epochs = len(history["val_accuracy"])
    G.check_true(n_epochs == 1 + patience,
                 f"with lr=0 the validation accuracy never improves: patience={patience} should stop after {1 + patience} "
                 f"epochs, not {n_epochs}")
    G.check_close(history["lr"], np.zeros(n_epochs), atol=1e-12, name="history['lr'] with lr=0")


# ------------------------------------------------------------------------------------ the data guard
class HiddenData:
    """Stands in for a notebook global that holds data while the graded run trains: any use fails, naming it."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _refuse(self, *args, **kwargs):
        raise AssertionError(f"during the graded run your code used the notebook's global "
                             f"`{object.__getattribute__(self, '_name')}`, which holds data: build_model builds an untrained "
                             "network, and train_model trains and validates only on the tensors it is given as arguments")

    __getattr__ = __getitem__ = __len__ = __iter__ = __call__ = __array__ = __bool__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __eq__ = __index__ = _refuse

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        for arg in list(args) + [a for v in args if isinstance(v, (list, tuple)) for a in v]:
            if isinstance(arg, HiddenData):
                arg._refuse()
        raise AssertionError("during the graded run your code used a notebook global that holds data")


def holds_data(value: Any, depth: int = 0) -> bool:
    """A tensor, array, dataset or loader of at least ten digits' size, or a container of them."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return int(np.prod(value.shape)) >= DATA_TENSOR_ELEMENTS
    if isinstance(value, torch.utils.data.Dataset) or type(value).__name__ in ("DeviceLoader", "DataLoader"):
        return True
    if depth < 2 and isinstance(value, (list, tuple, set, frozenset)):
        return any(holds_data(v, depth + 1) for v in list(value)[:1000])
    if depth < 2 and isinstance(value, dict):
        return any(holds_data(v, depth + 1) for v in list(value.values())[:1000])
    return False


@contextlib.contextmanager
def notebook_data_hidden(*functions: Callable):
    """While the block runs, every global holding data in the functions' namespaces (the notebook) is replaced."""
    namespaces = []
    main = sys.modules.get("__main__")
    for candidate in [getattr(f, "__globals__", None) for f in functions] + [getattr(main, "__dict__", None)]:
        if isinstance(candidate, dict) and all(candidate is not ns for ns in namespaces):
            namespaces.append(candidate)
    hidden = []
    for namespace in namespaces:
        for key, value in list(namespace.items()):
            if not key.startswith("__") and holds_data(value):
                hidden.append((namespace, key, value))
                namespace[key] = HiddenData(key)
    try:
        yield
    finally:
        for namespace, key, value in hidden:
            namespace[key] = value


# ------------------------------------------------------------------------------------- experiment
def experiment_settings() -> tuple[int, int, int]:
    """(VAL_SIZE, EXPERIMENT_TRAIN_SIZE, EXPERIMENT_EPOCHS) of the notebook's settings cell, for the current budget."""
    from course_utils.runtime import budget

    return (budget(fast=200, cpu=500, gpu=5000), budget(fast=1000, cpu=15000, gpu=60000),
            budget(fast=EXPERIMENT_EPOCHS_FAST, cpu=MAX_EPOCHS))


EXPERIMENT_EPOCHS_FAST = 2
EXPERIMENT_SEED = 0  # the experiment seeds with seed_everything(EXPERIMENT_SEED) right before build_model


def clean_held_out(train_keys: list[bytes], val_keys: list[bytes], device):
    """Training-split digits the experiment neither trained nor validated on, freshly loaded."""
    images, labels, _ = mnist_split(train=True, device=device)
    used = set(train_keys) | set(val_keys)
    keep = [i for i, key in enumerate(image_keys(images)) if key not in used]
    keep_t = torch.tensor(keep, dtype=torch.long, device=images.device)
    return images[keep_t], labels[keep_t]


def check_experiment(namespace: dict[str, Any], device=None) -> dict[str, float]:
    """The experiment of part 4, from the notebook's variables (``globals()``); returns the measured accuracies."""
    device = resolve(device)
    names = ("train_images", "train_labels", "val_images", "val_labels", "cnn_model", "cnn_history", "test_accuracy",
             "used_fallback")
    for name in names:
        G.check_true(name in namespace, f"your experiment cell should define `{name}`")
    train_images, train_labels = namespace["train_images"], namespace["train_labels"]
    val_images, val_labels = namespace["val_images"], namespace["val_labels"]
    model, history = namespace["cnn_model"], namespace["cnn_history"]
    for name in ("train_images", "train_labels", "val_images", "val_labels"):
        G.check_true(isinstance(namespace[name], torch.Tensor), f"`{name}` should be a tensor, got {type(namespace[name]).__name__}")
    G.check_true(isinstance(model, nn.Module), f"`cnn_model` should be your network, got {type(model).__name__}")
    val_size, train_size, max_epochs = experiment_settings()
    all_images, all_labels, is_fallback = mnist_split(train=True)
    test_images, test_labels, _ = mnist_split(train=False)
    G.check_true(bool(namespace["used_fallback"]) == is_fallback,
                 f"used_fallback is {namespace['used_fallback']}, but this notebook ran on "
                 f"{'the fallback' if is_fallback else 'full MNIST'}")

    split_keys = image_keys(all_images)
    position = {key: i for i, key in enumerate(split_keys)}
    test_keys = set(image_keys(test_images))
    val_keys, train_keys = image_keys(val_images), image_keys(train_images)
    G.check_true(len(val_keys) == len(val_labels) and len(train_keys) == len(train_labels),
                 "the images and labels of a split should have the same length")
    G.check_true(len(val_keys) == min(val_size, len(all_labels)),
                 f"hold out VAL_SIZE = {val_size} validation digits (you have {len(val_keys)})")
    G.check_true(0 < len(train_keys) <= train_size,
                 f"use at most EXPERIMENT_TRAIN_SIZE = {train_size} training digits (you use {len(train_keys)})")
    G.check_true(all(k not in test_keys for k in val_keys), "val_images contains test digits: the test split must not be used before the end")
    G.check_true(all(k not in test_keys for k in train_keys), "train_images contains test digits")
    G.check_true(all(k in position for k in val_keys), "val_images contains images that are not in the training split; take the "
                                                         "validation digits from it")
    G.check_true(all(k in position for k in train_keys), "train_images contains images that are not in the training split")
    G.check_true(not set(val_keys) & set(train_keys), "some validation digits are also in train_images; hold them out")
    val_positions = sorted(position[k] for k in val_keys)
    G.check_true(val_positions != list(range(val_positions[0], val_positions[0] + len(val_positions))),
                 "val_images is a block of consecutive digits of the training split; choose them at random, with a seeded generator")
    for name, keys, labels in (("val_labels", val_keys, val_labels), ("train_labels", train_keys, train_labels)):
        truth = all_labels[torch.tensor([position[k] for k in keys])]
        G.check_true(torch.equal(truth, labels.detach().cpu().long()), f"{name} are not the labels of those digits")

    h = check_history_format(history)
    G.check_true(len(h["val_accuracy"]) <= max_epochs,
                 f"your experiment trained for {len(h['val_accuracy'])} epochs; EXPERIMENT_EPOCHS is {max_epochs}")
    device = parameters_of(model)[0].device if parameters_of(model) else device
    val_accuracy = model_accuracy(model, val_images.to(device), val_labels.to(device))
    G.check_true(abs(val_accuracy - max(h["val_accuracy"])) <= 1.01 / len(val_labels),
                 f"cnn_model classifies {val_accuracy:.4f} of val_images correctly, but the best validation accuracy in "
                 f"cnn_history is {max(h['val_accuracy']):.4f}: cnn_model should be the model trained in that run, holding "
                 "its best weights")

    test_measured = model_accuracy(model, test_images.to(device), test_labels.to(device))
    reported = namespace["test_accuracy"]
    G.check_true(isinstance(reported, (float, int, np.floating)) and not isinstance(reported, bool),
                 f"test_accuracy should be a number, got {type(reported).__name__}")
    G.check_true(abs(float(reported) - test_measured) <= 0.5 / len(test_labels),
                 f"you report test_accuracy = {float(reported):.4f}, but cnn_model classifies {test_measured:.4f} of the test "
                 "split correctly; report the accuracy on test_images, measured after training")

    held_images, held_labels = clean_held_out(train_keys, val_keys, device)
    clean = model_accuracy(model, held_images, held_labels)
    G.check_at_least(clean, EXPERIMENT_MIN_ACCURACY,
                     f"accuracy of cnn_model on the {len(held_labels)} training-split digits your experiment neither trained "
                     "nor validated on (is cnn_model trained?)")
    check_no_test_leak(test_measured, len(test_labels), clean, len(held_labels), "cnn_model")
    check_experiment_replicates(namespace, h, test_images.to(device), max_epochs, device)
    return {"test": test_measured, "clean": clean, "val": val_accuracy, "n_clean": len(held_labels)}


def check_experiment_replicates(namespace: dict[str, Any], history: dict[str, Any], test_images: torch.Tensor,
                                max_epochs: int, device) -> None:
    """Re-run the experiment as the instructions state it and compare: the same history and the same model.

    ``seed_everything(EXPERIMENT_SEED)``, ``build_model()``, then ``train_model`` on the notebook's four tensors
    with ``max_epochs=EXPERIMENT_EPOCHS``. On a CPU the run is deterministic, so history and predictions must be
    identical: a model trained (or fine-tuned) on anything else, or not trained at all, cannot match. On a GPU,
    whose kernels are not deterministic, small differences are allowed.
    """
    from course_utils.runtime import seed_everything

    for name in ("build_model", "train_model"):
        G.check_true(callable(namespace.get(name)), f"`{name}` should be your function")
    exact = torch.device(device).type == "cpu"
    seed_everything(EXPERIMENT_SEED)
    twin = build(namespace["build_model"], device)
    twin_history = call(namespace["train_model"], twin, namespace["train_images"], namespace["train_labels"],
                        namespace["val_images"], namespace["val_labels"], max_epochs=max_epochs, limits=TRAIN_LIMITS)
    twin_history = check_history_format(twin_history)
    n_val = len(namespace["val_labels"])
    how = (f"re-running your experiment (seed_everything({EXPERIMENT_SEED}), build_model(), then train_model on train_images, "
           f"train_labels, val_images, val_labels with max_epochs={max_epochs} and your defaults)")
    mine, theirs = history["val_accuracy"], twin_history["val_accuracy"]
    tolerance = 1e-9 if exact else 3.01 / n_val
    same = len(mine) == len(theirs) and all(abs(a - b) <= tolerance for a, b in zip(mine, theirs))
    G.check_true(same or (not exact and abs(len(mine) - len(theirs)) <= 2),
                 f"{how} gives the validation accuracies {np.round(theirs, 4).tolist()}, but cnn_history holds "
                 f"{np.round(mine, 4).tolist()}: cnn_history and cnn_model must come from that one run")
    if exact:
        G.check_close(history["train_loss"], twin_history["train_loss"], rtol=1e-5, atol=1e-7,
                      name=f"cnn_history['train_loss'] compared with {how}")
    with torch.no_grad():
        call(namespace["cnn_model"].eval, limits=MODEL_LIMITS)
        call(twin.eval, limits=MODEL_LIMITS)
        predicted = torch.cat([logits_of(namespace["cnn_model"], test_images[i:i + 500]).argmax(1) for i in range(0, len(test_images), 500)])
        expected = torch.cat([logits_of(twin, test_images[i:i + 500]).argmax(1) for i in range(0, len(test_images), 500)])
    agreement = (predicted == expected).float().mean().item()
    G.check_true(agreement >= (1.0 if exact else 0.97),
                 f"cnn_model and the model from {how} disagree on {1 - agreement:.1%} of the test digits: cnn_model must be "
                 "the model of that run, trained on nothing else")


def check_no_test_leak(test_accuracy: float, n_test: int, clean_accuracy: float, n_clean: int, what: str) -> None:
    """The test split is not significantly easier for the model than clean held-out digits from the same source."""
    pooled = (test_accuracy * n_test + clean_accuracy * n_clean) / (n_test + n_clean)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-4) * (1 / n_test + 1 / n_clean))
    gap = test_accuracy - clean_accuracy
    G.check_true(gap <= max(LEAK_Z * se, LEAK_MIN_GAP),
                 f"{what} classifies {test_accuracy:.2%} of the test split but only {clean_accuracy:.2%} of {n_clean} "
                 f"training-split digits it never saw ({gap / se:.1f} standard errors apart): it has seen the test split; "
                 "train and choose only on the training split")


# ----------------------------------------------------------------------------------- the graded run
@dataclass(frozen=True)
class GradedSettings:
    train_size: int
    val_size: int
    max_epochs: int
    threshold: float


GRADED_TRAIN_SIZE = 2500  # the declared budget of the graded run while grading (and on the offline fallback)
GRADED_MAX_EPOCHS = 8
GRADED_THRESHOLD = 0.96  # measured on the fallback: the solution 0.978 +- 0.0036 over 11 seeds, one epoch at most 0.957
FULL_THRESHOLD = 0.98  # the assignment's target, checked with the default budget on full MNIST


def graded_settings(full_mnist: bool, device=None) -> GradedSettings:
    """The declared budget of the graded run and its threshold (see the module docstring and part 5).

    While grading, and on the offline fallback (whose 1,000 test digits cannot tell 98 % from 97 %),
    the small budget and its measured threshold; with the default budget on full MNIST the real target.
    """
    from course_utils.runtime import budget, is_fast

    if is_fast() or not full_mnist:
        return GradedSettings(GRADED_TRAIN_SIZE, 500, GRADED_MAX_EPOCHS, GRADED_THRESHOLD)
    return GradedSettings(budget(fast=GRADED_TRAIN_SIZE, cpu=15000, gpu=59500, device=device), 500, MAX_EPOCHS, FULL_THRESHOLD)


@dataclass
class GradedRun:
    settings: GradedSettings
    seed: int
    history: dict[str, Any] | None
    epochs: int
    val_accuracy: float
    test_accuracy: float
    unused_accuracy: float
    n_test: int
    n_unused: int
    is_fallback: bool
    accuracy: float = field(init=False)
    n_eval: int = field(init=False)

    def __post_init__(self):
        self.n_eval = self.n_test + self.n_unused
        self.accuracy = (self.test_accuracy * self.n_test + self.unused_accuracy * self.n_unused) / self.n_eval


def graded_run(build_model: Callable, train_model: Callable, rng: np.random.Generator, device=None) -> GradedRun:
    """Build and train the student's network with their defaults under the declared budget, then measure it."""
    from course_utils.runtime import seed_everything

    device = resolve(device)
    seed = int(rng.integers(0, 2**31))
    images, labels, is_fallback = mnist_split(train=True, device=device)
    settings = graded_settings(not is_fallback, device)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    val_index = order[:settings.val_size]
    train_index = order[settings.val_size:settings.val_size + settings.train_size]
    unused_index = order[settings.val_size + settings.train_size:]
    val_images, val_labels = images[val_index.to(device)], labels[val_index.to(device)]
    train_images, train_labels = images[train_index.to(device)], labels[train_index.to(device)]
    del images, labels  # while the student's code runs, nothing here holds more than the data it is given
    seed_everything(seed)
    with notebook_data_hidden(build_model, train_model):
        model = build(build_model, device)
        check_holds_no_data(model)
        untrained = model_accuracy(model, val_images, val_labels)
        G.check_true(untrained <= CHANCE_CEILING,
                     f"the network fresh from build_model already classifies {untrained:.1%} of the validation digits "
                     "correctly; build_model must return an untrained network")
        call(model.train, limits=MODEL_LIMITS)  # as fresh from build_model
        seen = [0]  # training images through the model (training mode, gradients on)

        def count_training_images(module, inputs, output):
            if module is model and module.training and torch.is_grad_enabled() and inputs and hasattr(inputs[0], "shape"):
                seen[0] += int(inputs[0].shape[0])

        handle = torch.nn.modules.module.register_module_forward_hook(count_training_images)
        try:
            history = call(train_model, model, train_images, train_labels, val_images, val_labels,
                           max_epochs=settings.max_epochs, limits=TRAIN_LIMITS)
        finally:
            handle.remove()
    history = check_history_format(history)
    epochs = len(history["val_accuracy"])
    G.check_true(seen[0] <= epochs * len(train_labels),
                 f"train_model passed {seen[0]:,} training images through the model while its history records {epochs} "
                 f"epochs over {len(train_labels):,} images; an epoch uses each training image once, and every epoch is "
                 "recorded")
    del train_images, train_labels
    images, labels, _ = mnist_split(train=True, device=device)
    unused_accuracy = model_accuracy(model, images[unused_index.to(device)], labels[unused_index.to(device)]) \
        if len(unused_index) else 0.0
    del images, labels
    test_images, test_labels, _ = mnist_split(train=False, device=device)
    test_accuracy = model_accuracy(model, test_images, test_labels)
    val_accuracy = model_accuracy(model, val_images, val_labels)
    run = GradedRun(settings, seed, history, epochs, val_accuracy, test_accuracy, unused_accuracy, len(test_labels),
                    len(unused_index), is_fallback)
    print(f"graded run on {'the offline fallback' if is_fallback else 'MNIST'} (seed {seed}): {settings.train_size} training "
          f"digits, {epochs} epochs (at most {settings.max_epochs}); accuracy {run.accuracy:.4f} on {run.n_eval} digits it "
          f"never saw (test split {test_accuracy:.4f} on {run.n_test}, unused training digits {unused_accuracy:.4f} on "
          f"{run.n_unused}), standard error {accuracy_se(run.accuracy, run.n_eval):.4f}; required {settings.threshold}")
    return run


def check_graded_accuracy(run: Any) -> None:
    """At most max_epochs epochs; accuracy at least the threshold; the test split no easier than the unused digits."""
    G.check_true(isinstance(run, GradedRun), "the graded run did not finish; fix the error it reports first")
    G.check_true(1 <= run.epochs <= run.settings.max_epochs,
                 f"train_model ran {run.epochs} epochs with max_epochs={run.settings.max_epochs}; never train longer than max_epochs")
    if run.n_unused:
        check_no_test_leak(run.test_accuracy, run.n_test, run.unused_accuracy, run.n_unused, "the graded model")
    G.check_at_least(run.accuracy, run.settings.threshold,
                     f"accuracy of your model after the graded run, on {run.n_eval} digits it never saw (standard error "
                     f"{accuracy_se(run.accuracy, run.n_eval):.4f})")


def check_graded_model(run: Any) -> None:
    """The model train_model left behind holds its best epoch."""
    G.check_true(isinstance(run, GradedRun), "the graded run in the test cell above did not finish; fix the error it reports first")
    val_history = np.asarray(run.history["val_accuracy"], dtype=float)
    G.check_true(run.history["best_epoch"] == int(np.argmax(val_history)),
                 f"history['best_epoch'] is {run.history['best_epoch']}, but the first epoch with the best validation accuracy "
                 f"is {int(np.argmax(val_history))} in {np.round(val_history, 4).tolist()}")
    G.check_close(run.val_accuracy, val_history.max(), atol=1.01 / run.settings.val_size,
                  name="validation accuracy of the model train_model returned (it should hold the weights of the best epoch)")
