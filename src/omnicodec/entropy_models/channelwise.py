"""Channel-wise context with latent residual prediction (Minnen & Singh 2020).

``y`` is split along channels into slices (equal, e.g. 10×32, or uneven ELIC-style groups
such as 16, 16, 32, 64, M−128). Slice ``i`` is coded conditioned on the side features and
on every decoded slice before it: a small convolutional *channel-context* network maps
``[side, y_hat_<i]`` to the slice's side features, and an inner conditional codec turns
those into means and scales, either in one pass (mean-scale) or in two passes with a
checkerboard inside the slice (as ELIC and S2LIC do).

Latent residual prediction (LRP) then adds ``0.5·tanh(lrp_i([side, y_hat_<i, y_hat_i]))``
to the decoded slice, predicting part of the quantisation error from what the decoder
already has. Later slices see the corrected values. ``LatentOutput.means`` holds the
rounding centres, before LRP.

With ``exact=True`` (set by the enclosing hyperprior when coding and evaluating, if every
network here qualifies) the channel-context, inner and LRP networks run as
:class:`~.exact.ExactNetwork` and the LRP's ``tanh`` is the exact table, so every machine
derives the same parameters and the same corrected slices.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..layers import conv_stack
from .checkerboard import CheckerboardLatentCodec
from .conditional import ConditionalLatentCodec, LatentOutput, MeanScaleLatentCodec
from .exact import ACT_BITS, ExactNetwork, exact_tanh


def equal_slices(channels: int, num_slices: int) -> list[int]:
    if channels % num_slices:
        raise ValueError(f"{channels} channels do not split into {num_slices} equal slices")
    return [channels // num_slices] * num_slices


def elic_slices(channels: int) -> list[int]:
    """ELIC's uneven groups (He et al. 2022): 16, 16, 32, 64, then the rest."""
    if channels <= 128:
        raise ValueError("ELIC-style slices need more than 128 channels")
    return [16, 16, 32, 64, channels - 128]


class ChannelwiseLatentCodec(ConditionalLatentCodec):
    """Channel slices coded in order; ``spatial="checkerboard"`` adds a checkerboard per slice."""

    def __init__(
        self,
        slices: list[int],
        side_channels: int,
        dims: int = 2,
        spatial: str = "none",
        lrp: bool = True,
        hidden: int | None = None,
        kernel_size: int = 3,
        context_factory: Callable[[int, int, int, int], nn.Module] | None = None,
        separate_anchor_params: bool = False,
        lrp_kernel_size: int | None = None,
    ) -> None:
        """``context_factory(i, side_channels, previous_channels, out_channels)`` builds slice
        ``i``'s channel-context network (it receives ``[side, y_hat_<i]``); by default a
        small convolution stack."""
        super().__init__()
        if spatial not in ("none", "checkerboard"):
            raise ValueError(f"spatial must be 'none' or 'checkerboard', got {spatial!r}")
        if not slices or any(c <= 0 for c in slices):
            raise ValueError(f"slices must be positive channel counts, got {slices}")
        self.slices = [int(c) for c in slices]
        self.channels = sum(self.slices)
        self.spatial = spatial
        hidden = hidden or max(side_channels // 2, 2 * max(self.slices))
        self.channel_context = nn.ModuleList()
        self.inner = nn.ModuleList()
        self.lrp = nn.ModuleList() if lrp else None
        for i, c in enumerate(self.slices):
            support = side_channels + sum(self.slices[:i])
            if context_factory is not None:
                self.channel_context.append(context_factory(i, side_channels, sum(self.slices[:i]), 2 * c))
            else:
                self.channel_context.append(conv_stack(dims, [support, hidden, hidden // 2, 2 * c], kernel_size))
            if spatial == "checkerboard":
                self.inner.append(CheckerboardLatentCodec(c, 2 * c, dims, separate_anchor_params=separate_anchor_params))
            else:
                self.inner.append(MeanScaleLatentCodec(c))
            if self.lrp is not None:
                self.lrp.append(conv_stack(dims, [support + c, hidden, hidden // 2, c], lrp_kernel_size or kernel_size))

    def supports_exact(self) -> bool:
        nets = list(self.channel_context) + (list(self.lrp) if self.lrp is not None else [])
        return all(i.supports_exact() for i in self.inner) and all(ExactNetwork.supports(n) for n in nets)

    def _support(self, side: torch.Tensor, decoded: list[torch.Tensor], exact: bool = False) -> torch.Tensor:
        if exact:
            return torch.cat([side.double(), *(d.double() for d in decoded)], dim=1)
        return torch.cat([side, *decoded], dim=1)

    def _context(self, i: int, support: torch.Tensor, exact: bool) -> torch.Tensor:
        return ExactNetwork(self.channel_context[i])(support) if exact else self.channel_context[i](support)

    def _refine(self, i: int, support: torch.Tensor, y_hat_i: torch.Tensor, exact: bool = False) -> torch.Tensor:
        if self.lrp is None:
            return y_hat_i
        if exact:  # 0.5 * tanh in fixed point: a table lookup and a halving, both exact
            h = ExactNetwork(self.lrp[i])(torch.cat([support, y_hat_i.double()], dim=1)) * 2.0**ACT_BITS
            return y_hat_i + (exact_tanh(h) * 2.0 ** -(ACT_BITS + 1)).float()
        return y_hat_i + 0.5 * torch.tanh(self.lrp[i](torch.cat([support, y_hat_i], dim=1)))

    def forward(self, y, side, gaussian, exact: bool = False):
        decoded, likelihoods, means = [], [], []
        for i, y_i in enumerate(y.split(self.slices, dim=1)):
            support, inner = self._support(side, decoded, exact), self.inner[i]
            out = inner(y_i, self._context(i, support, exact), gaussian, **inner.entropy_param_options(exact))
            decoded.append(self._refine(i, support, out.y_hat, exact))
            likelihoods.append(out.likelihoods)
            means.append(out.means)
        return LatentOutput(torch.cat(decoded, 1), torch.cat(likelihoods, 1), torch.cat(means, 1))

    def encode(self, encoder, y, side, gaussian, tau, exact: bool = False):
        decoded, skipped = [], 0
        for i, y_i in enumerate(y.split(self.slices, dim=1)):
            support, inner = self._support(side, decoded, exact), self.inner[i]
            context = self._context(i, support, exact)
            y_hat_i, n = inner.encode(encoder, y_i, context, gaussian, tau, **inner.entropy_param_options(exact))
            decoded.append(self._refine(i, support, y_hat_i, exact))
            skipped += n
        return torch.cat(decoded, 1), skipped

    def decode(self, decoder, side, gaussian, tau, exact: bool = False):
        decoded = []
        for i in range(len(self.slices)):
            support, inner = self._support(side, decoded, exact), self.inner[i]
            context = self._context(i, support, exact)
            y_hat_i = inner.decode(decoder, context, gaussian, tau, **inner.entropy_param_options(exact))
            decoded.append(self._refine(i, support, y_hat_i, exact))
        return torch.cat(decoded, 1)
