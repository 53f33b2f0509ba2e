"""CNN pieces against PyTorch's own layers."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models import cnn


def test_output_size_formula_matches_pytorch_over_a_grid():
    checked = 0
    for n, f, p, s, d in itertools.product([5, 7, 28, 32], [1, 2, 3, 5], [0, 1, 2], [1, 2, 3], [1, 2]):
        if n + 2 * p < d * (f - 1) + 1:
            with pytest.raises(ValueError, match="larger than the padded input"):
                cnn.conv_output_size(n, f, p, s, d)
            continue
        out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), padding=p, stride=s, dilation=d)
        assert cnn.conv_output_size(n, f, p, s, d) == out.shape[-1], (n, f, p, s, d)
        checked += 1
    assert checked > 250


def test_output_size_is_not_the_notes_formula():
    # (n + 2p - f + 1) / s from the notes gives 13.5 here; PyTorch gives 14
    assert cnn.conv_output_size(28, 2, 0, 2) == 14


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 2)])
def test_conv_by_hand_matches_conv2d(stride, padding, dilation):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 11, 9, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 2, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    ours = cnn.conv2d_by_hand(x, w, b, stride, padding, dilation)
    torch.testing.assert_close(ours, F.conv2d(x, w, b, stride, padding, dilation))


def test_conv_by_hand_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="channels"):
        cnn.conv2d_by_hand(torch.zeros(1, 2, 5, 5), torch.zeros(1, 3, 3, 3))


def test_locally_connected_with_one_tile_is_a_convolution():
    torch.manual_seed(0)
    layer = cnn.LocallyConnected2d(2, 3, in_size=8, kernel_size=3, tile=1)
    x = torch.randn(4, 2, 8, 8)
    kernel = layer.weight[0, 0].view(3, 2, 3, 3)  # the single shared kernel
    expected = F.conv2d(x, kernel) + layer.bias
    torch.testing.assert_close(layer(x), expected)


def test_unshared_layer_has_a_kernel_per_position():
    layer = cnn.LocallyConnected2d(1, 4, in_size=10, kernel_size=3)
    conv = nn.Conv2d(1, 4, 3, bias=False)
    assert layer(torch.randn(2, 1, 10, 10)).shape == (2, 4, 8, 8)
    assert layer.weight.numel() == 8 * 8 * conv.weight.numel()
    # positions differ: the same patch at two places gives different outputs
    x = torch.zeros(1, 1, 10, 10)
    x[0, 0, :3, :3] = 1
    x[0, 0, 5:8, 5:8] = 1
    out = layer(x) - layer.bias
    assert not torch.allclose(out[0, :, 0, 0], out[0, :, 5, 5])


def test_blocks_shapes_and_gradient_path():
    x = torch.randn(2, 8, 16, 16, requires_grad=True)
    assert cnn.VGGBlock(8, 16)(x).shape == (2, 16, 8, 8)
    assert cnn.ResidualBlock(8, 16, stride=2)(x).shape == (2, 16, 8, 8)
    assert cnn.InceptionBlock(8, 4, 4, 8, 2, 4, 4)(x).shape == (2, 20, 16, 16)
    block = cnn.ResidualBlock(8, 8)
    nn.init.zeros_(block.bn2.weight)  # residual branch switched off: the block passes ReLU(x) through
    torch.testing.assert_close(block(x), F.relu(x))


def test_mnist_net_shapes_and_parameter_count():
    model = cnn.MNISTNet()
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert cnn.count_parameters(model) == sum(p.numel() for p in model.parameters())
    assert cnn.count_parameters(nn.Linear(10, 5)) == 55


def test_transposed_output_size_matches_conv_transpose2d_over_a_grid():
    checked = 0
    for n, f, p, s, d in itertools.product(range(1, 7), range(1, 5), range(0, 3), range(1, 4), range(1, 3)):
        for output_padding in range(max(s, d)):
            size = (n - 1) * s - 2 * p + d * (f - 1) + output_padding + 1
            if size < 1:
                with pytest.raises(ValueError, match="removes the whole output"):
                    cnn.transposed_output_size(n, f, p, s, d, output_padding)
                continue
            out = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), stride=s, padding=p,
                                     output_padding=output_padding, dilation=d)
            assert cnn.transposed_output_size(n, f, p, s, d, output_padding) == out.shape[-1], (n, f, p, s, d, output_padding)
            checked += 1
    assert checked > 800
    with pytest.raises(ValueError, match="output_padding"):
        cnn.transposed_output_size(7, 3, 1, 2, 1, output_padding=2)


def test_strided_convolution_then_transposed_restores_the_size():
    for n in range(5, 40):
        for f, p, s in [(3, 1, 2), (4, 1, 2), (5, 2, 3)]:
            small = cnn.conv_output_size(n, f, p, s)
            restored = {cnn.transposed_output_size(small, f, p, s, output_padding=o) for o in range(s)}
            assert n in restored, (n, f, p, s)


def test_ceiling_of_the_fraction_formula_agrees_floor_and_round_do_not():
    import math

    floor_wrong = round_wrong = 0
    for n, f, p, s in itertools.product(range(1, 40), range(1, 8), range(0, 4), range(1, 6)):
        if n + 2 * p < f:
            continue
        correct = cnn.conv_output_size(n, f, p, s)
        assert math.ceil((n + 2 * p - f + 1) / s) == correct  # TensorFlow's "valid" formula, exact for integers
        floor_wrong += math.floor((n + 2 * p - f + 1) / s) != correct
        round_wrong += round((n + 2 * p - f + 1) / s) != correct
        # the raw quotient is the right integer exactly when s divides n + 2p - f + 1
        assert ((n + 2 * p - f + 1) / s == correct) == ((n + 2 * p - f + 1) % s == 0)
    assert floor_wrong > 0 and round_wrong > 0


def test_batch_norm2d_matches_nn_batchnorm2d_in_train_and_eval_mode():
    gen = torch.Generator().manual_seed(0)
    layer = nn.BatchNorm2d(3, momentum=0.2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.rand(3, generator=gen, dtype=torch.float64) + 0.5)
        layer.bias.copy_(torch.randn(3, generator=gen, dtype=torch.float64))
    gamma = layer.weight.detach().clone().requires_grad_(True)
    beta = layer.bias.detach().clone().requires_grad_(True)
    running_mean, running_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    layer.train()
    for _ in range(3):  # three training batches: outputs, gradients and running statistics agree
        x = (torch.randn(4, 3, 5, 6, generator=gen, dtype=torch.float64) * 3 + 2).requires_grad_(True)
        x_ours = x.detach().clone().requires_grad_(True)
        expected = layer(x)
        ours = cnn.batch_norm2d(x_ours, gamma, beta, running_mean, running_var, training=True, momentum=0.2)
        torch.testing.assert_close(ours, expected)
        upstream = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
        expected.backward(upstream)
        ours.backward(upstream)
        torch.testing.assert_close(x_ours.grad, x.grad)
        torch.testing.assert_close(running_mean, layer.running_mean)
        torch.testing.assert_close(running_var, layer.running_var)
    torch.testing.assert_close(gamma.grad, layer.weight.grad)
    torch.testing.assert_close(beta.grad, layer.bias.grad)
    layer.eval()
    x = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(cnn.batch_norm2d(x, gamma, beta, running_mean, running_var, training=False), layer(x))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        cnn.batch_norm2d(torch.zeros(3, 4), gamma, beta, running_mean, running_var)


def test_residual_block_without_skip_is_the_plain_stack():
    torch.manual_seed(0)
    block = cnn.ResidualBlock(4, 4, skip=False).eval()
    x = torch.randn(2, 4, 6, 6)
    plain = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))
    torch.testing.assert_close(block(x), plain)
    # the plain block has no shortcut, so no shortcut parameters either
    assert cnn.count_parameters(cnn.ResidualBlock(4, 8, stride=2)) - cnn.count_parameters(cnn.ResidualBlock(4, 8, stride=2, skip=False)) == 4 * 8 + 2 * 8
    block.skip = True
    residual_branch = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(block(x), F.relu(residual_branch + x))
