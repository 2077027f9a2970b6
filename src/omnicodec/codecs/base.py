"""The codec contract shared by every image, speech and video codec."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..coding import Bitstream
from ..entropy_models import EntropyBottleneck, FrozenTables
from ..errors import WeightsError

MAX_CHANNELS = 1024  # 2.7× the widest shipped model; N = M = 1024 is already about 1.5 GB of weights
CHANNELS = (1, MAX_CHANNELS)
MAX_CONFIG_LIST = 16  # the longest list a codec config holds (per-stage depths, channels…)


def _constructor_arguments(cls: type) -> set[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


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

    @classmethod
    def config_ranges(cls) -> dict[str, tuple[float, float]]:
        """The allowed ``(lowest, highest)`` value of each numeric config entry (of every element,
        for a list). Checked by :meth:`validate_config` before a model is built from a file, so a
        weights entry declaring ``N = 200000`` is refused before anything is allocated."""
        return {}

    @classmethod
    def validate_config(cls, config: object) -> dict:
        """Check a config read from a file against the constructor and :meth:`config_ranges`;
        returns it, or raises :class:`WeightsError` naming the offending entry."""
        where = f"{cls.codec_id or cls.__name__} config"
        if not isinstance(config, dict):
            raise WeightsError(f"{where} is not a JSON object")
        accepted = _constructor_arguments(cls)
        ranges = cls.config_ranges()
        for key, value in config.items():
            if key not in accepted:
                raise WeightsError(f"{where}: unknown entry {key!r} (accepted: {', '.join(sorted(accepted))})")
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list) and len(value) > MAX_CONFIG_LIST:
                raise WeightsError(f"{where}: {key} has {len(value)} elements (at most {MAX_CONFIG_LIST})")
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    raise WeightsError(f"{where}: {key} = {v} is not a finite number")
                if not (v is None or isinstance(v, (bool, int, float, str))):
                    raise WeightsError(f"{where}: {key} holds a {type(v).__name__}, not plain data")
                if key not in ranges:
                    continue
                lo, hi = ranges[key]
                integral = isinstance(lo, int) and isinstance(hi, int)
                number = isinstance(v, int) if integral else isinstance(v, (int, float))
                if isinstance(v, bool) or not number or not lo <= v <= hi:
                    kind = "an integer" if integral else "a number"
                    raise WeightsError(f"{where}: {key} = {v!r} must be {kind} in [{lo}, {hi}]")
        return config

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
