"""Recurrent networks written out from their equations (chapter 6).

* :class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`: one time step each, with parameters named
  and ordered as in PyTorch (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; LSTM gates in the
  order input, forget, candidate, output; GRU gates reset, update, candidate), so the weights of
  ``nn.RNNCell``, ``nn.LSTMCell`` and ``nn.GRUCell`` load into them unchanged.
* :class:`LeakyRNNCell`: a vanilla cell whose state moves only a fraction ``alpha`` towards its update.
* :func:`unroll`: apply one cell along a sequence (the unfolded computational graph).
* :class:`SequenceModel`: a stack of cells (deep RNN), optionally bidirectional, with dropout between
  layers and a linear read-out, used many-to-one or many-to-many.
* :func:`clip_grad_norm`: gradient clipping by the global norm, as ``torch.nn.utils.clip_grad_norm_``.
* :func:`hidden_gradient_norms`: how large ``dL/dh_t`` is at every step ``t`` (vanishing gradients).

A cell's state is a tensor ``h`` (RNN, GRU) or a pair ``(h, c)`` (LSTM); :func:`hidden_of` reads ``h``.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Union

import torch
from torch import nn

from course_utils.grading import reference

State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


class _CellBase(nn.Module):
    """Parameters shared by the three cells: ``gates`` blocks of ``hidden_size`` rows each."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))  # (G*H, D)
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in [-1/sqrt(H), 1/sqrt(H)], PyTorch's initialisation for its recurrent cells."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def _affine(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input and the recurrent pre-activations, each (B, G*H)."""
        from_input = x @ self.weight_ih.T
        from_hidden = h @ self.weight_hh.T
        if self.bias_ih is not None:
            from_input = from_input + self.bias_ih
            from_hidden = from_hidden + self.bias_hh
        return from_input, from_hidden

    def initial_state(self, batch_size: int, like: torch.Tensor) -> State:
        """The zero state for ``batch_size`` sequences, on the device and dtype of ``like``."""
        return like.new_zeros(batch_size, self.hidden_size)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__} expects input of shape (batch, {self.input_size}), got {tuple(x.shape)}")


@reference
class RNNCell(_CellBase):
    """Vanilla (Elman) cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh), like ``nn.RNNCell``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        h = self.initial_state(len(x), x) if h is None else h
        from_input, from_hidden = self._affine(x, h)
        pre = from_input + from_hidden  # (B, H)
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)


@reference
class LeakyRNNCell(RNNCell):
    """Leaky unit: h' = (1 - alpha) h + alpha tanh(W_ih x + W_hh h + b); alpha = 1 is the vanilla cell.

    A small ``alpha`` makes the state a running average with time constant about ``1 / alpha`` steps.
    """

    def __init__(self, input_size: int, hidden_size: int, alpha: float = 0.1, bias: bool = True) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        super().__init__(input_size, hidden_size, bias)
        self.alpha = alpha

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self.initial_state(len(x), x) if h is None else h
        return (1 - self.alpha) * h + self.alpha * super().forward(x, h)


@reference
class LSTMCell(_CellBase):
    """Long short-term memory cell from its gate equations, like ``nn.LSTMCell``.

    i = sigma(.)  input gate         f = sigma(.)  forget gate
    g = tanh(.)   input modulation   o = sigma(.)  output gate
    c' = f * c + i * g               h' = o * tanh(c')
    where every (.) is W_i* x + b_i* + W_h* h + b_h*, the rows of each gate stacked in the order i, f, g, o.
    """

    gates = 4

    def initial_state(self, batch_size: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(x)
        h, c = self.initial_state(len(x), x) if state is None else state
        from_input, from_hidden = self._affine(x, h)
        i, f, g, o = (from_input + from_hidden).chunk(4, dim=1)  # four (B, H) blocks
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_next = f * c + i * g  # the cell state: forget some of the old, write some of the new
        h_next = o * torch.tanh(c_next)  # the hidden state: a gated, squashed view of the cell
        return h_next, c_next


@reference
class GRUCell(_CellBase):
    """Gated recurrent unit (Cho et al., 2014), like ``nn.GRUCell``.

    r = sigma(.) reset gate, z = sigma(.) update gate (rows in the order r, z, n);
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h.
    """

    gates = 3

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        h = self.initial_state(len(x), x) if h is None else h
        from_input, from_hidden = self._affine(x, h)
        r_in, z_in, n_in = from_input.chunk(3, dim=1)
        r_hid, z_hid, n_hid = from_hidden.chunk(3, dim=1)
        r = torch.sigmoid(r_in + r_hid)
        z = torch.sigmoid(z_in + z_hid)
        n = torch.tanh(n_in + r * n_hid)  # the reset gate scales the recurrent part only
        return (1 - z) * n + z * h


CELLS: dict[str, type[_CellBase]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


def hidden_of(state: State) -> torch.Tensor:
    """The hidden state ``h`` of a cell's state (``h`` itself, or the first of ``(h, c)``)."""
    return state[0] if isinstance(state, tuple) else state


@reference
def unroll(cell: nn.Module, inputs: torch.Tensor, state: State | None = None,
           reverse: bool = False) -> tuple[torch.Tensor, State]:
    """Run ``cell`` over ``inputs`` (B, T, D) from ``state`` (zeros if None): hidden states (B, T, H) and the last state.

    The same cell, with the same parameters, is applied at every step: the unfolded graph shares its weights.
    With ``reverse=True`` the sequence is read from the last step to the first (outputs stay in time order).
    """
    if inputs.dim() != 3:
        raise ValueError(f"unroll expects inputs of shape (batch, time, features), got {tuple(inputs.shape)}")
    steps = range(inputs.shape[1] - 1, -1, -1) if reverse else range(inputs.shape[1])
    hidden = [None] * inputs.shape[1]
    for t in steps:
        state = cell(inputs[:, t], state)
        hidden[t] = hidden_of(state)
    return torch.stack(hidden, dim=1), state


@reference
class SequenceModel(nn.Module):
    """Cells of one kind stacked ``num_layers`` deep, read out by a linear layer.

    ``cell`` is ``"rnn"``, ``"lstm"``, ``"gru"`` or a function ``(input_size, hidden_size) -> cell``.
    ``many_to_many=False`` (an acceptor) returns one output per sequence, from the last hidden state,
    shape (B, output_size); ``True`` (a transducer) returns one per step, (B, T, output_size).
    ``bidirectional`` adds a second chain per layer that reads the sequence backwards and concatenates
    its states (many-to-one then reads the forward chain's last state and the backward chain's first).
    ``dropout`` acts on the outputs of every layer but the last, not on the recurrent connections.
    """

    def __init__(self, cell: str | Callable[[int, int], nn.Module], input_size: int, hidden_size: int, output_size: int,
                 num_layers: int = 1, many_to_many: bool = False, bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        make = CELLS[cell] if isinstance(cell, str) else cell
        directions = 2 if bidirectional else 1
        self.forward_cells = nn.ModuleList()
        self.backward_cells = nn.ModuleList()
        for layer in range(num_layers):
            size_in = input_size if layer == 0 else directions * hidden_size
            self.forward_cells.append(make(size_in, hidden_size))
            if bidirectional:
                self.backward_cells.append(make(size_in, hidden_size))
        self.many_to_many, self.bidirectional = many_to_many, bidirectional
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(directions * hidden_size, output_size)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The last layer's hidden states, (B, T, directions * H)."""
        layer_input = inputs
        for layer, cell in enumerate(self.forward_cells):
            if layer > 0:
                layer_input = self.dropout(layer_input)
            hidden, _ = unroll(cell, layer_input)
            if self.bidirectional:
                backward, _ = unroll(self.backward_cells[layer], layer_input, reverse=True)
                hidden = torch.cat([hidden, backward], dim=2)
            layer_input = hidden
        return layer_input

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.features(inputs)  # (B, T, directions * H)
        if self.many_to_many:
            return self.head(hidden)  # (B, T, output_size)
        if self.bidirectional:
            size = hidden.shape[2] // 2
            last = torch.cat([hidden[:, -1, :size], hidden[:, 0, size:]], dim=1)  # each direction's final state
        else:
            last = hidden[:, -1]
        return self.head(last)  # (B, output_size)


@reference
def clip_grad_norm(parameters: Iterable[torch.Tensor] | torch.Tensor, max_norm: float, eps: float = 1e-6) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``; return the norm before clipping.

    The global norm is sqrt(sum over parameters of ||g||^2). Every gradient is multiplied by the same
    factor max_norm / (norm + eps), and only when that factor is below 1, as ``clip_grad_norm_`` does:
    the direction of the whole update is kept, only its length shrinks. Parameters without a
    gradient are skipped.
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)).to(grads[0].dtype)
    scale = max_norm / (total_norm + eps)
    if scale < 1:
        for g in grads:
            g.mul_(scale.to(g.dtype))
    return total_norm


def hidden_gradient_norms(cell: nn.Module, inputs: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """||dL/dh_t|| for every step t (mean over the batch), where L = loss_fn(h_T) depends on the last state only.

    Shows how much of the loss's gradient reaches each earlier step through the recurrence:
    it shrinks geometrically in a vanilla RNN (vanishing gradients) and much less through an LSTM's cell.
    """
    state = None
    hidden = []
    for t in range(inputs.shape[1]):
        state = cell(inputs[:, t], state)
        h = hidden_of(state)
        h.retain_grad()
        hidden.append(h)
    cell.zero_grad(set_to_none=True)
    loss_fn(hidden[-1]).backward()
    return torch.stack([h.grad.norm(dim=1).mean() for h in hidden]).detach()
