"""Invertible feature-enhancement module built from dense blocks.

S2LIC runs a dense-block enhancement module forward in front of the analysis transform and
*reversed* at the end of the synthesis. We make that literal with an invertible network
(after Xie et al. 2021): a 2×2 squeeze (3 → 12 channels at half resolution), a few affine
coupling layers whose scale and shift come from dense blocks, and the unsqueeze. ``inverse``
undoes ``forward`` exactly up to floating-point rounding. The couplings start as the
identity (zero-initialised output layers). Inputs need even height and width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DenseBlock


class _Coupling(nn.Module):
    def __init__(self, channels: int, growth: int, clamp: float = 1.0) -> None:
        super().__init__()
        self.split = channels // 2
        self.clamp = clamp
        self.net = DenseBlock(self.split, 2 * (channels - self.split), growth)
        nn.init.zeros_(self.net.fuse.weight)
        nn.init.zeros_(self.net.fuse.bias)

    def _scale_shift(self, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x1).chunk(2, dim=1)
        return self.clamp * torch.tanh(s), t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, : self.split], x[:, self.split :]
        s, t = self._scale_shift(x1)
        return torch.cat([x1, x2 * torch.exp(s) + t], dim=1).flip(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y = y.flip(1)
        y1, y2 = y[:, : self.split], y[:, self.split :]
        s, t = self._scale_shift(y1)
        return torch.cat([y1, (y2 - t) * torch.exp(-s)], dim=1)


class EnhancementModule(nn.Module):
    def __init__(self, channels: int = 3, couplings: int = 2, growth: int = 16) -> None:
        super().__init__()
        self.couplings = nn.ModuleList(_Coupling(4 * channels, growth) for _ in range(couplings))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(x, 2)
        for c in self.couplings:
            x = c(x)
        return F.pixel_shuffle(x, 2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y = F.pixel_unshuffle(y, 2)
        for c in reversed(self.couplings):
            y = c.inverse(y)
        return F.pixel_shuffle(y, 2)
