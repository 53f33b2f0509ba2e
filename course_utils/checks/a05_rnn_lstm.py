"""Checks for assignment a05_rnn_lstm: an LSTM from its gate equations, unrolled, clipped and trained.

Every call of the student's code (constructors, ``forward`` through ``model(x)``, ``clip_grad_norm``,
``backward_and_clip``) goes through :func:`call_graded`, which runs it under
:func:`course_utils.grading.call_student` with :func:`rnn_limits`. The oracles are PyTorch's own
``nn.LSTMCell``, ``nn.LSTM`` and ``torch.nn.utils.clip_grad_norm_``; before each comparison they are
cross-checked against the course's reference in :mod:`course_utils.models.rnn`
(:func:`_oracle_cell`), so a notebook that patches the oracle fails instead of passing.

Limits (all graded parts, stated in the notebook's rules): no recurrent layer of PyTorch
(``torch.nn.modules.rnn``: ``nn.LSTM``, ``nn.LSTMCell``, ``nn.GRU``, ``nn.GRUCell``, ``nn.RNN``,
``nn.RNNCell``), none of their kernels (``torch.lstm*``, ``torch.gru*``, ``torch.rnn_*``, anything
reached through ``torch._VF``, ``torch._thnn_fused_*`` or ``torch.ops``), no ready-made clipping
(``torch.nn.utils.clip_grad_norm_`` and the rest of ``torch.nn.utils.clip_grad``, ``get_total_norm``,
``torch._foreach_*``), and not the course's reference cells in ``course_utils.models.rnn``.

Promise list (what the instructions promise, and the check that holds the student to it)
----------------------------------------------------------------------------------------
``LSTMCell(input_size, hidden_size)`` (``test_lstm_cell``, :func:`check_lstm_cell`):

- C1 an ``nn.Module`` whose parameters are exactly ``weight_ih`` (4H, D), ``weight_hh`` (4H, H),
  ``bias_ih`` (4H,) and ``bias_hh`` (4H,), the gates' rows stacked in PyTorch's order input, forget,
  candidate (input modulation), output;
- C2 ``cell(x, (h, c))`` returns the pair ``(h', c')`` of ``nn.LSTMCell`` with the same weights, for
  fresh random sizes, weights large enough to reach the saturated parts of sigmoid and tanh, and
  states; ``cell(x)`` and ``cell(x, None)`` start from zero states;
- C3 gradients: the gradients of a random weighted sum of ``h'`` and ``c'`` with respect to the four
  parameters, ``x``, ``h`` and ``c`` equal the oracle's (the state is differentiable, nothing detached);
- C4 the inputs are not modified; a second cell is independent of the first (checked by building two);
- C5 none of the forbidden code runs; the class is not the reference with names changed;
- C6 a new cell's four parameters, biases included, are drawn uniformly from [-1/sqrt(H), 1/sqrt(H)]
  (:func:`check_cell_initialisation`: every entry inside the range, mean and spread of a uniform draw, H = 64).

``LSTM(input_size, hidden_size)`` (``test_lstm_layer``, :func:`check_lstm_layer`):

- U1 holds its cell in ``self.cell`` (your ``LSTMCell``), so its parameters are ``cell.weight_ih`` etc.;
- U2 ``lstm(x)`` for ``x`` (B, T, D) returns ``(outputs, (h_T, c_T))`` with ``outputs`` (B, T, H) the
  hidden state at every step, equal to ``nn.LSTM(batch_first=True)`` with the same weights, for fresh
  sizes, T = 1 included; ``lstm(x, (h0, c0))`` starts from the given state;
- U3 every call starts from zeros unless a state is passed: a second call on other sequences (another
  batch size and length) equals a fresh oracle run;
- U4 backpropagation through time: the gradients of a random weighted sum of all outputs and of the
  final cell state, with respect to the parameters and ``x`` (and to ``h0``, ``c0`` when a state is given),
  equal the oracle's;
- U5 forbidden code: as C5.

``clip_grad_norm(parameters, max_norm)`` (``test_clip_grad_norm``, :func:`check_clip_grad_norm`):

- K1 returns the global L2 norm of all gradients before clipping, sqrt(sum ||g||^2), as a number or a
  0-d tensor, equal to ``clip_grad_norm_``'s;
- K2 when that norm exceeds ``max_norm`` every gradient is multiplied in place by the same factor
  ``max_norm / (norm + 1e-6)``; otherwise the gradients are left unchanged; the gradient tensors
  stay the same objects; parameter values do not change;
- K3 parameters whose ``.grad`` is None are skipped; ``parameters`` may be a list or a generator
  (``model.parameters()``); fresh random shapes, scales and thresholds, float32 and float64;
- K4 forbidden code: no ready-made clipping.

``AddingModel(hidden_size)`` and ``backward_and_clip`` (``test_backward_and_clip``, :func:`check_adding_model`,
:func:`check_backward_and_clip`):

- M1 ``AddingModel`` holds ``self.lstm`` (your ``LSTM`` with input size 2) and ``self.head``
  (``nn.Linear(hidden_size, 1)``); ``model(x)`` for ``x`` (B, T, 2) returns (B,) predictions, the head
  applied to the last hidden state, equal to the oracle with the same weights, a batch of one included (shape
  (1,)); repeated calls agree;
- T1 ``backward_and_clip(model, inputs, targets, max_norm)`` prepares one training step: it clears
  the old gradients of ``model``'s parameters, computes the mean squared error of ``model(inputs)``
  against ``targets``, backpropagates, and clips all gradients together with your ``clip_grad_norm``;
  it returns the loss as a Python float and leaves the clipped gradients in ``.grad`` (the caller's
  optimizer then steps). Checked for two consecutive steps of SGD, with stale gradients planted
  beforehand, against the oracle with ``clip_grad_norm_``: the returned loss, every ``.grad``, and
  the parameters after the caller's step; ``max_norm`` small enough to clip, then large enough not to.

The graded run (``test_graded_run``, :func:`graded_run`): G1 with the test's initial weights
(``nn.LSTMCell`` drawn from seed 2, forget-gate bias raised by 1), Adam (lr 0.02) and 400 batches of
128 adding problems of length 20 (fixed), ``backward_and_clip`` with ``max_norm=1`` followed by the
test's ``optimizer.step()`` trains ``AddingModel(32)``; the trained parameters, loaded into the oracle, must predict at least
``THRESHOLD`` of 2,000 fresh sequences within 0.04. A vanilla RNN trained the same way stays near
the 8 % of predicting the mean (``tests/test_checks_a05.py``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from course_utils import grading as G
from course_utils.data import adding_accuracy, make_adding_problem

RULE = ("Graded code writes the LSTM and the clipping itself: no PyTorch recurrent layer (nn.LSTM, nn.LSTMCell, nn.GRU, "
        "nn.GRUCell, nn.RNN, nn.RNNCell) nor their kernels (torch.lstm*, torch.gru*, torch._VF, torch.ops), no "
        "torch.nn.utils.clip_grad_norm_ or anything else from torch.nn.utils.clip_grad, and not the course's reference "
        "cells in course_utils.models.rnn.")

PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
SEQUENCE_LENGTH = 20
HIDDEN_SIZE = 32
TRAIN_STEPS = 400
BATCH_SIZE = 128
LEARNING_RATE = 0.02
MAX_NORM = 1.0
INIT_SEED = 2
DATA_SEED = 2024
THRESHOLD = 0.4


def rnn_limits() -> G.Limits:
    """What the graded functions may not run (built afresh on every call)."""
    return G.Limits(
        modules=("torch.nn.modules.rnn", "torch._ops", "torch.nn.utils.clip_grad", "course_utils.models.rnn"),
        functions=("torch.lstm*", "torch.gru*", "torch.rnn_*", "torch._VF.*", "torch._thnn_fused*", "torch._foreach_*",
                   "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.get_total_norm", "torch.nn.utils.clip_grad_value_"),
        rule=RULE,
    )


NO_BUILTIN_RNN = rnn_limits()  # for readers; the tests call rnn_limits() every time


def call_graded(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the student's code under the grader's guard with this assignment's limits."""
    return G.call_student(func, *args, limits=rnn_limits(), **kwargs)


# ------------------------------------------------------------------ oracles


@G.reference  # an expected answer: graded code may not call it
def _oracle_cell(input_size: int, hidden_size: int, generator: torch.Generator, scale: float) -> nn.LSTMCell:
    """A ``nn.LSTMCell`` with random weights, checked against the course's reference cell (no patched oracle)."""
    from course_utils.models.rnn import LSTMCell as ReferenceCell

    oracle = nn.LSTMCell(input_size, hidden_size)
    with torch.no_grad():
        for name in PARAMETER_NAMES:
            getattr(oracle, name).copy_(scale * torch.randn(getattr(oracle, name).shape, generator=generator))
    reference = ReferenceCell(input_size, hidden_size)
    reference.load_state_dict(oracle.state_dict())
    x = torch.randn(3, input_size, generator=generator)
    state = (torch.randn(3, hidden_size, generator=generator), torch.randn(3, hidden_size, generator=generator))
    with torch.no_grad():
        a, b = oracle(x, state), reference(x, state)
    if not (torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)):
        raise AssertionError("torch.nn.LSTMCell no longer computes an LSTM in this notebook (was it replaced or patched?); "
                             "restart the kernel and do not change PyTorch's classes")
    return oracle


@G.reference  # an expected answer: graded code may not call it
def _oracle_layer(cell: nn.LSTMCell) -> nn.LSTM:
    """``nn.LSTM`` (one layer, batch first) with the weights of ``cell``."""
    layer = nn.LSTM(cell.input_size, cell.hidden_size, batch_first=True)
    with torch.no_grad():
        for name in PARAMETER_NAMES:
            getattr(layer, f"{name}_l0").copy_(getattr(cell, name))
    return layer


def _named(module: Any, what: str) -> dict[str, torch.Tensor]:
    G.check_true(isinstance(module, nn.Module), f"{what} should be an nn.Module (subclass nn.Module and call super().__init__())")
    return dict(module.named_parameters())


def load_cell_weights(cell: Any, source: nn.Module, what: str = "your LSTMCell") -> None:
    """Copy ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` of ``source`` into ``cell``, checking names and shapes."""
    params = _named(cell, what)
    expected = {name: tuple(getattr(source, name).shape) for name in PARAMETER_NAMES}
    G.check_true(set(params) == set(PARAMETER_NAMES),
                 f"{what} should have exactly the parameters {list(PARAMETER_NAMES)}, found {sorted(params)}")
    for name, shape in expected.items():
        G.check_true(tuple(params[name].shape) == shape,
                     f"{what}.{name} has shape {tuple(params[name].shape)}, expected {shape} (4 * hidden_size rows: "
                     "the input, forget, candidate and output gates stacked)")
    with torch.no_grad():
        for name in PARAMETER_NAMES:
            params[name].copy_(getattr(source, name))


def _pair(value: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    G.check_true(isinstance(value, (tuple, list)) and len(value) == 2,
                 f"{what} should return a pair (h, c), got {type(value).__name__}")
    return value[0], value[1]


# ------------------------------------------------------------------ part 1: the cell


def check_lstm_cell(LSTMCell: type, rng: np.random.Generator, cases: int = 3) -> None:
    """C1-C5 on fresh random sizes, weights and states."""
    from course_utils.models.rnn import LSTMCell as ReferenceCell

    G.check_not_copied(LSTMCell, ReferenceCell, "your LSTMCell")
    generator = G.torch_generator(rng)
    for case in range(cases):
        batch, d, h = int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(1, 9))
        scale = float(rng.choice([0.3, 1.0, 2.5]))
        what = f"LSTMCell({d}, {h}) on a batch of {batch} (case {case + 1}, weights ~ N(0, {scale}^2))"
        oracle = _oracle_cell(d, h, generator, scale)
        cell = call_graded(LSTMCell, d, h)
        other = call_graded(LSTMCell, d, h)  # a second cell must not share parameters with the first
        load_cell_weights(cell, oracle, f"your {what}")
        x = torch.randn(batch, d, generator=generator, requires_grad=True)
        h0 = torch.randn(batch, h, generator=generator, requires_grad=True)
        c0 = (2 * torch.randn(batch, h, generator=generator)).requires_grad_()
        saved = [t.detach().clone() for t in (x, h0, c0)]
        h1, c1 = _pair(call_graded(cell, x, (h0, c0)), what)
        G.check_shape(h1, (batch, h), f"h' of {what}")
        G.check_shape(c1, (batch, h), f"c' of {what}")
        for tensor, before, name in zip((x, h0, c0), saved, ("x", "h", "c")):
            G.check_true(torch.equal(tensor.detach(), before), f"{what} changed its input {name} in place")
        expected_h, expected_c = oracle(x, (h0, c0))
        G.check_close(c1, expected_c, f"c' (the cell state) of {what}", rtol=1e-4, atol=1e-5)
        G.check_close(h1, expected_h, f"h' (the hidden state) of {what}", rtol=1e-4, atol=1e-5)
        weights_h, weights_c = torch.randn(batch, h, generator=generator), torch.randn(batch, h, generator=generator)
        mine = G.call_student(torch.autograd.grad, (h1 * weights_h).sum() + (c1 * weights_c).sum(),
                              [x, h0, c0] + [_named(cell, what)[n] for n in PARAMETER_NAMES], allow_unused=True)
        theirs = torch.autograd.grad((expected_h * weights_h).sum() + (expected_c * weights_c).sum(),
                                     [x, h0, c0] + [getattr(oracle, n) for n in PARAMETER_NAMES])
        for name, g_mine, g_theirs in zip(["x", "h", "c", *PARAMETER_NAMES], mine, theirs):
            G.check_true(g_mine is not None, f"no gradient reaches {name} through {what}: is something detached?")
            G.check_close(g_mine, g_theirs, f"the gradient with respect to {name} through {what}", rtol=1e-4, atol=1e-5)
        zero = torch.zeros(batch, h)
        for state in (None, (zero, zero)):
            out = call_graded(cell, x.detach()) if state is None else call_graded(cell, x.detach(), state)
            G.check_close(_pair(out, what)[0], oracle(x.detach(), (zero, zero))[0],
                          f"h' of {what} from a zero state ({'no state passed' if state is None else 'zeros passed'})",
                          rtol=1e-4, atol=1e-5)
        other_params = _named(other, what)
        G.check_true(all(other_params[n].data_ptr() != _named(cell, what)[n].data_ptr() for n in other_params),
                     "two LSTMCell objects share their parameter tensors; create new nn.Parameter tensors in __init__")
    check_cell_initialisation(LSTMCell, rng)


def check_cell_initialisation(LSTMCell: type, rng: np.random.Generator) -> None:
    """C6: a new cell's four parameters are drawn uniformly from [-1/sqrt(H), 1/sqrt(H)], as PyTorch draws them.

    With H = 64 each bias has 256 entries: a uniform sample's standard deviation is then within 3 % of
    bound / sqrt(3) (one standard error), so the 25 % band below fails only for another distribution.
    """
    d, h = int(rng.integers(2, 7)), 64
    bound = 1.0 / math.sqrt(h)
    cell = call_graded(LSTMCell, d, h)
    what = f"a new LSTMCell({d}, {h})"
    for name, tensor in _named(cell, what).items():
        values = tensor.detach().double().flatten()
        G.check_true(float(values.abs().max()) <= bound * (1 + 1e-6),
                     f"{name} of {what} has an entry {float(values.abs().max()):.4g} in size, outside [-1/sqrt(H), 1/sqrt(H)] "
                     f"= [-{bound:.4g}, {bound:.4g}]")
        spread, centre = float(values.std()), float(values.mean())
        G.check_true(0.75 * bound / math.sqrt(3) <= spread <= 1.25 * bound / math.sqrt(3)
                     and abs(centre) <= 5 * bound / math.sqrt(3 * values.numel()),
                     f"{name} of {what}: its entries have mean {centre:.3g} and standard deviation {spread:.3g}; drawn "
                     f"uniformly from [-{bound:.4g}, {bound:.4g}] they would have mean about 0 and standard deviation "
                     f"{bound / math.sqrt(3):.3g} (initialise every parameter, biases included, uniformly in that range)")


# ------------------------------------------------------------------ part 2: unrolling


def _cell_of(layer: Any, what: str) -> Any:
    G.check_true(isinstance(getattr(layer, "cell", None), nn.Module),
                 f"{what} should keep its LSTMCell in self.cell (the tests load weights into it)")
    return layer.cell


def _run_layer(layer: Any, x: torch.Tensor, state, what: str):
    out = call_graded(layer, x) if state is None else call_graded(layer, x, state)
    G.check_true(isinstance(out, (tuple, list)) and len(out) == 2,
                 f"{what} should return (outputs, (h_T, c_T)), got {type(out).__name__}")
    outputs, last = out
    h_last, c_last = _pair(last, f"the final state of {what}")
    return outputs, h_last, c_last


def check_lstm_layer(LSTM: type, rng: np.random.Generator, cases: int = 3) -> None:
    """U1-U5 on fresh random sizes, weights, lengths and initial states."""
    generator = G.torch_generator(rng)
    for case in range(cases):
        batch, d, h, steps = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(1, 9))
        if case == 0:
            steps = 1
        what = f"LSTM({d}, {h}) on input of shape ({batch}, {steps}, {d}) (case {case + 1})"
        oracle_cell = _oracle_cell(d, h, generator, 0.8)
        oracle = _oracle_layer(oracle_cell)
        layer = call_graded(LSTM, d, h)
        load_cell_weights(_cell_of(layer, what), oracle_cell, f"self.cell of your {what}")
        G.check_true(set(_named(layer, what)) == {f"cell.{n}" for n in PARAMETER_NAMES},
                     f"{what} should have only its cell's four parameters, found {sorted(_named(layer, what))}")
        x = torch.randn(batch, steps, d, generator=generator, requires_grad=True)
        h0 = torch.randn(batch, h, generator=generator, requires_grad=True)
        c0 = torch.randn(batch, h, generator=generator, requires_grad=True)
        for state in (None, (h0, c0)):
            label = what + (" from the state you were given" if state is not None else " from a zero state")
            outputs, h_last, c_last = _run_layer(layer, x, state, label)
            G.check_shape(outputs, (batch, steps, h), f"outputs of {label}")
            expected, (exp_h, exp_c) = oracle(x, None if state is None else (h0[None], c0[None]))
            G.check_close(outputs, expected, f"outputs (the hidden state at every step) of {label}", rtol=1e-4, atol=1e-5)
            G.check_close(h_last, exp_h[0], f"h_T of {label}", rtol=1e-4, atol=1e-5)
            G.check_close(c_last, exp_c[0], f"c_T of {label}", rtol=1e-4, atol=1e-5)
            weights = torch.randn(batch, steps, h, generator=generator)
            weights_c = torch.randn(batch, h, generator=generator)
            params = [_named(layer, what)[f"cell.{n}"] for n in PARAMETER_NAMES]
            given = [] if state is None else [h0, c0]  # a given initial state is differentiable too
            mine = G.call_student(torch.autograd.grad, (outputs * weights).sum() + (c_last * weights_c).sum(),
                                  [x] + params + given, allow_unused=True)
            theirs = torch.autograd.grad((expected * weights).sum() + (exp_c[0] * weights_c).sum(),
                                         [x] + [getattr(oracle, f"{n}_l0") for n in PARAMETER_NAMES] + given)
            names = ["x", *PARAMETER_NAMES] + ([] if state is None else ["the initial h0", "the initial c0"])
            for name, g_mine, g_theirs in zip(names, mine, theirs):
                G.check_true(g_mine is not None, f"no gradient reaches {name} through {label}")
                G.check_close(g_mine, g_theirs, f"the gradient through time with respect to {name} ({label})",
                              rtol=1e-4, atol=1e-5)
        # another batch, another length: a fresh start
        batch2, steps2 = int(rng.integers(1, 5)), int(rng.integers(2, 9))
        x2 = torch.randn(batch2, steps2, d, generator=generator)
        label = f"a second call of the same {what.split(' on ')[0]} on new sequences of shape ({batch2}, {steps2}, {d})"
        outputs, h_last, _ = _run_layer(layer, x2, None, label)
        expected, _ = oracle(x2)
        G.check_close(outputs, expected, f"outputs of {label} (each call must start from zeros unless a state is passed)",
                      rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ part 3: clipping


def check_clip_grad_norm(clip_grad_norm: Callable, rng: np.random.Generator, cases: int = 4) -> None:
    """K1-K4 against ``torch.nn.utils.clip_grad_norm_`` on fresh random gradients."""
    reference = torch.nn.utils.clip_grad_norm_
    G.check_true(getattr(reference, "__module__", "") == "torch.nn.utils.clip_grad",
                 "torch.nn.utils.clip_grad_norm_ was replaced in this notebook; restart the kernel")
    generator = G.torch_generator(rng)
    for case in range(cases):
        dtype = torch.float64 if case % 2 else torch.float32
        n_params = int(rng.integers(2, 6))
        shapes = [tuple(int(k) for k in rng.integers(1, 5, size=int(rng.integers(0, 3)))) for _ in range(n_params)]
        scales = 10.0 ** rng.uniform(-2, 2, size=n_params)  # gradients of very different sizes
        grads = [(s * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype) for s, shape in zip(scales, shapes)]
        total = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
        max_norm = float(total * rng.uniform(0.05, 0.6)) if case < cases - 1 else float(total * rng.uniform(1.5, 3))
        mine = [torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype).requires_grad_() for shape in shapes]
        theirs = [p.detach().clone().requires_grad_() for p in mine]
        values = [p.detach().clone() for p in mine]
        for p, q, g in zip(mine, theirs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        unused = torch.zeros(2, dtype=dtype, requires_grad=True)
        mine.insert(int(rng.integers(0, len(mine) + 1)), unused)
        grad_objects = [p.grad for p in mine]
        what = (f"clip_grad_norm on {n_params} gradients of norms {', '.join(f'{float(g.double().norm()):.3g}' for g in grads)} "
                f"({dtype}) with max_norm={max_norm:.4g}")
        params_arg = (p for p in mine) if case % 2 == 0 else mine
        returned = call_graded(clip_grad_norm, params_arg, max_norm)
        expected = reference(theirs, max_norm)
        G.check_true(returned is not None, f"{what} returned None; return the total norm before clipping")
        G.check_close(torch.as_tensor(returned, dtype=torch.float64), expected.double(),
                      f"the total norm returned by {what} (the global norm before clipping)", rtol=1e-5)
        G.check_true(unused.grad is None, f"{what} gave a gradient to a parameter that had none")
        G.check_true(all(p.grad is g for p, g in zip(mine, grad_objects)),
                     f"{what} replaced a .grad tensor; scale the gradients in place (g.mul_(factor))")
        for i, (p, q, value) in enumerate(zip([p for p in mine if p is not unused], theirs, values)):
            G.check_close(p.grad, q.grad, f"gradient {i} after {what}", rtol=1e-5, atol=1e-12)
            G.check_true(torch.equal(p.detach(), value), f"{what} changed the parameter values; only gradients change")


# ------------------------------------------------------------------ part 4: model and training step


class _OracleModel(nn.Module):
    """``nn.LSTM`` and a linear head: the adding model as the tests compute it."""

    def __init__(self, cell: nn.LSTMCell, head: nn.Linear) -> None:
        super().__init__()
        self.lstm = _oracle_layer(cell)
        self.head = nn.Linear(head.in_features, 1)
        self.head.load_state_dict(head.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(x)
        return self.head(outputs[:, -1]).squeeze(1)


def _load_model(model: Any, cell: nn.LSTMCell, head: nn.Linear, what: str) -> None:
    """Put the weights of ``cell`` and ``head`` into the student's AddingModel, checking its promised layout."""
    params = _named(model, what)
    expected = {f"lstm.cell.{n}" for n in PARAMETER_NAMES} | {"head.weight", "head.bias"}
    G.check_true(set(params) == expected, f"{what} should have exactly the parameters {sorted(expected)} "
                                          f"(self.lstm = LSTM(2, hidden_size), self.head = nn.Linear(hidden_size, 1)); "
                                          f"found {sorted(params)}")
    load_cell_weights(model.lstm.cell, cell, f"model.lstm.cell of {what}")
    G.check_true(tuple(params["head.weight"].shape) == (1, cell.hidden_size), f"{what}.head should be nn.Linear({cell.hidden_size}, 1)")
    with torch.no_grad():
        params["head.weight"].copy_(head.weight)
        params["head.bias"].copy_(head.bias)


def _random_model_weights(hidden: int, generator: torch.Generator, scale: float = 0.5) -> tuple[nn.LSTMCell, nn.Linear]:
    cell = _oracle_cell(2, hidden, generator, scale)
    head = nn.Linear(hidden, 1)
    with torch.no_grad():
        head.weight.copy_(torch.randn(1, hidden, generator=generator))
        head.bias.copy_(torch.randn(1, generator=generator))
    return cell, head


def check_adding_model(AddingModel: type, rng: np.random.Generator) -> None:
    """M1: the many-to-one model against the oracle with the same weights."""
    generator = G.torch_generator(rng)
    hidden, batch, steps = int(rng.integers(2, 9)), int(rng.integers(2, 6)), int(rng.integers(3, 12))
    what = f"AddingModel({hidden})"
    model = call_graded(AddingModel, hidden)
    cell, head = _random_model_weights(hidden, generator)
    _load_model(model, cell, head, what)
    for size in (batch, 1):  # a batch of one sequence too: still shape (1,)
        x, _ = make_adding_problem(size, steps, seed=int(rng.integers(0, 2**31)))
        expected = _OracleModel(cell, head)(x)
        first = call_graded(model, x)
        G.check_shape(first, (size,), f"{what}(x) for x of shape {tuple(x.shape)} (one prediction per sequence)")
        G.check_close(first, expected, f"{what}(x): the head applied to the last hidden state", rtol=1e-4, atol=1e-5)
        G.check_close(call_graded(model, x), expected, f"a second call of {what}(x) on the same sequences", rtol=1e-4, atol=1e-5)


def check_backward_and_clip(backward_and_clip: Callable, AddingModel: type, rng: np.random.Generator) -> None:
    """T1: two SGD steps prepared by the student's ``backward_and_clip``, against the oracle, clipping then not."""
    generator = G.torch_generator(rng)
    hidden, batch, steps = int(rng.integers(3, 9)), int(rng.integers(4, 12)), int(rng.integers(4, 12))
    lr = float(rng.uniform(0.05, 0.3))
    what = f"backward_and_clip on AddingModel({hidden})"
    model = call_graded(AddingModel, hidden)
    cell, head = _random_model_weights(hidden, generator)
    _load_model(model, cell, head, what)
    oracle = _OracleModel(cell, head)
    params = _named(model, what)
    order = [f"lstm.cell.{n}" for n in PARAMETER_NAMES] + ["head.weight", "head.bias"]
    oracle_params = [getattr(oracle.lstm, f"{n}_l0") for n in PARAMETER_NAMES] + [oracle.head.weight, oracle.head.bias]
    optimizer = torch.optim.SGD([params[n] for n in order], lr=lr)
    oracle_optimizer = torch.optim.SGD(oracle_params, lr=lr)
    for p in params.values():  # stale gradients from an earlier step: they must be cleared first
        p.grad = torch.randn(p.shape, generator=generator)
    for step in range(2):
        x, y = make_adding_problem(batch, steps, seed=int(rng.integers(0, 2**31)))
        oracle_optimizer.zero_grad()
        loss = ((oracle(x) - y) ** 2).mean()
        loss.backward()
        norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in oracle_params)))
        max_norm = norm * float(rng.uniform(0.1, 0.5)) if step == 0 else norm * 2.0  # the first step clips, the second not
        torch.nn.utils.clip_grad_norm_(oracle_params, max_norm)
        label = (f"{what}, step {step + 1} (max_norm {'below' if step == 0 else 'above'} the gradient norm "
                 f"{norm:.3g}: {'clip' if step == 0 else 'do not clip'})")
        returned = call_graded(backward_and_clip, model, x, y, max_norm)
        G.check_true(isinstance(returned, float), f"{label} should return the loss as a Python float (loss.item()), "
                                                  f"got {type(returned).__name__}")
        G.check_close(returned, loss.item(), f"the loss returned by {label} (the mean squared error)", rtol=1e-4, atol=1e-6)
        for name, theirs in zip(order, oracle_params):
            G.check_true(params[name].grad is not None, f"{name}.grad is None after {label}")
            G.check_close(params[name].grad, theirs.grad, f"{name}.grad after {label}", rtol=1e-4, atol=1e-6)
        optimizer.step()
        oracle_optimizer.step()
        for name, theirs in zip(order, oracle_params):
            G.check_close(params[name], theirs, f"{name} after {label} and an SGD step", rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ part 5: the graded run


def initial_weights(hidden: int = HIDDEN_SIZE) -> tuple[nn.LSTMCell, nn.Linear]:
    """The graded run's starting point: PyTorch's initialisation from ``INIT_SEED``, forget-gate bias raised by 1."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(INIT_SEED)
        cell, head = nn.LSTMCell(2, hidden), nn.Linear(hidden, 1)
    finally:
        torch.random.set_rng_state(state)
    with torch.no_grad():
        cell.bias_ih[hidden : 2 * hidden] += 1.0  # rows of the forget gate
    return cell, head


def graded_run(backward_and_clip: Callable, AddingModel: type, rng: np.random.Generator | None = None) -> float:
    """G1: train with the student's code from the test's weights, measure with the oracle on fresh sequences."""
    rng = rng if rng is not None else G.fresh_rng("test_graded_run")
    what = f"AddingModel({HIDDEN_SIZE})"
    model = call_graded(AddingModel, HIDDEN_SIZE)
    cell, head = initial_weights()
    _load_model(model, cell, head, what)
    params = _named(model, what)
    order = [f"lstm.cell.{n}" for n in PARAMETER_NAMES] + ["head.weight", "head.bias"]
    optimizer = torch.optim.Adam([params[n] for n in order], lr=LEARNING_RATE)
    inputs, targets = make_adding_problem(TRAIN_STEPS * BATCH_SIZE, SEQUENCE_LENGTH, seed=DATA_SEED)
    for step in range(TRAIN_STEPS):
        batch = slice(step * BATCH_SIZE, (step + 1) * BATCH_SIZE)
        loss = call_graded(backward_and_clip, model, inputs[batch], targets[batch], MAX_NORM)
        G.check_true(isinstance(loss, float) and math.isfinite(loss), f"backward_and_clip returned {loss!r} at step {step + 1}")
        optimizer.step()
    trained_cell, trained_head = nn.LSTMCell(2, HIDDEN_SIZE), nn.Linear(HIDDEN_SIZE, 1)
    with torch.no_grad():
        for name in PARAMETER_NAMES:
            getattr(trained_cell, name).copy_(params[f"lstm.cell.{name}"])
        trained_head.weight.copy_(params["head.weight"])
        trained_head.bias.copy_(params["head.bias"])
    test_x, test_y = make_adding_problem(2000, SEQUENCE_LENGTH, seed=int(rng.integers(0, 2**31)))
    with torch.no_grad():
        predictions = _OracleModel(trained_cell, trained_head)(test_x)
    accuracy = adding_accuracy(predictions, test_y)
    baseline = adding_accuracy(torch.ones_like(test_y), test_y)
    print(f"held-out accuracy of the trained weights: {accuracy:.1%} of 2,000 fresh sequences within 0.04 "
          f"(predicting the mean 1.0 scores {baseline:.1%})")
    G.check_at_least(accuracy, THRESHOLD, f"the held-out accuracy after {TRAIN_STEPS} steps (share within 0.04)")
    return accuracy
