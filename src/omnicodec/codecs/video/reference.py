"""The exact reference path of motion-compensated P-frames.

A P-frame's entropy model reads a prediction of its latent: the previous decoded frame, moved block
by block (:mod:`.motion`), analysed by the frame codec's ``g_a`` and scaled by the quality's gains.
Encoder and decoder must derive the same prediction to the last bit, so every step runs in fixed
point (:mod:`omnicodec.entropy_models.exact`, GDN included):

- the decoded frame is ``g_s`` of the unscaled latent, evaluated exactly: the latent (integers plus
  exact means, on the ``2**-ACT_BITS`` grid) times the inverse gains in ``WEIGHT_BITS`` fixed point,
  floored to that grid; the frame is clamped to [0, 1] and is also the frame the decoder outputs;
- the moved frame is a copy of its pixels; its latent is ``g_a`` evaluated exactly, times the gains
  in fixed point, floored to the grid.

Gains for a real quality are ``exp`` of the interpolated logarithms, computed in Python's ``decimal``
arithmetic (the same on every machine) and rounded to ``WEIGHT_BITS`` fractional bits.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import torch

from ...entropy_models.exact import ACT_BITS, WEIGHT_BITS, ExactNetwork
from ...layers import GainUnits
from .motion import compensate


def fixed_gains(log_table: torch.Tensor, quality: float) -> torch.Tensor:
    """``round(2**WEIGHT_BITS * exp(interpolated log gain))`` per channel (float64 integers), for a
    quality in ``[1, levels]`` (exponential interpolation between the neighbouring levels)."""
    levels = log_table.shape[0]
    q = Decimal(float(quality))
    low = min(int(q), levels - 1)
    t = q - low
    rows = log_table.detach().double().cpu()
    out = []
    with localcontext() as ctx:
        ctx.prec = 50
        for a, b in zip(rows[low - 1].tolist(), rows[low].tolist()):
            value = ((1 - t) * Decimal(a) + t * Decimal(b)).exp() * 2**WEIGHT_BITS
            out.append(int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)))
    return torch.tensor(out, dtype=torch.float64)


def _times(h: torch.Tensor, gains: torch.Tensor | None) -> torch.Tensor:
    """``floor(h * gains / 2**WEIGHT_BITS)`` per channel, ``h`` in units ``2**-ACT_BITS`` (float64
    integers well below ``2**30``: the product stays an exact integer)."""
    if gains is None:
        return h
    return torch.floor(h * gains.to(h.device).view(1, -1, 1, 1) * 2.0**-WEIGHT_BITS)


class MotionReference:
    """Exact decoded frames and motion-compensated latent predictions for one codec and quality."""

    def __init__(self, g_a: torch.nn.Module, g_s: torch.nn.Module, gains: GainUnits | None, quality: float | None,
                 block: int) -> None:
        self.g_a, self.g_s, self.block = ExactNetwork(g_a), ExactNetwork(g_s), int(block)
        self.gain = self.inverse_gain = None
        if gains is not None:
            self.gain = fixed_gains(gains.log_gain, quality)
            self.inverse_gain = fixed_gains(gains.log_inverse_gain, quality)

    def frame(self, y_hat: torch.Tensor) -> torch.Tensor:
        """The decoded frame ([1, 3, H, W] float64 in [0, 1], padded size) of a decoded latent."""
        h = torch.round(y_hat.to(torch.float64) * 2.0**ACT_BITS)  # exact: y_hat lies on this grid
        return self.g_s(_times(h, self.inverse_gain) * 2.0**-ACT_BITS).clamp_(0.0, 1.0)

    def latent(self, frame: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """The scaled latent of ``frame`` moved by ``vectors``: a P-frame's prediction (float64, on the
        ``2**-ACT_BITS`` grid)."""
        y = self.g_a(compensate(frame, vectors.to(frame.device), self.block))
        return _times(torch.round(y * 2.0**ACT_BITS), self.gain) * 2.0**-ACT_BITS
