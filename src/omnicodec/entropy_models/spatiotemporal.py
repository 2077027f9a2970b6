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

With ``residual=True`` the checkerboard's networks *correct* ``h_s``'s scales and means (as the
image model's context does, :class:`~.checkerboard.CheckerboardLatentCodec` with ``residual``), the
temporal features joining their input. :meth:`SpatiotemporalLatentCodec.start_as` then copies an
image model's latent codec (hyperprior + residual checkerboard) into it with the temporal inputs at
zero weight: a P-frame starts coded exactly as that intra codec codes it, and training only has to
learn what the previous frame adds.
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

    def __init__(
        self, y_channels: int, z_channels: int, prior_kernel: int = 5, residual: bool = False, **kwargs
    ) -> None:
        M, N = y_channels, z_channels
        h_a, h_s = hyper_transforms(M, N, 2 * M, in_channels=2 * M)  # h_a sees [y_t, y_hat_{t-1}]
        # side features: h_s's 2M, then the reference (M) and its prior features (2M)
        y_codec = (CheckerboardLatentCodec(M, 5 * M, hidden=2 * M, residual=True) if residual
                   else CheckerboardLatentCodec(M, side_channels=5 * M))
        super().__init__(h_a, h_s, N, y_codec, temporal_prior=ConvTemporalPrior(M, 2 * M, prior_kernel), **kwargs)
        self.residual = bool(residual)

    @torch.no_grad()
    def copy_hyperprior(self, intra: HyperpriorLatentCodec) -> None:
        """``intra``'s ``h_a`` (the reference's half of its input at zero weight), ``h_s`` and factorized
        prior: ``z`` is then coded as ``intra`` codes it, whatever the reference."""
        M = self.y_codec.channels
        self.h_a[0].weight.zero_()[:, :M] = intra.h_a[0].weight
        for name, value in intra.h_a.state_dict().items():
            if name != "0.weight":
                self.h_a.state_dict()[name].copy_(value)
        self.h_s.load_state_dict(intra.h_s.state_dict())
        self.entropy_bottleneck.load_state_dict(intra.entropy_bottleneck.state_dict())

    @torch.no_grad()
    def start_as(self, intra: HyperpriorLatentCodec) -> None:
        """Copy ``intra`` (a hyperprior with a residual checkerboard of the same widths, e.g. an image
        model's latent codec) into this codec, the reference's inputs at zero weight, so that every
        latent is coded exactly as ``intra`` codes it whatever the reference (needs ``residual``)."""
        cb, own = intra.y_codec, self.y_codec
        M = own.channels
        fits = (self.residual and isinstance(cb, CheckerboardLatentCodec) and cb.residual and cb.channels == M
                and cb.anchor_parameters is None
                and [p.shape for p in cb.entropy_parameters.parameters()][1:]
                == [p.shape for p in own.entropy_parameters.parameters()][1:])
        if not fits:
            raise ValueError("start_as needs a residual spatiotemporal codec and an intra codec with a residual "
                             "checkerboard of the same widths")
        self.copy_hyperprior(intra)
        own.context.load_state_dict(cb.context.state_dict())
        own.entropy_parameters.load_state_dict(
            {k: v for k, v in cb.entropy_parameters.state_dict().items() if k != "0.weight"}, strict=False
        )
        first, source = own.entropy_parameters[0].weight, cb.entropy_parameters[0].weight
        first.zero_()[:, : 2 * M] = source[:, : 2 * M]  # h_s's scales and means
        first[:, 5 * M :] = source[:, 2 * M :]  # the checkerboard context; the temporal 3M stay at zero
