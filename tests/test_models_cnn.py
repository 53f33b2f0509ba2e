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
