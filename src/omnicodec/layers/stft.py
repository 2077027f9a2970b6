"""An STFT with one frame per hop, so ``T`` samples (a multiple of the hop) give exactly ``T / hop``
frames and back, as a latent with one frame per hop needs.

Frame ``k`` is centred on sample ``k·hop`` and spans ``[k·hop - n_fft/2, k·hop + n_fft/2)`` with
``n_fft = 2·hop`` (50 % overlap). The window is the square root of a periodic Hann window, used
for analysis and synthesis: its square sums to one at this overlap (COLA), and ``torch.istft``
divides by that sum (NOLA). The analysis sees half a frame of zeros before the signal; the
synthesis adds a silent frame after the last one, so the last hop holds only the last frame's
share: it is exact wherever the next frame is present, i.e. everywhere but the last hop of the
frames given (chunks are synthesised with context frames on both sides, which cover it).
Coefficients are real and imaginary parts as channels, ``[B, 2·(hop + 1), frames]``, scaled by
``n_fft^-1/2`` (``normalized=True``) so speech gives values of order one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HopSTFT(nn.Module):
    def __init__(self, hop: int) -> None:
        super().__init__()
        self.hop, self.n_fft = int(hop), 2 * int(hop)
        # not in the state dict: rebuilt from the hop, so weights files hold only learned tensors
        self.register_buffer("window", torch.hann_window(self.n_fft).sqrt(), persistent=False)

    @property
    def channels(self) -> int:
        return 2 * (self.n_fft // 2 + 1)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, 1, T] (T a multiple of the hop) -> coefficients [B, channels, T / hop]."""
        if x.shape[-1] % self.hop:
            raise ValueError(f"{x.shape[-1]} samples are not a multiple of the hop {self.hop}")
        signal = F.pad(x.reshape(-1, x.shape[-1]), (self.n_fft // 2, 0))
        spec = torch.stft(signal, self.n_fft, self.hop, window=self.window, center=False, normalized=True,
                          return_complex=True)
        return torch.cat([spec.real, spec.imag], dim=1)

    forward = analyse

    def synthesise(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Coefficients [B, channels, frames] -> waveform [B, 1, frames · hop]."""
        half = coefficients.shape[1] // 2
        spec = torch.complex(coefficients[:, :half], coefficients[:, half:])
        spec = F.pad(spec, (0, 1))  # the silent frame after the last one
        frames = coefficients.shape[-1]
        out = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True, normalized=True,
                          length=frames * self.hop)
        return out.unsqueeze(1)


class HopISTFT(HopSTFT):
    """The inverse as a module: ``forward`` synthesises."""

    forward = HopSTFT.synthesise
