"""Checkerboard context (He et al. 2021): two parallel passes instead of a serial scan.

Anchors (elements whose coordinates sum to an even number) are coded from the side
features alone; non-anchors are then coded with a context computed by a 5×5 (or 5-tap)
convolution over the *decoded* anchors, with non-anchors zeroed. Training runs the same
two passes: the context always comes from anchors rounded around their means, exactly the
values the decoder has, so there is no train/test mismatch. The entropy parameters are
1×1 convolutions of ``[side, context]`` (the context is zero for anchors).

With ``exact=True`` (set by the enclosing hyperprior when coding and evaluating) the context
and the parameter networks run as :class:`~.exact.ExactNetwork`: their inputs are the exact
side features and decoded anchors, so every machine derives the same scales and means.

With ``residual=True`` the first ``2 × channels`` side features are themselves scales and means (as a
mean-scale hyperprior's ``h_s`` gives them; any further side features, e.g. a temporal prior's, only
feed the networks) and the networks add a correction to them; the correction's last layer starts at
zero, so an untrained context codes exactly as the mean-scale hyperprior it extends (a trained
mean-scale model gains the context without losing anything).

Works on 2-D latents ``[B, C, H, W]`` and on 1-D latents ``[B, C, T]`` (even positions are
the anchors).
"""

from __future__ import annotations

import torch

from ..layers import conv_nd, conv_stack
from .conditional import ConditionalLatentCodec, LatentOutput
from .exact import ExactNetwork
from .ops import round_ste


def anchor_mask(shape: torch.Size | tuple[int, ...], device=None) -> torch.Tensor:
    """Boolean ``[1, 1, *spatial]`` mask of the anchors (coordinate sum even)."""
    grids = torch.meshgrid(*[torch.arange(n, device=device) for n in shape[2:]], indexing="ij")
    return (sum(grids) % 2 == 0).view(1, 1, *shape[2:])


class CheckerboardLatentCodec(ConditionalLatentCodec):
    """``separate_anchor_params`` gives anchors their own 1×1 network of the side features
    alone (as S2LIC does) instead of the shared one with a zero context; ``residual`` makes the
    networks correct side features that are already scales and means (see the module)."""

    def __init__(
        self, channels: int, side_channels: int, dims: int = 2, hidden: int | None = None,
        separate_anchor_params: bool = False, residual: bool = False,
    ) -> None:
        super().__init__()
        self.channels, self.residual = int(channels), bool(residual)
        if self.residual and side_channels < 2 * self.channels:
            raise ValueError(f"a residual checkerboard needs at least 2 × {channels} side channels (scales, means "
                             f"first), not {side_channels}")
        hidden = hidden or max(2 * channels, side_channels // 2)
        self.context = conv_nd(dims, channels, 2 * channels, kernel_size=5)
        self.entropy_parameters = conv_stack(dims, [side_channels + 2 * channels, hidden, hidden, 2 * channels])
        self.anchor_parameters = (
            conv_stack(dims, [side_channels, hidden, hidden, 2 * channels]) if separate_anchor_params else None
        )
        if self.residual:
            for net in (self.entropy_parameters, self.anchor_parameters):
                if net is not None:
                    torch.nn.init.zeros_(net[-1].weight)
                    torch.nn.init.zeros_(net[-1].bias)

    def supports_exact(self) -> bool:
        nets = [self.context, self.entropy_parameters]
        return all(ExactNetwork.supports(n) for n in nets) and (
            self.anchor_parameters is None or ExactNetwork.supports(self.anchor_parameters)
        )

    @staticmethod
    def _run(net, x: torch.Tensor, exact: bool) -> torch.Tensor:
        # exact outputs are multiples of 2**-ACT_BITS; as float32 they stay exact up to 2**(24-ACT_BITS)
        return ExactNetwork(net)(x).float() if exact else net(x)

    def _corrected(self, side: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.residual:
            params = side[:, : 2 * self.channels].to(params.dtype) + params
        scales, means = params.chunk(2, dim=1)
        return scales, means

    def _params(self, side: torch.Tensor, context: torch.Tensor, exact: bool = False):
        if exact:
            side, context = side.double(), context.double()
        return self._corrected(side, self._run(self.entropy_parameters, torch.cat([side, context], dim=1), exact))

    def _anchor_params(self, side, exact: bool = False):
        if self.anchor_parameters is not None:
            return self._corrected(side, self._run(self.anchor_parameters, side, exact))
        zeros = side.new_zeros(side.shape[0], 2 * self.channels, *side.shape[2:])
        return self._params(side, zeros, exact)

    def _non_anchor_params(self, side, y_hat_anchors, anchors, exact: bool = False):
        return self._params(side, self._run(self.context, y_hat_anchors * anchors, exact), exact)

    def forward(self, y, side, gaussian, exact: bool = False):
        anchors = anchor_mask(y.shape, y.device)
        scales_a, means_a = self._anchor_params(side, exact)
        # the decoder's anchors: rounded around their means (straight-through for training)
        y_anchors = round_ste(y - means_a) + means_a
        scales_n, means_n = self._non_anchor_params(side, y_anchors, anchors, exact)
        scales = torch.where(anchors, scales_a, scales_n)
        means = torch.where(anchors, means_a, means_n)
        y_hat, likelihoods = gaussian(y, scales, means)
        return LatentOutput(y_hat, likelihoods, means)

    def encode(self, encoder, y, side, gaussian, tau, exact: bool = False):
        anchors = anchor_mask(y.shape, y.device)
        full = anchors.expand_as(y)
        scales_a, means_a = self._anchor_params(side, exact)
        y_hat_a, skipped_a = gaussian.encode_into(encoder, y[full], scales_a[full], means_a[full], tau)
        y_hat = torch.zeros_like(y)
        y_hat[full] = y_hat_a
        scales_n, means_n = self._non_anchor_params(side, y_hat, anchors, exact)
        y_hat_n, skipped_n = gaussian.encode_into(encoder, y[~full], scales_n[~full], means_n[~full], tau)
        y_hat[~full] = y_hat_n
        return y_hat, skipped_a + skipped_n

    def decode(self, decoder, side, gaussian, tau, exact: bool = False):
        shape = (side.shape[0], self.channels, *side.shape[2:])
        anchors = anchor_mask(shape, side.device)
        full = anchors.expand(shape)
        scales_a, means_a = self._anchor_params(side, exact)
        y_hat = side.new_zeros(shape, dtype=torch.float32)
        y_hat[full] = gaussian.decode_from(decoder, scales_a[full], means_a[full], tau)
        scales_n, means_n = self._non_anchor_params(side, y_hat, anchors, exact)
        y_hat[~full] = gaussian.decode_from(decoder, scales_n[~full], means_n[~full], tau)
        return y_hat
