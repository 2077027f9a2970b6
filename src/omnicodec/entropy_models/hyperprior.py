"""Mean-scale hyperprior latent codec (Ballé et al. 2018; Minnen et al. 2018, no context).

``z = h_a(y)`` is coded with a factorized prior; ``h_s(z_hat)`` predicts a scale and a mean
for every element of ``y``, which is then coded with a Gaussian conditional. The encoder
runs ``h_s`` on the *decoded* ``z_hat`` (integers), exactly what the decoder will see.

The transforms are passed in, so codecs choose their own widths and layers and share this
single implementation of the coding logic.
"""

from __future__ import annotations

import torch
from torch import nn

from ..coding import Bitstream
from .factorized import EntropyBottleneck
from .gaussian import GaussianConditional


class MeanScaleHyperprior(nn.Module):
    """Latent codec ``y -> (streams "z", "y")``.

    ``h_s`` must output ``2 * C`` channels for a ``C``-channel ``y``: scales first, then means.
    """

    def __init__(self, h_a: nn.Module, h_s: nn.Module, z_channels: int, quantization: str = "ste") -> None:
        super().__init__()
        self.h_a = h_a
        self.h_s = h_s
        self.entropy_bottleneck = EntropyBottleneck(z_channels)
        self.gaussian_conditional = GaussianConditional(quantization=quantization)

    def _params(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        return scales, means

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales, means = self._params(z_hat)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means)
        return y_hat, {"y": y_likelihoods, "z": z_likelihoods}

    @torch.no_grad()
    def compress(self, y: torch.Tensor) -> tuple[Bitstream, torch.Tensor]:
        z = self.h_a(y)
        z_stream, z_hat = self.entropy_bottleneck.compress(z)
        scales, means = self._params(z_hat)
        y_stream, y_hat = self.gaussian_conditional.compress(y, scales, means)
        out = Bitstream()
        out.merge(z_stream, "z")
        out.merge(y_stream, "y")
        return out, y_hat

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream, device=None) -> torch.Tensor:
        z_hat = self.entropy_bottleneck.decompress(bitstream.select("z"), device)
        scales, means = self._params(z_hat)
        return self.gaussian_conditional.decompress(bitstream.select("y"), scales, means)
