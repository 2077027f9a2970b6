"""Conditional latent codecs: code ``y`` given side features from a hyperprior.

A conditional latent codec turns ``side`` features (the hyper-synthesis output, possibly
with temporal features) into Gaussian means and scales for ``y``, in one or more passes:

- ``forward(y, side, gaussian) -> LatentOutput`` for training and evaluation;
- ``encode(encoder, y, side, gaussian, tau) -> (y_hat, skipped)`` appends to a stream;
- ``decode(decoder, side, gaussian, tau) -> y_hat`` reads it back.

Exact parameters: ``supports_exact()`` says whether the codec can derive its Gaussian
parameters in exact fixed point (:mod:`.exact`) from exact side features, and
``entropy_param_options(exact)`` gives the keyword options that make ``forward``, ``encode``
and ``decode`` do so. An enclosing codec (hyperprior, channel-wise slices) asks both and
passes the options on, so encoder and decoder derive bit-identical parameters.

They hold networks only. The :class:`~.gaussian.GaussianConditional` (and its tables) is
owned by the enclosing hyperprior and passed in, so nested codecs (a checkerboard inside
each channel slice) share one set of tables. ``side`` always has ``y``'s spatial size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..coding import SymbolDecoder, SymbolEncoder
from .gaussian import GaussianConditional


class LatentOutput(NamedTuple):
    """``y_hat`` (what the synthesis sees), per-element likelihoods, and the means that
    ``y`` was rounded around (``y_hat`` minus any latent residual prediction)."""

    y_hat: torch.Tensor
    likelihoods: torch.Tensor
    means: torch.Tensor


class ConditionalLatentCodec(nn.Module):
    """Base class; ``channels`` is the number of channels of ``y``."""

    channels: int

    def supports_exact(self) -> bool:
        """Whether every network between the side features and the parameters runs exactly."""
        raise NotImplementedError  # pragma: no cover

    def entropy_param_options(self, exact: bool) -> dict:
        """Keyword options for ``forward`` / ``encode`` / ``decode``; ``exact`` asks for exact
        parameters (only where :meth:`supports_exact`). By default the ``exact`` flag itself."""
        return {"exact": True} if exact else {}

    def forward(self, y: torch.Tensor, side: torch.Tensor, gaussian: GaussianConditional) -> LatentOutput:
        raise NotImplementedError  # pragma: no cover

    def encode(
        self, encoder: SymbolEncoder, y: torch.Tensor, side: torch.Tensor, gaussian: GaussianConditional, tau: float
    ) -> tuple[torch.Tensor, int]:
        raise NotImplementedError  # pragma: no cover

    def decode(
        self, decoder: SymbolDecoder, side: torch.Tensor, gaussian: GaussianConditional, tau: float
    ) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover


class MeanScaleLatentCodec(ConditionalLatentCodec):
    """One pass: ``param_net(side)`` (or ``side`` itself) gives scales then means."""

    def __init__(self, channels: int, param_net: nn.Module | None = None) -> None:
        super().__init__()
        self.channels = int(channels)
        self.param_net = param_net

    def supports_exact(self) -> bool:
        """Only without a parameter network: then exact side features are exact parameters."""
        return self.param_net is None

    def entropy_param_options(self, exact: bool) -> dict:
        return {}  # no network of its own to run exactly

    def params(self, side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.param_net(side) if self.param_net is not None else side
        scales, means = p.chunk(2, dim=1)
        return scales, means

    def forward(self, y, side, gaussian):
        scales, means = self.params(side)
        y_hat, likelihoods = gaussian(y, scales, means)
        return LatentOutput(y_hat, likelihoods, means)

    def encode(self, encoder, y, side, gaussian, tau):
        scales, means = self.params(side)
        return gaussian.encode_into(encoder, y, scales, means, tau)

    def decode(self, decoder, side, gaussian, tau):
        scales, means = self.params(side)
        return gaussian.decode_from(decoder, scales, means, tau)
