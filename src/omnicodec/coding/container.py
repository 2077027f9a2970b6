"""The omnicodec file format.

::

    offset  size  field
    0       4     magic  b"\\x89OMC"   (first byte non-ASCII, like PNG, so text tools balk)
    4       2     format version, uint16 little-endian
    6       4     header length H, uint32 little-endian
    10      H     header: UTF-8 JSON object (codec id, quality, weights sha256 prefix,
                  coder identity, media description, stream shapes and side info)
    ...           chunks, repeated until the trailer:
                    1      name length L (1..255)
                    L      name, ASCII
                    4      payload length P, uint32 little-endian
                    P      payload
    end-4   4     CRC32 of every byte before it, uint32 little-endian

No pickle, no code: the header is plain JSON and the chunks are opaque bytes. Declared
lengths are only ever compared with the bytes actually present; nothing is allocated from a
declared size. Readers check, in this order: magic (foreign file), version (future file),
structure (truncation), CRC32 (corruption), then the JSON header.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import (
    ContainerError,
    CorruptFileError,
    ForeignFileError,
    TruncatedFileError,
    UnsupportedVersionError,
)

MAGIC = b"\x89OMC"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<4sHI")
_CRC = struct.Struct("<I")
_LEN = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20  # a header is a few hundred bytes; refuse absurd declarations


@dataclass
class Container:
    """A parsed file: its JSON header and its named chunks, in file order."""

    header: dict
    chunks: dict[str, bytes] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return pack(self.header, self.chunks)


def pack(header: dict, chunks: dict[str, bytes]) -> bytes:
    """Serialise a header and named chunks into the container format."""
    try:
        head = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ContainerError(f"header is not plain JSON data: {exc}") from exc
    if len(head) > MAX_HEADER_BYTES:
        raise ContainerError(f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    parts = [_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(head)), head]
    for name, payload in chunks.items():
        raw = name.encode("ascii") if name.isascii() else b""
        if not 1 <= len(raw) <= 255:
            raise ContainerError(f"chunk name {name!r} must be 1..255 ASCII characters")
        payload = bytes(payload)
        if len(payload) > 0xFFFFFFFF:
            raise ContainerError(f"chunk {name!r} is larger than 4 GiB")
        parts += [bytes([len(raw)]), raw, _LEN.pack(len(payload)), payload]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


def peek_version(data: bytes) -> int:
    """Check the magic and return the format version, without reading further."""
    if not data:
        raise ForeignFileError("not an omnicodec file: it is empty")
    if data[: len(MAGIC)] != MAGIC:
        if len(data) < len(MAGIC) and MAGIC.startswith(bytes(data)):
            raise TruncatedFileError(f"file is truncated: only {len(data)} bytes")
        raise ForeignFileError("not an omnicodec file (magic bytes do not match)")
    if len(data) < _PREAMBLE.size:
        raise TruncatedFileError(f"file is truncated: only {len(data)} bytes")
    _, version, _ = _PREAMBLE.unpack_from(data)
    return version


def unpack(data: bytes) -> Container:
    """Parse and verify a container; raise a :class:`ContainerError` subclass if it is bad."""
    data = bytes(data)
    version = peek_version(data)
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"file format version {version} is newer than this omnicodec reads ({FORMAT_VERSION}); upgrade omnicodec"
        )
    if version < 1:
        raise CorruptFileError(f"invalid format version {version}")
    _, _, head_len = _PREAMBLE.unpack_from(data)
    end = len(data) - _CRC.size  # where the chunks must stop
    pos = _PREAMBLE.size
    raw_chunks: list[tuple[bytes, bytes]] = []
    structure_error = None
    if head_len > MAX_HEADER_BYTES:
        structure_error = CorruptFileError(f"declared header length {head_len} is implausible")
    elif pos + head_len > end:
        structure_error = TruncatedFileError("file is truncated inside its header")
    else:
        head = data[pos : pos + head_len]
        pos += head_len
        while pos < end and structure_error is None:
            name_len = data[pos]
            if name_len == 0:
                structure_error = CorruptFileError(f"empty chunk name at byte {pos}")
                break
            if pos + 1 + name_len + _LEN.size > end:
                structure_error = TruncatedFileError(f"file is truncated inside a chunk header at byte {pos}")
                break
            name = data[pos + 1 : pos + 1 + name_len]
            (size,) = _LEN.unpack_from(data, pos + 1 + name_len)
            pos += 1 + name_len + _LEN.size
            if pos + size > end:
                structure_error = TruncatedFileError(
                    f"file is truncated: chunk {name[:32]!r} declares {size} bytes, {max(end - pos, 0)} remain"
                )
                break
            raw_chunks.append((name, data[pos : pos + size]))
            pos += size
    if structure_error is not None:
        # A wrong length field and a short file look alike; the CRC cannot be trusted either
        # way, so report the structural problem, which names what is missing.
        raise structure_error
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(data[:end]) != crc:
        raise CorruptFileError("file is corrupt: CRC32 mismatch")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # CRC passed: written wrongly
        raise CorruptFileError(f"file header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CorruptFileError("file header is not a JSON object")
    chunks: dict[str, bytes] = {}
    for name, payload in raw_chunks:
        try:
            key = name.decode("ascii")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(f"chunk name {name!r} is not ASCII") from exc
        if key in chunks:
            raise CorruptFileError(f"chunk {key!r} appears twice")
        chunks[key] = payload
    return Container(header, chunks)
