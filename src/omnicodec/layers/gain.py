"""Gain units: one model for a continuous range of rates (Cui et al., CVPR 2021).

A codec with ``L`` quality levels holds, per level, a gain vector that scales each latent
channel before quantisation and an inverse-gain vector that rescales the decoded latent
before synthesis. A larger gain quantises more finely: more rate, less distortion. A real
quality ``q`` in ``[1, L]`` interpolates exponentially between its two neighbouring levels
(linearly in the logarithm of the gains), so rate and quality vary continuously with ``q``.

Gains are stored as logarithms, which keeps them positive and makes the interpolation a
linear one.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn


class GainUnits(nn.Module):
    def __init__(self, channels: int, levels: int) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"gain units need at least 2 quality levels, got {levels}")
        self.levels = int(levels)
        self.log_gain = nn.Parameter(torch.zeros(levels, channels))
        self.log_inverse_gain = nn.Parameter(torch.zeros(levels, channels))

    @torch.no_grad()
    def set_level_scales(self, scales: list[float]) -> None:
        """Start every channel of level ``l`` at gain ``scales[l]`` and inverse gain ``1 / scales[l]``
        (e.g. ``sqrt(λ_l / λ_ref)`` when a fixed-rate model trained at ``λ_ref`` becomes variable-rate)."""
        if len(scales) != self.levels:
            raise ValueError(f"{len(scales)} scales for {self.levels} levels")
        log = torch.tensor([math.log(s) for s in scales], dtype=self.log_gain.dtype)[:, None]
        self.log_gain.copy_(log.expand_as(self.log_gain))
        self.log_inverse_gain.copy_(-log.expand_as(self.log_inverse_gain))

    @property
    def quality_range(self) -> tuple[float, float]:
        return 1.0, float(self.levels)

    def _interpolate(self, table: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        return interpolate_levels(table, quality)

    def gain(self, quality: torch.Tensor) -> torch.Tensor:
        """``[B, C]`` gain vectors for a quality per sample (``[B]`` or a scalar tensor)."""
        return self._interpolate(self.log_gain, quality)

    def inverse_gain(self, quality: torch.Tensor) -> torch.Tensor:
        return self._interpolate(self.log_inverse_gain, quality)

    def scale(self, y: torch.Tensor, quality: torch.Tensor | float, inverse: bool = False) -> torch.Tensor:
        """``y`` ([B, C, ...]) times the gains (or inverse gains) of ``quality``: a number, or a ``[B]``
        tensor with one quality per sample."""
        q = quality if isinstance(quality, torch.Tensor) else torch.tensor(float(quality))
        q = q.reshape(-1).expand(y.shape[0]) if q.numel() == 1 else q
        g = (self.inverse_gain if inverse else self.gain)(q)
        return y * g.reshape(*g.shape, *([1] * (y.dim() - 2))).to(y.dtype)


def interpolate_levels(log_table: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """``exp`` of ``log_table`` (one row per level, or one value) interpolated linearly at real qualities
    ``quality`` in ``[1, levels]``: exponential interpolation between neighbouring levels."""
    levels = log_table.shape[0]
    q = quality.to(log_table.device, torch.float32).reshape(-1).clamp(1.0, float(levels))
    low = torch.floor(q).clamp(max=levels - 1)
    t = (q - low).reshape(-1, *([1] * (log_table.dim() - 1)))
    low = low.long() - 1
    return torch.exp((1 - t) * log_table[low] + t * log_table[low + 1])


def check_quality(quality: float, levels: int) -> float:
    """A quality as a float in ``[1, levels]``; ``ValueError`` naming the range otherwise."""
    if isinstance(quality, bool) or not isinstance(quality, numbers.Real):
        raise ValueError(f"quality must be a number from 1 to {levels}, got {quality!r}")
    q = float(quality)
    if not (math.isfinite(q) and 1.0 <= q <= levels):
        raise ValueError(f"quality must be a number from 1 to {levels}, got {quality!r}")
    return q
