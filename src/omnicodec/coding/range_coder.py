"""Range coding of int32 symbols with per-symbol integer tables, on constriction.

A stream is written by one :class:`SymbolEncoder` (a ``constriction.stream.queue``
range coder) through any number of :meth:`~SymbolEncoder.encode` calls, and read back by a
:class:`SymbolDecoder` with the same sequence of calls. Calls let a latent codec code its
latent in several passes (checkerboard anchors, then non-anchors; channel slices) in *one*
stream, where the decoder needs the symbols of a pass to compute the tables of the next.

Layout of one call:

1. the symbols' table indices, grouped by table in increasing table order and, within a
   table, in raster order of their positions. Grouping lets each table's symbols be coded
   with one vectorised call; the decoder knows every position's table index, so it can
   regroup.
2. for every escaped value, in raster order: its bit length ``k`` (uniform over 0..32);
3. then, for those escapes, the ``k`` bits below the leading one, most significant first
   (uniform bits). This is Elias-gamma coding of ``zigzag(value) + 1``, so any int32 round-trips.

After the last call, :meth:`SymbolEncoder.finish` codes a 16-bit check value (uniform): the
CRC32, folded to 16 bits, of every call's table indices and symbols. The decoder computes
the same over the indices it derived and the symbols it read, and :meth:`SymbolDecoder.finish`
raises :class:`DecodeError` when they differ: a decoder whose probability tables drifted from
the encoder's (a different skip set, an ulp in a scale) fails loudly instead of returning
garbage. It costs 16 bits per stream.

Only integer tables reach the coder: probabilities are ``counts / 2**precision``, exact in
float64, and constriction's models are built with ``perfect=False`` on both sides.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import metadata

import numpy as np

from ..errors import CodingError, DecodeError
from .tables import CdfTables

CODER_NAME = "constriction-range"
_MAX_GAMMA_BITS = 32  # zigzag(int32) + 1 <= 2**32
_CHECK_SIZE = 1 << 16


def _update_check(check: int, table_index: np.ndarray, symbols: np.ndarray) -> int:
    check = zlib.crc32(np.ascontiguousarray(table_index, dtype="<i4").data, check)
    return zlib.crc32(np.ascontiguousarray(symbols, dtype="<i4").data, check)


def coder_identity() -> dict:
    """What a decoder needs to know about the coder that wrote a stream."""
    try:
        version = metadata.version("constriction")
    except metadata.PackageNotFoundError:  # pragma: no cover - constriction is a dependency
        version = "unknown"
    return {"name": CODER_NAME, "constriction": version}


def _flat_inputs(table_index: np.ndarray, tables: CdfTables) -> np.ndarray:
    """Table indices as a flat int32 array (no copy when they already are)."""
    t = np.asarray(table_index)
    if not np.issubdtype(t.dtype, np.integer):
        raise CodingError(f"table indices must be integers, got {t.dtype}")
    t = t.ravel()
    if t.size and (t.min() < 0 or t.max() >= tables.num_tables):
        raise CodingError(
            f"table index out of range [0, {tables.num_tables}): {int(t.min())}..{int(t.max())}"
        )
    return t.astype(np.int32, copy=False)


def _groups(t: np.ndarray, n_tables: int):
    """``(table, positions)`` of each used table in increasing order, positions in raster order.

    One table at a time, so the working memory is a mask and one table's positions, not a
    sort of every position (latents of large images hold tens of millions of symbols).
    """
    counts = np.bincount(t, minlength=n_tables)
    if np.count_nonzero(counts) == 1:
        yield int(np.flatnonzero(counts)[0]), slice(None)
        return
    for table in np.flatnonzero(counts):
        yield int(table), np.flatnonzero(t == table)


class InformationMeter:
    """The information content, in bits, of everything encoded while it is active.

    Counts what the coder is charged for: each symbol's ``-log2 p`` under its integer table
    (an escaped value's escape symbol, plus its bit length and payload bits), over every
    stream. The streams' real size exceeds it only by the coder's flush and the 16-bit check
    value per stream.
    """

    def __init__(self) -> None:
        self.bits = 0.0
        self.symbols = 0


_METERS: ContextVar[tuple[InformationMeter, ...]] = ContextVar("omnicodec_information_meters", default=())


@contextmanager
def information_meter() -> Iterator[InformationMeter]:
    """``with information_meter() as m: ...`` sums the information content of what is coded inside."""
    meter = InformationMeter()
    token = _METERS.set(_METERS.get() + (meter,))
    try:
        yield meter
    finally:
        _METERS.reset(token)


class SymbolEncoder:
    """Accumulates symbols into one range-coded stream; :meth:`finish` returns its bytes."""

    def __init__(self) -> None:
        import constriction

        self._constriction = constriction
        self._encoder = constriction.stream.queue.RangeEncoder()
        self._check = 0

    def encode(self, symbols: np.ndarray, table_index: np.ndarray, tables: CdfTables) -> None:
        """Append integer ``symbols``; position ``i`` uses table ``table_index[i]``."""
        model = self._constriction.stream.model
        s = np.asarray(symbols)
        if not np.issubdtype(s.dtype, np.integer):
            raise CodingError(f"symbols must be integers, got {s.dtype}")
        if s.shape != np.shape(table_index):
            raise CodingError(f"symbols {s.shape} and table indices {np.shape(table_index)} differ in shape")
        s = s.ravel()
        if s.size and (s.min() < -(2**31) or s.max() > 2**31 - 1):
            raise CodingError("symbols must fit in int32")
        s = s.astype(np.int32, copy=False)
        t = _flat_inputs(table_index, tables)
        self._check = _update_check(self._check, t, s)

        # index of each symbol in its table; values far outside every table are escaped
        # anyway, so clipping them first keeps the arithmetic in int32 without overflow
        idx = np.clip(s, -(2**30), 2**30)
        idx -= tables.offsets[t]
        escape = tables.lengths[t]
        escape -= 1
        escaped = idx < 0
        escaped |= idx >= escape
        np.copyto(idx, escape, where=escaped)
        del escape

        for table, positions in _groups(t, tables.num_tables):
            self._encoder.encode(idx[positions], tables.model(table))
        del idx

        nbits = None
        if escaped.any():
            u = _zigzag(s[escaped]) + 1
            nbits = (np.frexp(u.astype(np.float64))[1] - 1).astype(np.int32)  # floor(log2 u), exact
            self._encoder.encode(nbits, model.Uniform(_MAX_GAMMA_BITS + 1))
            bits = _low_bits(u, nbits)
            if bits.size:
                self._encoder.encode(bits, model.Uniform(2))
        meters = _METERS.get()
        if meters and s.size:
            info = tables.bits(s, t)
            if nbits is not None:
                info += nbits.size * math.log2(_MAX_GAMMA_BITS + 1) + float(nbits.sum())
            for meter in meters:
                meter.bits += info
                meter.symbols += int(s.size)

    def finish(self) -> bytes:
        check = np.array([self._check & (_CHECK_SIZE - 1)], dtype=np.int32)
        self._encoder.encode(check, self._constriction.stream.model.Uniform(_CHECK_SIZE))
        return self._encoder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    """Reads a stream written by :class:`SymbolEncoder`, call by call.

    Raises :class:`DecodeError` when the data is malformed; :meth:`finish` raises it when
    the stream holds more than the calls consumed.
    """

    def __init__(self, data: bytes) -> None:
        import constriction

        self._constriction = constriction
        if len(data) % 4:
            raise DecodeError(f"a range-coded stream is a whole number of 32-bit words, got {len(data)} bytes")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            self._decoder = constriction.stream.queue.RangeDecoder(words)
        except Exception as exc:  # pragma: no cover - constriction accepts any word array
            raise DecodeError(f"range decoder rejected the stream: {exc}") from exc
        self._check = 0

    def decode(self, table_index: np.ndarray, tables: CdfTables) -> np.ndarray:
        """Decode one :meth:`SymbolEncoder.encode` call; int32 with ``table_index``'s shape."""
        model = self._constriction.stream.model
        shape = np.shape(table_index)
        t = _flat_inputs(table_index, tables)
        try:
            values = np.empty(t.size, dtype=np.int32)  # first the index in the table, then the value
            for table, positions in _groups(t, tables.num_tables):
                n = t.size if isinstance(positions, slice) else positions.size
                values[positions] = self._decoder.decode(tables.model(table), int(n))

            escape = tables.lengths[t]
            escape -= 1
            escaped = values == escape
            del escape
            values += tables.offsets[t]  # indices and offsets are small: no int32 overflow
            n_esc = int(escaped.sum())
            if n_esc:
                nbits = self._decoder.decode(model.Uniform(_MAX_GAMMA_BITS + 1), n_esc).astype(np.int64)
                total = int(nbits.sum())
                bits = self._decoder.decode(model.Uniform(2), total) if total else np.zeros(0)
                u = _from_low_bits(bits.astype(np.int64), nbits)
                escapes = _unzigzag(u - 1)
                if escapes.min() < -(2**31) or escapes.max() > 2**31 - 1:
                    raise DecodeError("decoded value does not fit in int32")
                values[escaped] = escapes
        except DecodeError:
            raise
        except Exception as exc:  # constriction reports malformed data with various types
            raise DecodeError(f"range decoder failed: {exc}") from exc
        self._check = _update_check(self._check, t, values)
        return values.reshape(shape)

    def finish(self) -> None:
        """Check the encoder's check value and that the stream is used up."""
        try:
            check = int(self._decoder.decode(self._constriction.stream.model.Uniform(_CHECK_SIZE), 1)[0])
        except Exception as exc:
            raise DecodeError(f"range decoder failed: {exc}") from exc
        if check != self._check & (_CHECK_SIZE - 1):
            raise DecodeError(
                "decoder desynchronised: its table indices or symbols differ from the encoder's "
                "(different entropy parameters on this machine, or a damaged stream)"
            )
        if not self._decoder.maybe_exhausted():
            raise DecodeError("stream holds more data than its symbols need (desynchronised or corrupt)")


def encode(symbols: np.ndarray, table_index: np.ndarray, tables: CdfTables) -> bytes:
    """Encode integer ``symbols`` (one call) into a stream of its own."""
    encoder = SymbolEncoder()
    encoder.encode(symbols, table_index, tables)
    return encoder.finish()


def decode(data: bytes, table_index: np.ndarray, tables: CdfTables) -> np.ndarray:
    """Decode a stream written by :func:`encode` and check that nothing is left over."""
    decoder = SymbolDecoder(data)
    values = decoder.decode(table_index, tables)
    decoder.finish()
    return values


def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    return np.where(z % 2 == 0, z // 2, -(z + 1) // 2)


def _low_bits(u: np.ndarray, nbits: np.ndarray) -> np.ndarray:
    """All bits of each ``u`` below its leading one, most significant first, concatenated."""
    nbits = nbits.astype(np.int64)
    total = int(nbits.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.cumsum(nbits) - nbits
    owner = np.repeat(np.arange(u.size), nbits)
    local = np.arange(total) - starts[owner]
    shift = nbits[owner] - 1 - local
    return ((u[owner] >> shift) & 1).astype(np.int32)


def _from_low_bits(bits: np.ndarray, nbits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_low_bits`: rebuild each ``u`` from its bits and its bit length."""
    u = np.left_shift(np.int64(1), nbits)  # the implicit leading one
    total = int(nbits.sum())
    if total:
        starts = np.cumsum(nbits) - nbits
        owner = np.repeat(np.arange(nbits.size), nbits)
        shift = nbits[owner] - 1 - (np.arange(total) - starts[owner])
        np.add.at(u, owner, bits << shift)
    return u
