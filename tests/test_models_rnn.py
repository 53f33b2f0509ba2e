"""course_utils.models.rnn against PyTorch's own recurrent layers, given the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.models import rnn

torch.set_num_threads(1)


def _inputs(batch=3, time=7, features=4, seed=0):
    return torch.randn(batch, time, features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("ours,theirs", [(rnn.RNNCell, nn.RNNCell), (rnn.LSTMCell, nn.LSTMCell), (rnn.GRUCell, nn.GRUCell)])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch_step_and_gradients(ours, theirs, bias):
    torch.manual_seed(1)
    oracle = theirs(5, 6, bias=bias).double()
    cell = ours(5, 6, bias=bias).double()
    cell.load_state_dict(oracle.state_dict())  # same names, same gate order
    x = torch.randn(4, 5, dtype=torch.float64)
    if ours is rnn.LSTMCell:
        state = (torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64))
        mine, expected = cell(x, state), oracle(x, state)
        assert torch.allclose(mine[0], expected[0], atol=1e-12) and torch.allclose(mine[1], expected[1], atol=1e-12)
        (mine[0].sum() + 2 * mine[1].sum()).backward()
        (expected[0].sum() + 2 * expected[1].sum()).backward()
        assert torch.allclose(cell(x)[0], oracle(x)[0], atol=1e-12)  # zero state by default
    else:
        h = torch.randn(4, 6, dtype=torch.float64)
        mine, expected = cell(x, h), oracle(x, h)
        assert torch.allclose(mine, expected, atol=1e-12)
        mine.pow(2).sum().backward()
        expected.pow(2).sum().backward()
        assert torch.allclose(cell(x), oracle(x), atol=1e-12)
    for name, parameter in cell.named_parameters():
        assert torch.allclose(parameter.grad, dict(oracle.named_parameters())[name].grad, atol=1e-10), name


def test_relu_rnn_cell_and_bad_input():
    oracle = nn.RNNCell(3, 4, nonlinearity="relu").double()
    cell = rnn.RNNCell(3, 4, nonlinearity="relu").double()
    cell.load_state_dict(oracle.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64)
    assert torch.allclose(cell(x), oracle(x))
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        cell(torch.randn(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn.RNNCell(3, 4, nonlinearity="sigmoid")


def test_leaky_cell_is_a_running_average_of_vanilla_updates():
    torch.manual_seed(0)
    leaky, vanilla = rnn.LeakyRNNCell(3, 4, alpha=0.25), rnn.RNNCell(3, 4)
    vanilla.load_state_dict(leaky.state_dict())
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    assert torch.allclose(leaky(x, h), 0.75 * h + 0.25 * vanilla(x, h))
    full = rnn.LeakyRNNCell(3, 4, alpha=1.0)
    full.load_state_dict(vanilla.state_dict())
    assert torch.allclose(full(x, h), vanilla(x, h))
    with pytest.raises(ValueError):
        rnn.LeakyRNNCell(3, 4, alpha=0.0)


def _copy_stack(model: rnn.SequenceModel, oracle: nn.Module) -> None:
    """Load nn.LSTM/GRU/RNN's per-layer weights into the SequenceModel's cells."""
    weights = dict(oracle.named_parameters())
    for layer, cell in enumerate(model.forward_cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(weights[f"{name}_l{layer}"])
            if model.bidirectional:
                getattr(model.backward_cells[layer], name).data.copy_(weights[f"{name}_l{layer}_reverse"])


@pytest.mark.parametrize("kind,layer", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unrolled_stack_matches_torch_layers(kind, layer, bidirectional):
    torch.manual_seed(2)
    oracle = layer(4, 5, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    model = rnn.SequenceModel(kind, 4, 5, output_size=3, num_layers=2, many_to_many=True, bidirectional=bidirectional).double()
    _copy_stack(model, oracle)
    x = _inputs()
    expected, _ = oracle(x)  # (B, T, directions * H)
    assert torch.allclose(model.features(x), expected, atol=1e-12)
    out = model(x)
    assert out.shape == (3, 7, 3)
    assert torch.allclose(out, model.head(expected), atol=1e-12)
    # many-to-one reads the last state of each direction
    acceptor = rnn.SequenceModel(kind, 4, 5, output_size=2, num_layers=2, bidirectional=bidirectional).double()
    _copy_stack(acceptor, oracle)
    if bidirectional:
        last = torch.cat([expected[:, -1, :5], expected[:, 0, 5:]], dim=1)
    else:
        last = expected[:, -1]
    assert torch.allclose(acceptor(x), acceptor.head(last), atol=1e-12)


def test_unroll_shares_one_cell_and_reverse_reads_backwards():
    torch.manual_seed(3)
    cell = rnn.GRUCell(4, 5).double()
    x = _inputs()
    forward_out, last = rnn.unroll(cell, x)
    assert forward_out.shape == (3, 7, 5) and torch.equal(last, forward_out[:, -1])
    backward_out, last_b = rnn.unroll(cell, x, reverse=True)
    flipped, _ = rnn.unroll(cell, x.flip(1))
    assert torch.allclose(backward_out, flipped.flip(1)) and torch.equal(last_b, backward_out[:, 0])
    with pytest.raises(ValueError, match="batch, time, features"):
        rnn.unroll(cell, x[0])


def test_dropout_only_between_layers_and_only_in_training():
    torch.manual_seed(4)
    model = rnn.SequenceModel("lstm", 4, 8, 2, num_layers=2, dropout=0.5).double()
    x = _inputs()
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    single = rnn.SequenceModel("lstm", 4, 8, 2, num_layers=1, dropout=0.5).double().train()
    assert torch.equal(single(x), single(x))  # one layer: nothing between layers to drop


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_grad_norm_matches_torch(max_norm, dtype):
    generator = torch.Generator().manual_seed(5)
    shapes = [(3, 4), (7,), (), (2, 2, 2)]
    ours = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in shapes]
    theirs = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in shapes]
    for a, b in zip(ours, theirs):
        a.grad = torch.randn(a.shape, generator=generator, dtype=dtype)
        b.grad = a.grad.clone()
    ours.append(torch.zeros(2, requires_grad=True))  # no gradient: skipped
    theirs.append(torch.zeros(2, requires_grad=True))
    norm = rnn.clip_grad_norm(ours, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert torch.allclose(norm, expected, rtol=tol)
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, rtol=tol, atol=tol)


def test_clip_grad_norm_keeps_direction_and_single_tensor():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0, 0.0])
    assert float(rnn.clip_grad_norm(p, 1.0)) == pytest.approx(5.0)
    assert torch.allclose(p.grad, torch.tensor([0.6, 0.8, 0.0]), atol=1e-6)
    assert float(rnn.clip_grad_norm([torch.zeros(2, requires_grad=True)], 1.0)) == 0.0


def test_gradient_norms_vanish_faster_in_a_vanilla_rnn():
    torch.manual_seed(6)
    x = torch.randn(16, 60, 2)
    norms = {}
    for kind in ("rnn", "lstm"):
        cell = rnn.CELLS[kind](2, 32)
        if kind == "lstm":
            cell.bias_hh.data[32:64] = 1.0  # forget-gate bias 1, the usual initialisation
        norms[kind] = rnn.hidden_gradient_norms(cell, x, lambda h: h.sum())
        assert norms[kind].shape == (60,)
    ratio = {k: float(v[0] / v[-1]) for k, v in norms.items()}
    assert ratio["rnn"] < 1e-3 * ratio["lstm"], ratio
