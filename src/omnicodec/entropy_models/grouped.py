"""Channel groups on top of a residual checkerboard (in the spirit of ELIC's space-channel context, He et
al. 2022, built so that a trained checkerboard model gains it without losing anything).

``y``'s channels are split into groups (e.g. 64, 64). The anchors are coded group by group, then the
non-anchors group by group. Every element keeps the checkerboard's scales and means (the hyperprior's,
corrected by the 5×5 context of *all* decoded anchors for the non-anchors, which the decoder has by
then) and adds a correction from the groups decoded before its own: for an anchor, the earlier groups'
anchors; for a non-anchor, the earlier groups whole. Each correction network (a 3×3 then two 1×1
convolutions of ``[earlier groups, the element's checkerboard parameters]``) ends in a layer that starts
at zero, so an untrained grouped codec codes exactly as the checkerboard it extends.

With ``exact=True`` the corrections run as :class:`~.exact.ExactNetwork`, like the checkerboard's
networks, so every machine derives the same parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from .checkerboard import CheckerboardLatentCodec, anchor_mask
from .conditional import LatentOutput
from .exact import ExactNetwork
from .ops import round_ste


def correction_net(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    """3×3 then two 1×1 convolutions with leaky ReLUs; the last layer starts at zero."""
    net = nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1), nn.LeakyReLU(inplace=True),
        nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(inplace=True),
        nn.Conv2d(hidden, out_channels, 1),
    )
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class GroupedCheckerboardLatentCodec(CheckerboardLatentCodec):
    """A residual checkerboard over ``channels`` (side features: ``h_s``'s scales and means) whose channel
    ``groups`` after the first are corrected from the groups before them (see the module)."""

    def __init__(self, channels: int, side_channels: int, groups: list[int], hidden: int | None = None) -> None:
        super().__init__(channels, side_channels, residual=True)
        if len(groups) < 2 or sum(groups) != channels or min(groups) < 1:
            raise ValueError(f"groups must be two or more positive channel counts adding up to {channels}, got {groups}")
        self.groups = [int(g) for g in groups]
        hidden = hidden or max(self.groups)
        self.anchor_corrections = nn.ModuleList()
        self.corrections = nn.ModuleList()
        for g in range(1, len(self.groups)):
            before, own = sum(self.groups[:g]), self.groups[g]
            self.anchor_corrections.append(correction_net(before + 2 * own, hidden, 2 * own))
            self.corrections.append(correction_net(before + 2 * own, hidden, 2 * own))

    def supports_exact(self) -> bool:
        nets = [*self.anchor_corrections, *self.corrections]
        return super().supports_exact() and all(ExactNetwork.supports(n) for n in nets)

    def _bounds(self, g: int) -> tuple[int, int]:
        start = sum(self.groups[:g])
        return start, start + self.groups[g]

    def _group_params(
        self, g: int, scales: torch.Tensor, means: torch.Tensor, decoded: torch.Tensor, anchors: bool, exact: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Group ``g``'s scales and means: the checkerboard's, plus the correction from ``decoded`` (the
        earlier groups' decoded values, zero where the decoder has none yet)."""
        lo, hi = self._bounds(g)
        if g == 0:
            return scales[:, lo:hi], means[:, lo:hi]
        net = (self.anchor_corrections if anchors else self.corrections)[g - 1]
        inputs = torch.cat([decoded[:, :lo], scales[:, lo:hi], means[:, lo:hi]], dim=1)
        delta_s, delta_m = self._run(net, inputs.double() if exact else inputs, exact).chunk(2, dim=1)
        return scales[:, lo:hi] + delta_s, means[:, lo:hi] + delta_m

    def forward(self, y, side, gaussian, exact: bool = False):
        anchors = anchor_mask(y.shape, y.device)
        base_sa, base_ma = self._anchor_params(side, exact)
        # anchors, group by group, each rounded around its own means (straight-through for training)
        decoded_a, scales_a, means_a = torch.zeros_like(y), [], []
        for g in range(len(self.groups)):
            s, m = self._group_params(g, base_sa, base_ma, decoded_a * anchors, anchors=True, exact=exact)
            lo, hi = self._bounds(g)
            decoded_a[:, lo:hi] = round_ste(y[:, lo:hi] - m) + m
            scales_a.append(s)
            means_a.append(m)
        base_sn, base_mn = self._non_anchor_params(side, decoded_a, anchors, exact)
        decoded, scales_n, means_n = torch.where(anchors, decoded_a, torch.zeros_like(y)), [], []
        for g in range(len(self.groups)):
            s, m = self._group_params(g, base_sn, base_mn, decoded, anchors=False, exact=exact)
            lo, hi = self._bounds(g)
            decoded[:, lo:hi] = torch.where(anchors, decoded_a[:, lo:hi], round_ste(y[:, lo:hi] - m) + m)
            scales_n.append(s)
            means_n.append(m)
        scales = torch.where(anchors, torch.cat(scales_a, 1), torch.cat(scales_n, 1))
        means = torch.where(anchors, torch.cat(means_a, 1), torch.cat(means_n, 1))
        y_hat, likelihoods = gaussian(y, scales, means)
        return LatentOutput(y_hat, likelihoods, means)

    def _code(self, y, side, exact, code_group) -> torch.Tensor:
        """The decoding order, shared by ``encode`` and ``decode``: ``code_group(y_g, scales, means,
        mask)`` codes (or decodes) the elements of one group under ``mask`` and returns their values."""
        shape = (side.shape[0], self.channels, *side.shape[2:])
        anchors = anchor_mask(shape, side.device)
        y_hat = side.new_zeros(shape, dtype=torch.float32)
        base_sa, base_ma = self._anchor_params(side, exact)
        for g in range(len(self.groups)):
            s, m = self._group_params(g, base_sa, base_ma, y_hat, anchors=True, exact=exact)
            lo, hi = self._bounds(g)
            mask = anchors.expand(shape[0], hi - lo, *shape[2:])
            values = y_hat[:, lo:hi]
            values[mask] = code_group(None if y is None else y[:, lo:hi][mask], s[mask], m[mask])
        base_sn, base_mn = self._non_anchor_params(side, y_hat, anchors, exact)
        for g in range(len(self.groups)):
            s, m = self._group_params(g, base_sn, base_mn, y_hat, anchors=False, exact=exact)
            lo, hi = self._bounds(g)
            mask = ~anchors.expand(shape[0], hi - lo, *shape[2:])
            values = y_hat[:, lo:hi]
            values[mask] = code_group(None if y is None else y[:, lo:hi][mask], s[mask], m[mask])
        return y_hat

    def encode(self, encoder, y, side, gaussian, tau, exact: bool = False):
        skipped = [0]

        def code(values, scales, means):
            out, n = gaussian.encode_into(encoder, values, scales, means, tau)
            skipped[0] += n
            return out

        return self._code(y, side, exact, code), skipped[0]

    def decode(self, decoder, side, gaussian, tau, exact: bool = False):
        return self._code(None, side, exact, lambda _, scales, means: gaussian.decode_from(decoder, scales, means, tau))
