"""Convolutional building blocks: residual blocks and dense blocks."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """``x + conv3×3(lrelu(conv3×3(lrelu(x))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(inplace=False), nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(inplace=True), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)

    def input_radius(self, radius: int) -> int:
        """Receptive-field radius for :mod:`.tiling` (the skip is pointwise)."""
        from .tiling import input_radius

        return input_radius(self.body, radius)


class DenseBlock(nn.Module):
    """Densely connected 3×3 convolutions (each sees every earlier output), fused by a 1×1."""

    def __init__(self, in_channels: int, out_channels: int, growth: int = 16, layers: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv2d(in_channels + i * growth, growth, 3, padding=1) for i in range(layers)
        )
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.fuse = nn.Conv2d(in_channels + layers * growth, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(self.act(layer(torch.cat(features, dim=1))))
        return self.fuse(torch.cat(features, dim=1))
