"""course_utils.checks.a05_rnn_lstm: a correct submission passes, wrong ones fail with a useful message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import grading as G
from course_utils.checks import a05_rnn_lstm as C
from course_utils.data import adding_accuracy, make_adding_problem
from course_utils.models import rnn

torch.set_num_threads(1)


class GoodCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        bound = hidden_size ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))

    def forward(self, x, state=None):
        if state is None:
            state = (x.new_zeros(len(x), self.hidden_size), x.new_zeros(len(x), self.hidden_size))
        h, c = state
        i, f, g, o = (x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class GoodLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, cell=GoodCell):
        super().__init__()
        self.cell = cell(input_size, hidden_size)

    def forward(self, x, state=None):
        outputs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            outputs.append(state[0])
        return torch.stack(outputs, 1), state


def good_clip(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    if max_norm / (float(norm) + 1e-6) < 1:
        for g in grads:
            g.mul_(max_norm / (float(norm) + 1e-6))
    return norm


class GoodModel(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.lstm = GoodLSTM(2, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1]).squeeze(1)


def good_backward_and_clip(model, inputs, targets, max_norm=1.0):
    model.zero_grad()
    loss = ((model(inputs) - targets) ** 2).mean()
    loss.backward()
    good_clip(model.parameters(), max_norm)
    return loss.item()


def rng():
    return np.random.default_rng(0)


def test_correct_parts_pass():
    C.check_lstm_cell(GoodCell, rng())
    C.check_lstm_layer(GoodLSTM, rng())
    C.check_clip_grad_norm(good_clip, rng())
    C.check_adding_model(GoodModel, rng())
    C.check_backward_and_clip(good_backward_and_clip, GoodModel, rng())


class ForgetOnHidden(GoodCell):
    def forward(self, x, state=None):
        if state is None:
            state = (x.new_zeros(len(x), self.hidden_size), x.new_zeros(len(x), self.hidden_size))
        h, c = state
        i, f, g, o = (x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh).chunk(4, 1)
        c = torch.sigmoid(f) * h + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class WrapsTorch(nn.LSTMCell):
    pass


class CallsKernel(GoodCell):
    def forward(self, x, state=None):
        return torch.lstm_cell(x, state or (x.new_zeros(len(x), self.hidden_size),) * 2,
                               self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


@pytest.mark.parametrize("cell,message", [(ForgetOnHidden, "cell state"), (WrapsTorch, "torch.nn.modules.rnn"),
                                          (CallsKernel, "torch.lstm")])
def test_wrong_cells_fail(cell, message):
    with pytest.raises(AssertionError, match=message):
        C.check_lstm_cell(cell, rng())


def test_reference_cell_is_refused():
    with pytest.raises(AssertionError, match="reference"):
        C.check_lstm_cell(rnn.LSTMCell, rng())


def test_per_parameter_clipping_fails():
    def per_parameter(parameters, max_norm):
        norms = []
        for p in parameters:
            if p.grad is not None:
                norms.append(p.grad.norm())
                if norms[-1] > max_norm:
                    p.grad.mul_(max_norm / (norms[-1] + 1e-6))
        return torch.sqrt(sum(n**2 for n in norms))

    with pytest.raises(AssertionError, match="after clip_grad_norm"):
        C.check_clip_grad_norm(per_parameter, rng())
    with pytest.raises(AssertionError, match="clip_grad"):
        C.check_clip_grad_norm(lambda ps, m: torch.nn.utils.clip_grad_norm_(list(ps), m), rng())


def test_state_carried_between_calls_fails():
    class Carries(GoodLSTM):
        def forward(self, x, state=None):
            if state is None and getattr(self, "last", None) is not None and self.last[0].shape[0] == x.shape[0]:
                state = tuple(s.detach() for s in self.last)
            out, self.last = super().forward(x, state)
            return out, self.last

    with pytest.raises(AssertionError, match="start from zeros|second call"):
        for seed in range(3):  # a second call with the same batch size comes up within a few cases
            C.check_lstm_layer(Carries, np.random.default_rng(seed), cases=4)


def test_patched_oracle_is_detected(monkeypatch):
    monkeypatch.setattr(nn.LSTMCell, "forward", lambda self, x, hx=None: (x[:, :1] * 0, x[:, :1] * 0))
    with pytest.raises(AssertionError, match="no longer computes an LSTM"):
        C.check_lstm_cell(GoodCell, rng())


def test_initial_weights_are_fixed_and_leave_the_global_generator_alone():
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    a, _ = C.initial_weights()
    b, _ = C.initial_weights()
    assert torch.equal(a.weight_ih, b.weight_ih)
    assert torch.equal(torch.rand(1), before)
    assert float(a.bias_ih.detach()[C.HIDDEN_SIZE : 2 * C.HIDDEN_SIZE].mean()) > 0.5  # forget-gate bias raised


def test_vanilla_rnn_stays_below_the_threshold_at_the_graded_budget():
    """The graded run's protocol with a vanilla RNN cell instead of the LSTM: it must not reach THRESHOLD."""
    inputs, targets = make_adding_problem(C.TRAIN_STEPS * C.BATCH_SIZE, C.SEQUENCE_LENGTH, seed=C.DATA_SEED)
    test_x, test_y = make_adding_problem(2000, C.SEQUENCE_LENGTH, seed=99)
    for seed in (C.INIT_SEED, 0):
        torch.manual_seed(seed)
        model = rnn.SequenceModel(lambda d, h: nn.RNNCell(d, h), 2, C.HIDDEN_SIZE, 1)
        optimizer = torch.optim.Adam(model.parameters(), lr=C.LEARNING_RATE)
        for step in range(C.TRAIN_STEPS):
            batch = slice(step * C.BATCH_SIZE, (step + 1) * C.BATCH_SIZE)
            loss = F.mse_loss(model(inputs[batch]).squeeze(1), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), C.MAX_NORM)
            optimizer.step()
        with torch.no_grad():
            accuracy = adding_accuracy(model(test_x).squeeze(1), test_y)
        assert accuracy < C.THRESHOLD / 2, f"a vanilla RNN reached {accuracy:.1%} at the graded budget (seed {seed})"


def test_graded_run_passes_a_correct_lstm():
    assert C.graded_run(good_backward_and_clip, GoodModel, np.random.default_rng(1)) >= C.THRESHOLD


class ZeroBiases(GoodCell):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        nn.init.zeros_(self.bias_ih)
        nn.init.zeros_(self.bias_hh)


class NormalWeights(GoodCell):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        nn.init.normal_(self.weight_hh, std=0.1)


class HalfRange(GoodCell):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        with torch.no_grad():
            self.weight_ih.mul_(0.5)


@pytest.mark.parametrize("cell", [ZeroBiases, NormalWeights, HalfRange])
def test_initialisation_other_than_uniform_in_the_range_fails(cell):
    with pytest.raises(AssertionError, match="uniformly|outside"):
        C.check_cell_initialisation(cell, rng())


def test_uniform_initialisation_passes_for_many_draws():
    for seed in range(50):
        torch.manual_seed(seed)
        C.check_cell_initialisation(GoodCell, np.random.default_rng(seed))
