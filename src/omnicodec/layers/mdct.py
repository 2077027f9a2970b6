"""An MDCT with one frame per hop: ``T`` samples (a multiple of the hop) give ``T / hop`` frames of
``hop`` real coefficients and back, critically sampled (as many coefficients as samples).

Frame ``k`` spans ``[(k - 1)·hop, (k + 1)·hop)`` (window ``2·hop``, sine window for analysis and
synthesis: Princen-Bradley, so time-domain aliasing cancels between neighbouring frames). The
analysis sees one hop of zeros before the signal; samples ``[k·hop, (k + 1)·hop)`` are rebuilt from
frames ``k`` and ``k + 1``, so the synthesis is exact everywhere but the last hop of the frames given
(chunks are synthesised with context frames on both sides, which cover it) — the same framing as
:class:`~omnicodec.layers.stft.HopSTFT`. The basis is orthonormal (``sqrt(2 / hop)``), so the
coefficients of speech are of the order of its samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class HopMDCT(nn.Module):
    def __init__(self, hop: int) -> None:
        super().__init__()
        self.hop = int(hop)
        n, k = torch.arange(2 * self.hop, dtype=torch.float64), torch.arange(self.hop, dtype=torch.float64)
        window = torch.sin(math.pi * (n + 0.5) / (2 * self.hop))
        basis = torch.cos(math.pi / self.hop * (n[None, :] + 0.5 + self.hop / 2) * (k[:, None] + 0.5))
        # not in the state dict: rebuilt from the hop, so weights files hold only learned tensors
        self.register_buffer("kernel", (basis * window * math.sqrt(2 / self.hop)).float(), persistent=False)

    @property
    def channels(self) -> int:
        return self.hop

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, 1, T] (T a multiple of the hop) -> coefficients [B, hop, T / hop]."""
        if x.shape[-1] % self.hop:
            raise ValueError(f"{x.shape[-1]} samples are not a multiple of the hop {self.hop}")
        signal = F.pad(x.reshape(-1, 1, x.shape[-1]), (self.hop, 0))
        return F.conv1d(signal, self.kernel.unsqueeze(1), stride=self.hop)[..., : x.shape[-1] // self.hop]

    forward = analyse

    def synthesise(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Coefficients [B, hop, frames] -> waveform [B, 1, frames · hop] (overlap-add)."""
        frames = coefficients.shape[-1]
        out = F.conv_transpose1d(coefficients, self.kernel.unsqueeze(1), stride=self.hop)
        return out[..., self.hop : self.hop + frames * self.hop]


class HopIMDCT(HopMDCT):
    """The inverse as a module: ``forward`` synthesises."""

    forward = HopMDCT.synthesise
