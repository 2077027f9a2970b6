"""Convolutions for 1-D (time) and 2-D (image) latents."""

from __future__ import annotations

from torch import nn


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """2-D convolution that divides the resolution by ``stride`` exactly."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """2-D transposed convolution that multiplies the resolution by ``stride`` exactly."""
    return nn.ConvTranspose2d(
        in_channels, out_channels, kernel_size, stride=stride, output_padding=stride - 1, padding=kernel_size // 2
    )


def conv_nd(dims: int, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1) -> nn.Module:
    """Same-padded convolution over 1 or 2 spatial dimensions."""
    cls = {1: nn.Conv1d, 2: nn.Conv2d}.get(dims)
    if cls is None:
        raise ValueError(f"dims must be 1 or 2, got {dims}")
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv_nd(dims: int, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Module:
    cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}.get(dims)
    if cls is None:
        raise ValueError(f"dims must be 1 or 2, got {dims}")
    return cls(in_channels, out_channels, kernel_size, stride=stride, output_padding=stride - 1, padding=kernel_size // 2)


def conv_stack(dims: int, channels: list[int], kernel_size: int = 1) -> nn.Sequential:
    """Convolutions through ``channels[0] -> ... -> channels[-1]`` with leaky ReLUs between."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
        if i:
            layers.append(nn.LeakyReLU(inplace=True))
        layers.append(conv_nd(dims, cin, cout, kernel_size))
    return nn.Sequential(*layers)
