"""The codec contract shared by every image, speech and video codec."""

from __future__ import annotations

import inspect
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..coding import Bitstream
from ..entropy_models import EntropyBottleneck, FrozenTables
from ..errors import CorruptFileError, WeightsError

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


_LEN = struct.Struct("<I")

Unit = tuple[str, bytes]  # a named unit of a coded item: its name (a file chunk) and its payload


def frame_streams(streams: dict[str, bytes]) -> bytes:
    """One unit's payload: its streams in order, each but the last preceded by its length (uint32)."""
    parts = list(streams.values())
    return b"".join(_LEN.pack(len(s)) + s for s in parts[:-1]) + (parts[-1] if parts else b"")


def unframe_streams(payload: bytes, names: tuple[str, ...], what: str) -> dict[str, bytes]:
    """The inverse of :func:`frame_streams` for a unit whose streams are ``names``; a payload whose
    lengths overrun it raises :class:`CorruptFileError` naming ``what`` (e.g. ``"frame 3"``)."""
    streams, at = {}, 0
    for name in names[:-1]:
        if at + _LEN.size > len(payload):
            raise CorruptFileError(f"{what} is corrupt: its chunk is too short")
        (n,) = _LEN.unpack_from(payload, at)
        at += _LEN.size
        if at + n > len(payload):
            raise CorruptFileError(f"{what} is corrupt: its {name} stream overruns the chunk")
        streams[name], at = payload[at : at + n], at + n
    if names:
        streams[names[-1]] = payload[at:]
    return streams


def header_size(header: dict, what: str) -> tuple[int, int]:
    """``(height, width)`` from a header's ``size``; :class:`CorruptFileError` naming ``what`` if malformed."""
    try:
        h, w = header["size"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w)):
            raise TypeError("not a pair of positive integers")
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"the {what} size in the header is malformed ({exc})") from None
    return h, w


class UnitEncoder:
    """Codes one item (an image, a clip, a recording) unit by unit, holding what the codec carries
    from one unit to the next (a reference frame, a previous chunk's latent, buffered audio).

    ``header`` is the side information the decoder needs for every unit, known before the first
    unit (a file writes it in its header); ``stats`` reports on the coding (not stored).
    """

    header: dict
    stats: dict

    def push(self, piece: Any) -> list[Unit]:  # pragma: no cover - abstract
        """Take the next piece of input (the image, a frame, a block of samples); returns the units it completes."""
        raise NotImplementedError

    def finish(self) -> list[Unit]:
        """The units still held once the input has ended."""
        return []


class UnitDecoder:
    """Decodes the units of one item in order; holds the state the codec carries between them.

    ``kind`` names a unit for a reader (``"frame"``, ``"audio chunk"``) and ``count`` is how many
    units were decoded so far, so a damaged unit is reported as e.g. ``frame 3``.
    """

    kind: str = "unit"
    count: int = 0

    def label(self) -> str:
        """The unit decoded next, in words."""
        return f"{self.kind} {self.count}"

    def push(self, name: str, payload: bytes) -> list[Any]:  # pragma: no cover - abstract
        """Take the next unit; returns the pieces of output it completes (an image, frames, audio blocks)."""
        raise NotImplementedError

    def finish(self) -> list[Any]:
        """The pieces still held once the last unit was read; raises :class:`CorruptFileError` if units are missing."""
        return []


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

    @property
    def quality_range(self) -> tuple[float, float] | None:
        """``(lowest, highest)`` quality of a variable-rate codec (see :mod:`.rate`); ``None``: one fixed rate."""
        return None

    # --- the streaming contract -------------------------------------------------------------
    # A codec codes an item as a sequence of named units (see UnitEncoder / UnitDecoder); the file
    # drivers in omnicodec.media write each unit as one container chunk and ``header`` into the file
    # header, and ``compress`` / ``decompress`` do the same in memory.

    def unit_encoder(self, media: dict, quality: float | None = None, **options) -> UnitEncoder:  # pragma: no cover
        """An encoder for one item described by ``media`` (its ``height``/``width`` for images and video)
        at ``quality`` (variable-rate codecs; ``None``: the codec's default), with the per-file
        ``options`` of :meth:`encoder_options` (a ``ValueError`` for a value out of its range)."""
        raise NotImplementedError

    def encoder_options(self) -> dict[str, tuple[int, int]]:
        """The per-file options :meth:`unit_encoder` takes, by name, with the inclusive range of their
        integer values (default: none). A file states what they were, so decoders need no option."""
        return {}

    def encoder_defaults(self) -> dict[str, int]:
        """The value each of :meth:`encoder_options` takes when none is given (what a file coded without
        the option states in its header's ``side_info``)."""
        return {}

    def unit_decoder(self, header: dict) -> UnitDecoder:  # pragma: no cover - abstract
        """A decoder for one item whose encoder declared ``header``; checks it before anything is decoded
        (:class:`CorruptFileError` for values that cannot be right)."""
        raise NotImplementedError

    def split(self, x: torch.Tensor) -> Iterable[Any]:
        """The pieces an in-memory item is pushed as (default: the whole item at once)."""
        return [x]

    def join(self, pieces: list[Any]) -> torch.Tensor:
        """The in-memory item from the decoded pieces (default: concatenated along the first axis)."""
        return torch.cat(pieces)

    def describe(self, x: torch.Tensor) -> dict:
        """The media description :meth:`unit_encoder` needs for an in-memory item (default: its height and width)."""
        return {"height": int(x.shape[-2]), "width": int(x.shape[-1])}

    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality: float | None = None, **options) -> Bitstream:
        """Code ``x`` in memory: the concatenation of its units, with the encoder's header as side info
        (``options``: see :meth:`encoder_options`)."""
        encoder = self.unit_encoder(self.describe(x), quality, **options)
        units = [unit for piece in self.split(x) for unit in encoder.push(piece)] + encoder.finish()
        return Bitstream(dict(units), side_info=dict(encoder.header), stats=dict(encoder.stats))

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        decoder = self.unit_decoder(bitstream.side_info)
        pieces = [piece for name, payload in bitstream.streams.items() for piece in decoder.push(name, payload)]
        return self.join(pieces + decoder.finish())

    # --- several items at once ---------------------------------------------------------
    # A codec whose transforms gain from batching (on a GPU) overrides these; the results are those
    # of coding each item alone, which the defaults do.

    @torch.no_grad()
    def compress_batch(self, x: torch.Tensor, quality: float | None = None) -> list[Bitstream]:
        """One bitstream per item of ``x`` (items of one size stacked on the first axis)."""
        return [self.compress(x[i : i + 1], quality) for i in range(x.shape[0])]

    @torch.no_grad()
    def decompress_batch(self, bitstreams: list[Bitstream]) -> list[torch.Tensor]:
        """The items of ``bitstreams``, each as :meth:`decompress` gives it."""
        return [self.decompress(b) for b in bitstreams]

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
