"""Hyperprior latent codec (Ballé et al. 2018; Minnen et al. 2018) around any conditional codec.

``z = h_a(y)`` is coded with a factorized prior; ``side = h_s(z_hat)`` conditions a
:class:`~.conditional.ConditionalLatentCodec` that codes ``y`` (mean-scale, checkerboard,
channel-wise...). The encoder runs ``h_s`` on the *decoded* ``z_hat`` (integers), exactly
what the decoder will see, and the conditional codec only ever conditions on decoded ``y``.

With a ``temporal_prior`` network the codec becomes conditional on a *reference* latent
(the previous decoded frame's ``y_hat`` for video): ``h_a`` sees ``[y, reference]`` and the
side features gain ``temporal_prior(reference)`` (Sun et al. 2021). A missing reference
(an intra frame) is a zero tensor, which resets the temporal state.

Streams: ``"z"`` and ``"y"``, one range-coded stream each. With entropy skip on, the skip
threshold τ is written to the side info and read back from it by the decoder.

Exact parameters: when every network between the decoded data and the Gaussian parameters
qualifies (``h_s``; the temporal prior, if any, by :meth:`TemporalPrior.supports_exact`; the
``y`` codec, by :meth:`~.conditional.ConditionalLatentCodec.supports_exact`), coding and
evaluation run them as :class:`~.exact.ExactNetwork`, so encoder and decoder derive
bit-identical scales and means on any machine; training keeps the float networks. The scheme
is named in the side info.
"""

from __future__ import annotations

import torch
from torch import nn

from ..coding import Bitstream, SymbolDecoder, SymbolEncoder
from ..errors import UnsupportedVersionError
from ..layers import conv_nd, deconv_nd
from ..layers.tiling import NotTileable, input_radius, tiled
from .conditional import ConditionalLatentCodec, MeanScaleLatentCodec
from .exact import SCHEME, ExactNetwork
from .factorized import EntropyBottleneck
from .gaussian import GaussianConditional, checked_skip_tau

SIDE_TILE = 16  # elements of z per side of a tile of the exact h_s (its float64 im2col grows with the tile)


class TemporalPrior(nn.Module):
    """Side features from a reference latent (``forward(reference)``), joined to ``h_s``'s output."""

    def forward(self, reference: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def supports_exact(self) -> bool:
        """Whether :meth:`exact` can compute the features in exact fixed point."""
        raise NotImplementedError  # pragma: no cover

    def exact(self, reference: torch.Tensor) -> torch.Tensor:
        """The same features in exact fixed point (:mod:`.exact`): identical on every machine."""
        raise NotImplementedError  # pragma: no cover


class HyperpriorLatentCodec(nn.Module):
    def __init__(
        self,
        h_a: nn.Module,
        h_s: nn.Module,
        z_channels: int,
        y_codec: ConditionalLatentCodec,
        quantization: str = "ste",
        skip_threshold: float = 0.0,
        temporal_prior: TemporalPrior | None = None,
    ) -> None:
        super().__init__()
        self.h_a = h_a
        self.h_s = h_s
        self.entropy_bottleneck = EntropyBottleneck(z_channels)
        self.gaussian_conditional = GaussianConditional(quantization=quantization, skip_threshold=skip_threshold)
        self.y_codec = y_codec
        self.temporal_prior = temporal_prior
        temporal = temporal_prior is None or temporal_prior.supports_exact()
        exact = y_codec.supports_exact() and temporal and ExactNetwork.supports(h_s)
        self._exact = ExactNetwork(h_s) if exact else None
        try:  # exact h_s runs over tiles of z (integer arithmetic: the same result as on the whole map)
            self._side_halo = input_radius(h_s) if exact and isinstance(h_s, nn.Sequential) else None
        except NotTileable:
            self._side_halo = None

    @property
    def exact_parameters(self) -> bool:
        """Whether coding computes the Gaussian parameters in exact fixed point."""
        return self._exact is not None

    @property
    def entropy_params(self) -> str | None:
        """The exact-parameter scheme this codec's streams carry in their side info (None: float)."""
        return SCHEME if self._exact is not None else None

    # --- shared steps ---------------------------------------------------------------------

    def _reference(self, y: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor | None:
        if self.temporal_prior is None:
            if reference is not None:
                raise ValueError("this latent codec takes no reference (it has no temporal prior)")
            return None
        return torch.zeros_like(y) if reference is None else reference  # None: intra frame, reset

    def _hyper_input(self, y: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        return y if reference is None else torch.cat([y, reference], dim=1)

    def _side(self, z_hat: torch.Tensor, reference: torch.Tensor | None, coding: bool = False) -> torch.Tensor:
        if coding and self._exact is not None:
            if self._side_halo is not None and z_hat.dim() == 4:
                side = tiled(self._exact, z_hat, None, SIDE_TILE, self._side_halo)
            else:
                side = self._exact(z_hat)
            return side if reference is None else torch.cat([side, self.temporal_prior.exact(reference)], dim=1)
        side = self.h_s(z_hat)
        return side if reference is None else torch.cat([side, self.temporal_prior(reference)], dim=1)

    # --- contract -------------------------------------------------------------------------

    def forward(self, y: torch.Tensor, reference: torch.Tensor | None = None):
        """``(y_hat, {"y": likelihoods, "z": likelihoods}, means)``; ``means`` are the rounding centres."""
        reference = self._reference(y, reference)
        z = self.h_a(self._hyper_input(y, reference))
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        coding = not self.training  # evaluation measures what coding does
        options = self.y_codec.entropy_param_options(coding and self.exact_parameters)
        out = self.y_codec(y, self._side(z_hat, reference, coding), self.gaussian_conditional, **options)
        return out.y_hat, {"y": out.likelihoods, "z": z_likelihoods}, out.means

    @torch.no_grad()
    def compress(
        self, y: torch.Tensor, reference: torch.Tensor | None = None, tau: float | None = None
    ) -> tuple[Bitstream, torch.Tensor]:
        reference = self._reference(y, reference)
        tau = self.gaussian_conditional.skip_threshold if tau is None else float(tau)
        z = self.h_a(self._hyper_input(y, reference))
        z_stream, z_hat = self.entropy_bottleneck.compress(z)
        encoder = SymbolEncoder()
        side = self._side(z_hat, reference, coding=True)
        options = self.y_codec.entropy_param_options(self.exact_parameters)
        y_hat, skipped = self.y_codec.encode(encoder, y, side, self.gaussian_conditional, tau, **options)
        out = Bitstream()
        out.merge(z_stream, "z")
        out.streams["y"] = encoder.finish()
        out.shapes["y"] = list(y.shape)
        if tau > 0:
            out.side_info["skip_tau"] = tau
        if self.entropy_params is not None:
            out.side_info["entropy_params"] = self.entropy_params
        out.stats.update(y_symbols=y.numel(), y_skipped=skipped, skip_rate=skipped / max(y.numel(), 1))
        return out, y_hat

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream, reference: torch.Tensor | None = None, device=None) -> torch.Tensor:
        scheme, expected = bitstream.side_info.get("entropy_params"), self.entropy_params
        if scheme != expected:
            raise UnsupportedVersionError(
                f"the stream's entropy parameters were computed {scheme or 'in floating point'}; "
                f"this model computes them {expected or 'in floating point'}"
            )
        z_hat = self.entropy_bottleneck.decompress(bitstream.select("z"), device)
        if self.temporal_prior is not None and reference is None:
            reference = torch.zeros(bitstream.shapes["y"], device=z_hat.device)
        side = self._side(z_hat, reference, coding=True)
        decoder = SymbolDecoder(bitstream.streams["y"])
        tau = checked_skip_tau(bitstream.side_info.get("skip_tau", 0.0))  # skip what the encoder skipped
        options = self.y_codec.entropy_param_options(self.exact_parameters)
        y_hat = self.y_codec.decode(decoder, side, self.gaussian_conditional, tau, **options)
        decoder.finish()
        return y_hat


class MeanScaleHyperprior(HyperpriorLatentCodec):
    """The plain mean-scale hyperprior: ``h_s`` outputs scales and means directly."""

    def __init__(self, h_a: nn.Module, h_s: nn.Module, z_channels: int, y_channels: int, **kwargs) -> None:
        super().__init__(h_a, h_s, z_channels, MeanScaleLatentCodec(y_channels), **kwargs)


def hyper_transforms(
    y_channels: int, z_channels: int, side_channels: int, dims: int = 2, in_channels: int | None = None
) -> tuple[nn.Module, nn.Module]:
    """Default ``h_a`` (÷4 resolution, from ``in_channels``, default ``y_channels``) and ``h_s``
    (×4, ending in ``side_channels``) for 1-D or 2-D latents; lengths must divide by 4."""
    M, N = y_channels, z_channels
    h_a = nn.Sequential(
        conv_nd(dims, in_channels or M, N, 3), nn.LeakyReLU(inplace=True),
        conv_nd(dims, N, N, 5, stride=2), nn.LeakyReLU(inplace=True),
        conv_nd(dims, N, N, 5, stride=2),
    )
    h_s = nn.Sequential(
        deconv_nd(dims, N, M), nn.LeakyReLU(inplace=True),
        deconv_nd(dims, M, M * 3 // 2), nn.LeakyReLU(inplace=True),
        conv_nd(dims, M * 3 // 2, side_channels, 3),
    )
    return h_a, h_s
