"""Convolutions for 1-D (time) and 2-D (image) latents that change the resolution by exact factors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}


def _layer(table: dict[int, type], dims: int) -> type:
    if dims not in table:
        raise ValueError(f"dims must be 1 or 2, got {dims}")
    return table[dims]


def conv_nd(dims: int, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1) -> nn.Module:
    """Same-padded convolution over 1 or 2 spatial dimensions; divides the resolution by ``stride`` exactly."""
    return _layer(_CONV, dims)(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv_nd(dims: int, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Module:
    """Transposed convolution over 1 or 2 spatial dimensions; multiplies the resolution by ``stride`` exactly."""
    return _layer(_DECONV, dims)(
        in_channels, out_channels, kernel_size, stride=stride, output_padding=stride - 1, padding=kernel_size // 2
    )


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """2-D :func:`conv_nd`, by default 5×5 with stride 2."""
    return conv_nd(2, in_channels, out_channels, kernel_size, stride)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """2-D :func:`deconv_nd`, by default 5×5 with stride 2."""
    return deconv_nd(2, in_channels, out_channels, kernel_size, stride)


def resampling_conv_nd(dims: int, in_channels: int, out_channels: int, stride: int, transposed: bool = False) -> nn.Module:
    """Convolution dividing (``transposed``: multiplying) the resolution by ``stride`` with a kernel
    of ``2·stride`` (even strides) or ``stride`` (odd), and no output padding."""
    kernel, padding = (2 * stride, stride // 2) if stride % 2 == 0 else (stride, 0)
    cls = _layer(_DECONV if transposed else _CONV, dims)
    return cls(in_channels, out_channels, kernel, stride=stride, padding=padding)


class SubPixelConv(nn.Module):
    """2× upsampling: a 3×3 convolution to ``4·out_channels`` channels, then a pixel shuffle."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)

    def input_radius(self, radius: int) -> int:
        """Receptive-field radius for :mod:`.tiling`: the shuffle halves it, then the 3×3 conv."""
        return -(-radius // 2) + 1


def conv_stack(dims: int, channels: list[int], kernel_size: int = 1) -> nn.Sequential:
    """Convolutions through ``channels[0] -> ... -> channels[-1]`` with leaky ReLUs between."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
        if i:
            layers.append(nn.LeakyReLU(inplace=True))
        layers.append(conv_nd(dims, cin, cout, kernel_size))
    return nn.Sequential(*layers)
