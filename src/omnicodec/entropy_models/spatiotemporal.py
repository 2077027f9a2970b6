"""Spatiotemporal entropy model (Sun et al. 2021, STEM) for latent video coding.

``y_t`` is coded conditioned on the previous decoded latent ``y_hat_{t-1}``: a temporal prior
network (three 5×5 convolutions, or ``prior_kernel``×``prior_kernel``) turns it into features that join the hyperprior's side
features, ``h_a`` sees ``[y_t, y_hat_{t-1}]``, and a spatial checkerboard context works
inside the frame (the paper used a serial autoregressive context; the checkerboard decodes
in two parallel passes instead). Intra frames pass no reference, which resets the
temporal state to zeros.

Our choice: the reference itself joins the temporal features (``[y_hat_{t-1},
prior(y_hat_{t-1})]``), so the 1×1 entropy-parameter network can follow the previous frame
from the first training steps; with the three convolutions alone, a small model trained
for a few hundred steps had not learnt to use the reference at all.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import conv_nd
from .checkerboard import CheckerboardLatentCodec
from .exact import ExactNetwork
from .hyperprior import HyperpriorLatentCodec, TemporalPrior, hyper_transforms


class ConvTemporalPrior(TemporalPrior):
    """``y_hat_{t-1} -> [y_hat_{t-1}, three k×k convolutions of it]`` (``channels + out_channels``)."""

    def __init__(self, channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        k = kernel_size
        self.net = nn.Sequential(
            conv_nd(2, channels, channels, k), nn.LeakyReLU(inplace=True),
            conv_nd(2, channels, channels, k), nn.LeakyReLU(inplace=True),
            conv_nd(2, channels, out_channels, k),
        )

    def forward(self, reference: torch.Tensor) -> torch.Tensor:
        return torch.cat([reference, self.net(reference)], dim=1)

    def supports_exact(self) -> bool:
        return ExactNetwork.supports(self.net)

    def exact(self, reference: torch.Tensor) -> torch.Tensor:
        """The same features from :class:`~.exact.ExactNetwork` (float64); the reference is a decoded latent."""
        return torch.cat([reference.double(), ExactNetwork(self.net)(reference)], dim=1)


class SpatiotemporalLatentCodec(HyperpriorLatentCodec):
    """STEM: ``forward(y, reference)``, ``compress(y, reference)``, ``decompress(bits, reference)``."""

    def __init__(self, y_channels: int, z_channels: int, prior_kernel: int = 5, **kwargs) -> None:
        M, N = y_channels, z_channels
        h_a, h_s = hyper_transforms(M, N, 2 * M, in_channels=2 * M)  # h_a sees [y_t, y_hat_{t-1}]
        super().__init__(
            h_a, h_s, N, CheckerboardLatentCodec(M, side_channels=5 * M),
            temporal_prior=ConvTemporalPrior(M, 2 * M, prior_kernel), **kwargs,
        )
