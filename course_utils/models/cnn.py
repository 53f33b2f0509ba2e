"""Convolutional networks: the pieces of chapter 4 and the reference MNIST model.

* :func:`conv_output_size`: floor((n + 2p - d(f - 1) - 1) / s) + 1, the formula PyTorch uses.
* :func:`transposed_output_size`: (n - 1)s - 2p + d(f - 1) + output_padding + 1, its inverse for transposed convolutions.
* :func:`conv2d_by_hand`: the convolution (really a cross-correlation) as explicit sums.
* :class:`LocallyConnected2d`: a "tiled" convolution without weight sharing.
* :func:`batch_norm2d`: batch normalisation written out, in training and evaluation mode.
* :class:`VGGBlock`, :class:`ResidualBlock`, :class:`InceptionBlock`: small versions of the famous designs.
* :class:`MNISTNet`: the reference CNN for MNIST (chapter 4 reports the test accuracy it reaches within its budget).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.grading import reference


@reference
def conv_output_size(n: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """Output length of a convolution over length ``n`` with kernel ``f``, padding ``p``, stride ``s``, dilation ``d``.

    A dilated kernel spans d(f - 1) + 1 inputs; the first window starts at 0 and
    the last must fit inside the padded input of length n + 2p.
    """
    span = d * (f - 1) + 1
    if n + 2 * p < span:
        raise ValueError(f"kernel span {span} is larger than the padded input {n + 2 * p}")
    return (n + 2 * p - span) // s + 1


@reference
def transposed_output_size(n: int, f: int, p: int = 0, s: int = 1, d: int = 1, output_padding: int = 0) -> int:
    """Output length of a transposed convolution (``nn.ConvTranspose2d``) over length ``n``.

    It reverses :func:`conv_output_size`: ``n`` inputs placed ``s`` apart span
    (n - 1)s + 1 positions, the dilated kernel adds d(f - 1), the padding removes
    p at each end, and ``output_padding`` (less than max(s, d)) adds back the
    rows that the floor of the convolution's formula may have dropped.
    """
    if not 0 <= output_padding < max(s, d):
        raise ValueError(f"output_padding must be in [0, max(stride, dilation)) = [0, {max(s, d)}), got {output_padding}")
    size = (n - 1) * s - 2 * p + d * (f - 1) + output_padding + 1
    if size < 1:
        raise ValueError(f"padding {p} removes the whole output (size {size})")
    return size


@reference
def conv2d_by_hand(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1
) -> torch.Tensor:
    """Cross-correlation as deep learning defines "convolution", with explicit loops over the output.

    x: (N, C_in, H, W), weight: (C_out, C_in, kH, kW) -> (N, C_out, H_out, W_out).
    Slow on purpose: every output value is one dot product between a kernel and a window.
    """
    n, c_in, h, w = x.shape
    c_out, c_in_w, kh, kw = weight.shape
    if c_in != c_in_w:
        raise ValueError(f"input has {c_in} channels but the kernel expects {c_in_w}")
    x = F.pad(x, (padding, padding, padding, padding))
    h_out = conv_output_size(h, kh, padding, stride, dilation)
    w_out = conv_output_size(w, kw, padding, stride, dilation)
    out = torch.zeros(n, c_out, h_out, w_out, dtype=x.dtype, device=x.device)
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * stride, j * stride
            window = x[:, :, top : top + dilation * (kh - 1) + 1 : dilation, left : left + dilation * (kw - 1) + 1 : dilation]
            # window: (N, C_in, kH, kW); sum over channels and kernel positions for every output channel
            out[:, :, i, j] = torch.einsum("nchw,ochw->no", window, weight)
    if bias is not None:
        out += bias.view(1, -1, 1, 1)
    return out


@reference
def batch_norm2d(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalisation of x (N, C, H, W), one mean and variance per channel, as ``nn.BatchNorm2d`` computes it.

    Training: normalise with the batch's mean and (biased) variance over N, H, W and update the running
    estimates in place, running <- (1 - momentum) running + momentum * batch (the variance unbiased,
    times n / (n - 1)). Evaluation: normalise with the running estimates, so each example is processed
    on its own. Then scale by ``gamma`` and shift by ``beta`` (C,).
    """
    if x.dim() != 4:
        raise ValueError(f"batch_norm2d expects (N, C, H, W), got shape {tuple(x.shape)}")
    if training:
        mean = x.mean(dim=(0, 2, 3))  # (C,)
        var = x.var(dim=(0, 2, 3), unbiased=False)  # (C,): the batch's own spread normalises it
        n = x.numel() // x.shape[1]  # values per channel
        if n < 2:
            raise ValueError("batch_norm2d in training mode needs more than one value per channel")
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + eps)  # (N, C, H, W), mean 0, var 1
    return gamma.view(1, -1, 1, 1) * x_hat + beta.view(1, -1, 1, 1)


class LocallyConnected2d(nn.Module):
    """Like a convolution, but every output position has its own kernel (no parameter sharing).

    Goodfellow et al. call this an unshared convolution; a *tiled* convolution
    shares kernels between positions ``tile`` apart, which ``tile`` below implements
    (``tile=None`` means no sharing at all).
    """

    def __init__(self, in_channels: int, out_channels: int, in_size: int, kernel_size: int, stride: int = 1,
                 tile: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.out_size = (in_size - kernel_size) // stride + 1  # windows that fit without padding
        n_kernels = self.out_size if tile is None else tile
        self.tile = n_kernels
        fan_in = in_channels * kernel_size * kernel_size
        # one kernel per (row tile, column tile): (tile, tile, C_out, C_in * k * k)
        self.weight = nn.Parameter(torch.randn(n_kernels, n_kernels, out_channels, fan_in) / fan_in**0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels, self.out_size, self.out_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = F.unfold(x, self.kernel_size, stride=self.stride)  # (N, C_in*k*k, L) with L = out_size**2
        n = x.shape[0]
        patches = patches.view(n, -1, self.out_size, self.out_size)  # (N, C_in*k*k, H_out, W_out)
        rows = torch.arange(self.out_size, device=x.device) % self.tile
        weight = self.weight[rows][:, rows]  # (H_out, W_out, C_out, C_in*k*k): kernel for each position
        out = torch.einsum("nfhw,hwof->nohw", patches, weight)
        return out + self.bias


class VGGBlock(nn.Module):
    """VGG's pattern: a few 3x3 convolutions with ReLU, then 2x2 max pooling halves the size."""

    def __init__(self, in_channels: int, out_channels: int, n_convs: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(n_convs):
            layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ResidualBlock(nn.Module):
    """ResNet's basic block: out = ReLU(F(x) + shortcut(x)), F = conv-BN-ReLU-conv-BN.

    With ``skip=False`` it is the same two layers without the shortcut, out = ReLU(F(x)):
    the "plain" block that residual networks are compared with.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, skip: bool = True) -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if skip and (stride != 1 or in_channels != out_channels):  # match shapes with a 1x1 convolution
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(residual + self.shortcut(x)) if self.skip else F.relu(residual)


class InceptionBlock(nn.Module):
    """GoogLeNet's idea: 1x1, 3x3, 5x5 and pooling branches side by side, concatenated on channels.

    The 1x1 convolutions before the 3x3 and 5x5 branches shrink the channel
    count first, which is what keeps the block cheap.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, c3_reduce, 1), nn.ReLU(), nn.Conv2d(c3_reduce, c3, 3, padding=1), nn.ReLU())
        self.branch5 = nn.Sequential(nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(), nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.ReLU())
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)]
        return torch.cat(branches, dim=1)  # (N, c1 + c3 + c5 + pool_proj, H, W)


class MNISTNet(nn.Module):
    """The reference MNIST classifier: two conv blocks with batch norm, then a small classifier.

    (N, 1, 28, 28) -> conv block -> (N, 32, 14, 14) -> conv block -> (N, 64, 7, 7) -> (N, 10) logits.
    """

    def __init__(self, width: int = 32, dropout: float = 0.25) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(1, width), block(width, 2 * width))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * 7 * 7, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
