"""The one file writer and reader: any codec's units to an omnicodec file and back.

A codec codes an item as a sequence of named units (:mod:`omnicodec.codecs.base`); this driver
writes each unit as one container chunk (its own CRC32) and the codec's declared ``header`` as the
file header's ``side_info``, next to the fields every file has (:func:`file_header`). Decoding
reads the file once, chunk by chunk, feeds the codec's unit decoder and hands each decoded piece
to a sink that writes the output atomically. Pieces of input and output go through one at a
time, so memory stays bounded by a unit, not by the length of the item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ..coding import coder_identity, container
from ..coding.container import ContainerReader, ContainerWriter
from ..errors import CorruptFileError, OmnicodecError, UnsupportedVersionError, WeightsMismatchError
from ..zoo.format import SHA_PREFIX_LEN, sha256_file

SOURCE_TAG = "omnicodec-source"  # the note a decoded output carries: which coded file it is a decoding of


def source_id(path) -> str:
    """The first 16 hex digits of the sha256 of a coded file's bytes. Decoded outputs record it (a PNG
    text chunk, the audio file's comment, a Y4M ``X`` parameter) as ``SOURCE_TAG``, so
    that a rerun over a folder tells a complete decoding of that file from anything else."""
    return sha256_file(path)[:SHA_PREFIX_LEN]


class Sink(Protocol):
    """Where decoded pieces go: writes them to a temporary output that :meth:`commit` puts in place."""

    def write(self, piece: Any) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


@dataclass
class Encoded:
    """What :func:`encode` wrote: the file's bytes, the codec's header, its coding stats and the units."""

    size: int
    side_info: dict
    stats: dict
    units: int


def file_header(codec_id: str, quality: float, weights_sha256: str, media: dict, side_info: dict) -> dict:
    """The header of every omnicodec file, built here and nowhere else."""
    return {
        "codec": codec_id,
        "quality": quality,
        "weights": weights_sha256[:SHA_PREFIX_LEN],
        "coder": coder_identity(),
        "media": media,
        "side_info": side_info,
    }


def _bar(enabled: bool, desc: str, unit: str, total: int | None = None):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(desc=desc, unit=unit, total=total, leave=False)


def encode(
    codec, pieces: Iterable[Any], media: dict, header: dict, output, quality: float | None = None,
    progress: bool = False, unit: str = "unit", total: int | None = None, options: dict | None = None,
) -> Encoded:
    """Code ``pieces`` into the file ``output``; ``header`` holds the fields of :func:`file_header` but
    ``side_info``; ``options``: the codec's per-file options (checked by the caller). The file appears
    only once complete."""
    encoder = codec.unit_encoder(media, quality, **(options or {}))
    writer, count, bar = None, 0, _bar(progress, "encoding", unit, total)

    def add(units) -> None:
        nonlocal writer, count
        for name, payload in units:
            if writer is None:  # the codec's header is complete once its first unit is out
                writer = ContainerWriter(output, dict(header, side_info=encoder.header))
            writer.add(name, payload)
            count += 1
            if bar is not None:
                bar.update(1)

    try:
        with torch.no_grad():
            for piece in pieces:
                add(encoder.push(piece))
            add(encoder.finish())
        if writer is None:
            raise CorruptFileError("the codec produced no units")  # pragma: no cover - every codec writes one
        size = writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return Encoded(size, encoder.header, encoder.stats, count)


def pack_coded(header: dict, streams: dict[str, bytes], side_info: dict) -> bytes:
    """The file of an item coded in memory (``Codec.compress``'s units and side info), as bytes: for a
    search over sizes, then written once with :func:`~omnicodec.fileio.atomic_write_bytes`."""
    return container.pack(dict(header, side_info=side_info), streams)


def encode_batch(codec, items: list[torch.Tensor], headers: list[dict], outputs: list,
                 quality: float | None = None) -> list[Encoded]:
    """Code ``items`` of one size together (:meth:`~omnicodec.codecs.base.Codec.compress_batch`) and write
    each to its output, atomically, with its header (as :func:`encode` takes it)."""
    from ..fileio import atomic_write_bytes

    with torch.no_grad():
        coded = codec.compress_batch(torch.cat(items), quality)
    done = []
    for bitstream, header, output in zip(coded, headers, outputs, strict=True):
        data = pack_coded(header, bitstream.streams, bitstream.side_info)
        atomic_write_bytes(output, data)
        done.append(Encoded(len(data), bitstream.side_info, bitstream.stats, len(bitstream.streams)))
    return done


def decode_batch(codec, readers: list[ContainerReader], sinks: list[Sink]) -> None:
    """Decode several files together (:meth:`~omnicodec.codecs.base.Codec.decompress_batch`), each into its
    sink: every chunk and file is checked against its CRC32 first, and nothing is committed unless all decode."""
    from ..coding import Bitstream

    try:
        bitstreams = []
        for reader in readers:
            side_info = reader.header.get("side_info", {})
            if not isinstance(side_info, dict):
                raise CorruptFileError("file header is malformed (side_info is not an object)")
            chunks = list(reader.chunks())
            if len({name for name, _ in chunks}) != len(chunks):
                raise CorruptFileError("the file holds a unit twice")
            bitstreams.append(Bitstream(dict(chunks), side_info=side_info))
        with torch.no_grad():
            items = codec.decompress_batch(bitstreams)
        for sink, item in zip(sinks, items, strict=True):
            sink.write(item)
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise


def _labelled(decoder, message: str, exc: BaseException) -> CorruptFileError:
    err = CorruptFileError(f"{decoder.label()} {message}")
    err.unit_index = decoder.count
    err.__cause__ = exc
    return err


def decode(codec, reader: ContainerReader, sink: Sink, progress: bool = False, unit: str = "unit",
           total: int | None = None) -> int:
    """Decode every unit of ``reader``'s file into ``sink`` and commit it; returns the units read.

    Each chunk is checked against its CRC32 before it is decoded and the file's CRC32 after the last
    one; a damaged or undecodable unit is reported by its place (``frame 3``) with ``unit_index`` set,
    and nothing is committed.
    """
    bar, units = _bar(progress, "decoding", unit, total), 0
    try:
        side_info = reader.header.get("side_info", {})
        if not isinstance(side_info, dict):
            raise CorruptFileError("file header is malformed (side_info is not an object)")
        decoder = codec.unit_decoder(side_info)
        chunks = reader.chunks()
        with torch.no_grad():
            while True:
                try:
                    name, payload = next(chunks)
                except StopIteration:
                    break
                except CorruptFileError as exc:
                    if getattr(exc, "chunk", None) is not None:
                        raise _labelled(decoder, "is corrupt (its chunk fails its CRC32); what comes before it decodes",
                                        exc) from exc
                    raise
                for piece in _decoded(decoder, name, payload):
                    sink.write(piece)
                units += 1
                if bar is not None:
                    bar.update(1)
            for piece in decoder.finish():
                sink.write(piece)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return units


def _decoded(decoder, name: str, payload: bytes) -> list:
    try:
        return decoder.push(name, payload)
    except (CorruptFileError, UnsupportedVersionError, WeightsMismatchError) as exc:
        if getattr(exc, "unit_index", None) is None:
            exc.unit_index = decoder.count
        raise
    except OmnicodecError as exc:
        raise _labelled(decoder, f"does not decode: {exc}", exc) from exc
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, ArithmeticError) as exc:
        raise _labelled(decoder, f"does not match its codec: {exc}", exc) from exc
