"""The omnicodec file format.

::

    offset  size  field
    0       4     magic  b"\\x89OMC"   (first byte non-ASCII, like PNG, so text tools balk)
    4       2     format version, uint16 little-endian
    6       4     header length H, uint32 little-endian
    10      H     header: UTF-8 JSON object (codec id, quality, weights sha256 prefix,
                  coder identity, media description, stream shapes and side info)
    10+H    4     CRC32 of the header
    ...           chunks, repeated until the trailer:
                    1      name length L (1..255)
                    L      name, ASCII
                    4      payload length P, uint32 little-endian
                    P      payload
                    4      CRC32 of the payload
    end-4   4     CRC32 of every byte before it, uint32 little-endian

Images store one chunk per stream (``z``, ``y``); video stores one chunk per frame
(DCVC-style frame units), so a decoder can read, check and decode a file frame by frame and
name the frame whose chunk is damaged. No pickle, no code: the header is plain JSON and
chunks are opaque bytes. Declared lengths are only ever compared with the bytes actually
present; nothing is allocated from a declared size.

:func:`pack` / :func:`unpack` work on whole files in memory (checking, in order: magic,
version, header, every chunk, the file CRC). :class:`ContainerWriter` and
:class:`ContainerReader` stream chunk by chunk, and the writer is atomic (temporary file,
then rename).
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import (
    ContainerError,
    CorruptFileError,
    ForeignFileError,
    TruncatedFileError,
    UnsupportedVersionError,
)
from ..fileio import AtomicFile, CommitOnExit

MAGIC = b"\x89OMC"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<4sHI")
_U32 = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20  # a header is a few hundred bytes; refuse absurd declarations
MAX_HEADER_DEPTH = 16  # objects and arrays nested deeper than this are not ours
MAX_NUMBER_CHARS = 40  # longer numbers are not ours (and 4,300+ digits make int() raise)


@dataclass
class Container:
    """A parsed file: its JSON header and its named chunks, in file order."""

    header: dict
    chunks: dict[str, bytes] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return pack(self.header, self.chunks)


def _header_bytes(header: dict) -> bytes:
    try:
        head = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ContainerError(f"header is not plain JSON data: {exc}") from exc
    if len(head) > MAX_HEADER_BYTES:
        raise ContainerError(f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    return _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(head)) + head + _U32.pack(zlib.crc32(head))


def _chunk_bytes(name: str, payload: bytes) -> bytes:
    raw = name.encode("ascii") if name.isascii() else b""
    if not 1 <= len(raw) <= 255:
        raise ContainerError(f"chunk name {name!r} must be 1..255 ASCII characters")
    payload = bytes(payload)
    if len(payload) > 0xFFFFFFFF:
        raise ContainerError(f"chunk {name!r} is larger than 4 GiB")
    return bytes([len(raw)]) + raw + _U32.pack(len(payload)) + payload + _U32.pack(zlib.crc32(payload))


def pack(header: dict, chunks: dict[str, bytes]) -> bytes:
    """Serialise a header and named chunks into the container format."""
    body = _header_bytes(header) + b"".join(_chunk_bytes(n, p) for n, p in chunks.items())
    return body + _U32.pack(zlib.crc32(body))


# --- reading ---------------------------------------------------------------------------------


class _Source:
    """A byte source of known size with a running CRC of what was read."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.size, self.pos, self.crc = f, size, 0, 0

    def read(self, n: int, what: str) -> bytes:
        if self.pos + n > self.size - _U32.size:
            raise TruncatedFileError(f"file is truncated: {what} needs {n} bytes, {max(self.size - 4 - self.pos, 0)} remain")
        data = self.f.read(n)
        if len(data) != n:
            raise TruncatedFileError(f"file is truncated inside {what}")
        self.pos += n
        self.crc = zlib.crc32(data, self.crc)
        return data

    @property
    def at_trailer(self) -> bool:
        return self.pos == self.size - _U32.size


def _read_header(src: _Source) -> dict:
    if src.size == 0:
        raise ForeignFileError("not an omnicodec file: it is empty")
    head = src.f.read(min(src.size, _PREAMBLE.size))
    if head[:4] != MAGIC[: len(head[:4])]:
        raise ForeignFileError("not an omnicodec file (magic bytes do not match)")
    if len(head) < _PREAMBLE.size:  # a prefix of a valid file
        raise TruncatedFileError(f"file is truncated: only {src.size} bytes")
    _, version, head_len = _PREAMBLE.unpack(head)
    src.pos, src.crc = _PREAMBLE.size, zlib.crc32(head)
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"file format version {version} is newer than this omnicodec reads ({FORMAT_VERSION}); upgrade omnicodec"
        )
    if version < 1:
        raise CorruptFileError(f"invalid format version {version}")
    if head_len > MAX_HEADER_BYTES:
        raise CorruptFileError(f"declared header length {head_len} is implausible")
    raw = src.read(head_len, "the header")
    (crc,) = _U32.unpack(src.read(_U32.size, "the header checksum"))
    if zlib.crc32(raw) != crc:
        raise CorruptFileError("file header is corrupt (CRC32 mismatch)")
    return parse_header(raw)


def _nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` / ``{`` outside strings (checked before ``json`` recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_HEADER_DEPTH:
                break
        elif ch in "]}":
            depth -= 1
    return deepest


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]}{'…' if len(text) > 20 else ''} is out of range")
    return value


def _parse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_header(raw: bytes) -> dict:
    """Parse header bytes into a JSON object, refusing anything omnicodec's writer cannot produce
    (too long, nested deeper than :data:`MAX_HEADER_DEPTH`, NaN / Infinity, numbers of more than
    :data:`MAX_NUMBER_CHARS` characters) with a :class:`CorruptFileError`, never another exception."""
    if len(raw) > MAX_HEADER_BYTES:
        raise CorruptFileError(f"file header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # CRC passed: written wrongly
        raise CorruptFileError(f"file header is not UTF-8 text: {exc}") from exc
    if _nesting_depth(text) > MAX_HEADER_DEPTH:
        raise CorruptFileError(f"file header is nested more than {MAX_HEADER_DEPTH} levels deep")
    try:
        header = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except (ValueError, RecursionError, MemoryError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptFileError(f"file header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CorruptFileError("file header is not a JSON object")
    return header


def _read_chunks(src: _Source) -> Iterator[tuple[str, bytes]]:
    seen: set[str] = set()
    while not src.at_trailer:
        (name_len,) = src.read(1, "a chunk header")
        if name_len == 0:
            raise CorruptFileError(f"empty chunk name at byte {src.pos - 1}")
        raw = src.read(name_len, "a chunk name")
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(f"chunk name {raw!r} is not ASCII") from exc
        (size,) = _U32.unpack(src.read(_U32.size, f"chunk {name!r}"))
        payload = src.read(size, f"chunk {name!r}")
        (crc,) = _U32.unpack(src.read(_U32.size, f"chunk {name!r}"))
        if zlib.crc32(payload) != crc:
            err = CorruptFileError(f"chunk {name!r} is corrupt (CRC32 mismatch)")
            err.chunk = name
            raise err
        if name in seen:
            raise CorruptFileError(f"chunk {name!r} appears twice")
        seen.add(name)
        yield name, payload
    expected = src.crc
    (crc,) = _U32.unpack(src.f.read(_U32.size))
    if crc != expected:
        raise CorruptFileError("file is corrupt: CRC32 mismatch")


def unpack(data: bytes) -> Container:
    """Parse and verify a whole container; raise a :class:`ContainerError` subclass if it is bad."""
    data = bytes(data)
    src = _Source(io.BytesIO(data), len(data))
    header = _read_header(src)
    return Container(header, dict(_read_chunks(src)))


def peek_version(data: bytes) -> int:
    """Check the magic and return the format version, without reading further."""
    if not data:
        raise ForeignFileError("not an omnicodec file: it is empty")
    if bytes(data[:4]) != MAGIC[: len(data[:4])]:
        raise ForeignFileError("not an omnicodec file (magic bytes do not match)")
    if len(data) < _PREAMBLE.size:
        raise TruncatedFileError(f"file is truncated: only {len(data)} bytes")
    return _PREAMBLE.unpack_from(data)[1]


class ContainerReader:
    """Stream a container file: ``header`` at once, then :meth:`chunks` one by one, each
    checked against its own CRC32 before it is returned; the file CRC is checked at the end."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = open(self.path, "rb")
        try:
            self._src = _Source(self._f, os.fstat(self._f.fileno()).st_size)
            self.header = _read_header(self._src)
        except BaseException:
            self._f.close()
            raise

    def chunks(self) -> Iterator[tuple[str, bytes]]:
        try:
            yield from _read_chunks(self._src)
        finally:
            self._f.close()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ContainerWriter(CommitOnExit):
    """Write a container chunk by chunk to a temporary file; :meth:`commit` renames it into place.

    Used as a context manager, an exception discards the temporary file, so no partial output
    is ever left behind.
    """

    def __init__(self, path: str | Path, header: dict) -> None:
        self.path = Path(path)
        head = _header_bytes(header)
        self._out = AtomicFile(self.path)
        self._crc, self.size, self._names = 0, 0, set()
        try:
            self._write(head)
        except BaseException:
            self._out.abort()
            raise

    def _write(self, data: bytes) -> None:
        self._out.file.write(data)
        self._crc = zlib.crc32(data, self._crc)
        self.size += len(data)

    def add(self, name: str, payload: bytes) -> None:
        if name in self._names:
            raise ContainerError(f"chunk {name!r} written twice")
        self._names.add(name)
        self._write(_chunk_bytes(name, payload))

    def commit(self) -> int:
        """Finish the file and move it into place; returns its size in bytes."""
        try:
            self._out.file.write(_U32.pack(self._crc))
        except BaseException:
            self._out.abort()
            raise
        self.size += _U32.size
        self._out.commit()
        return self.size

    def abort(self) -> None:
        self._out.abort()
