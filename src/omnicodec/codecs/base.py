"""The codec contract shared by every image, speech and video codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..coding import Bitstream
from ..entropy_models import EntropyBottleneck, FrozenTables


@dataclass
class CodecOutput:
    """Result of a training / evaluation forward pass."""

    x_hat: torch.Tensor
    likelihoods: dict[str, torch.Tensor]
    extras: dict[str, Any] = field(default_factory=dict)


class Codec(nn.Module):
    """Base class: an ``nn.Module`` with ``forward``, ``compress`` and ``decompress``.

    Subclasses are registered with :func:`~omnicodec.codecs.registry.register_codec`, which
    sets ``codec_id`` and ``media``, and return from :meth:`config` the keyword arguments that
    rebuild them.
    """

    codec_id: ClassVar[str] = ""
    media: ClassVar[str] = ""

    def config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> Codec:
        return cls(**config)

    def forward(self, x: torch.Tensor) -> CodecOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def compress(self, x: torch.Tensor) -> Bitstream:  # pragma: no cover - abstract
        raise NotImplementedError

    def decompress(self, bitstream: Bitstream) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- shared machinery -----------------------------------------------------------

    def freeze(self) -> Codec:
        """Build the integer CDF tables of every entropy model (done once, at export)."""
        for m in self.modules():
            if isinstance(m, FrozenTables):
                m.freeze()
        return self

    def aux_loss(self) -> torch.Tensor:
        """Sum of the factorized priors' quantile losses (trained by a separate optimizer)."""
        losses = [m.aux_loss() for m in self.modules() if isinstance(m, EntropyBottleneck)]
        return torch.stack(losses).sum() if losses else torch.zeros(())

    def aux_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules() if isinstance(m, EntropyBottleneck) for p in m.quantile_parameters()]

    def main_parameters(self) -> list[nn.Parameter]:
        aux = {id(p) for p in self.aux_parameters()}
        return [p for p in self.parameters() if id(p) not in aux]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
