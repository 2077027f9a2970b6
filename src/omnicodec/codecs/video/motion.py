"""Block motion for the video codec's P-frames: search, compensation and the vectors' stream.

A frame is cut into ``block``² blocks (the last row and column padded by replication); each block
gets one integer vector within ``±reach`` pixels. The encoder finds it by full search (the mean
absolute difference to the reference on the mean of the channels, plus a small cost per pixel of
length, so that still areas keep the zero vector); the decoder only copies blocks, which is exact on
any machine.

The vectors' stream codes, per component, each vector's difference to its left neighbour (the
first column: to the one above; the first block: to zero) with one of eight fixed geometric tables,
chosen per frame and component by the encoder (the choice is the stream's first two symbols). The
tables are integer counts computed from exact fractions, the same on every machine.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from ...coding.range_coder import SymbolDecoder, SymbolEncoder
from ...coding.tables import CdfTables
from ...errors import CorruptFileError, DecodeError

BLOCKS = (8, 16, 32)
MAX_REACH = 64
LENGTH_COST = 0.03 / 255  # per pixel of vector length, against the mean absolute difference of a block
PRECISION = 16
RATIOS = tuple(Fraction(1) - Fraction(1, d) for d in (1, 2, 4, 8, 16, 32, 64)) + (Fraction(63, 64) ** 2,)


def grid(height: int, width: int, block: int) -> tuple[int, int]:
    """Rows and columns of blocks that cover a ``height``×``width`` frame."""
    return -(-height // block), -(-width // block)


def motion_search(cur: torch.Tensor, ref: torch.Tensor, block: int, reach: int) -> torch.Tensor:
    """Vectors ``[2, rows, cols]`` (int64, dy and dx) that move blocks of ``ref`` onto ``cur`` (both
    ``[1, C, H, W]``); ties keep the first candidate in raster order of (dy, dx)."""
    _, _, h, w = cur.shape
    rows, cols = grid(h, w, block)
    hp, wp = rows * block, cols * block
    # matched on the mean of the channels (a luma-like plane): a third of the work of all three
    cur = F.pad(cur.float().mean(1, keepdim=True), (0, wp - w, 0, hp - h), mode="replicate")
    ref = F.pad(ref.float().mean(1, keepdim=True), (reach, reach + wp - w, reach, reach + hp - h), mode="replicate")
    best = torch.full((rows, cols), float("inf"), device=cur.device)
    vectors = torch.zeros(2, rows, cols, dtype=torch.long, device=cur.device)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            moved = ref[..., reach + dy : reach + dy + hp, reach + dx : reach + dx + wp]
            cost = F.avg_pool2d((cur - moved).abs(), block)[0, 0]
            cost = cost + LENGTH_COST * (abs(dy) + abs(dx))
            better = cost < best
            best = torch.where(better, cost, best)
            vectors[0][better], vectors[1][better] = dy, dx
    return vectors


def compensate(ref: torch.Tensor, vectors: torch.Tensor, block: int) -> torch.Tensor:
    """``ref`` ([1, C, H, W]) with every block taken from where its vector points (edges replicated):
    a prediction of the frame the vectors were searched for. Copies only, so exact in any dtype."""
    _, _, h, w = ref.shape
    rows, cols = vectors.shape[1:]
    reach = int(vectors.abs().max()) if vectors.numel() else 0
    hp, wp = rows * block, cols * block
    padded = F.pad(ref, (reach, reach + max(wp - w, 0), reach, reach + max(hp - h, 0)), mode="replicate")
    # gather indices: for every pixel of the padded frame, the source row and column
    ys = torch.arange(hp, device=ref.device).view(rows, block)
    xs = torch.arange(wp, device=ref.device).view(cols, block)
    src_y = (ys[:, None, :, None] + vectors[0][:, :, None, None] + reach).expand(rows, cols, block, block)
    src_x = (xs[None, :, None, :] + vectors[1][:, :, None, None] + reach).expand(rows, cols, block, block)
    src_y = src_y.permute(0, 2, 1, 3).reshape(hp, wp)
    src_x = src_x.permute(0, 2, 1, 3).reshape(hp, wp)
    flat = padded.flatten(2)[..., (src_y * padded.shape[-1] + src_x).reshape(-1)]
    return flat.view(*ref.shape[:2], hp, wp)[..., :h, :w]


@cache
def vector_tables(reach: int) -> CdfTables:
    """Eight geometric tables over the differences ``-2 reach … 2 reach`` (+ an escape), then a
    uniform table over the eight choices."""
    span = 2 * reach
    rows, lengths, offsets = [], [], []
    for ratio in RATIOS:
        weights = [ratio ** abs(v) for v in range(-span, span + 1)]
        rows.append(_integer_counts(weights + [Fraction(0)]))
        lengths.append(len(weights) + 1)
        offsets.append(-span)
    rows.append(_integer_counts([Fraction(1)] * len(RATIOS) + [Fraction(0)]))
    lengths.append(len(RATIOS) + 1)
    offsets.append(0)
    cdf = np.concatenate([np.concatenate([[0], np.cumsum(r)]) for r in rows])
    return CdfTables(cdf, np.array(lengths), np.array(offsets), PRECISION)


def _integer_counts(weights: list[Fraction]) -> np.ndarray:
    """Counts summing to ``2**PRECISION``, each at least 1, the rest in proportion to ``weights``
    (largest remainders first, ties to the lower index): exact rational arithmetic."""
    total, n = 1 << PRECISION, len(weights)
    s = sum(weights)
    shares = [w / s * (total - n) for w in weights]
    counts = [int(x) + 1 for x in shares]  # floor: shares are non-negative
    order = sorted(range(n), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return np.array(counts, dtype=np.int64)


def _differences(vectors: np.ndarray) -> np.ndarray:
    """Each vector minus its left neighbour (first column: the one above; first block: zero)."""
    pred = np.zeros_like(vectors)
    pred[:, :, 1:] = vectors[:, :, :-1]
    pred[:, 1:, 0] = vectors[:, :-1, 0]
    return vectors - pred


def _undifferences(diffs: np.ndarray) -> np.ndarray:
    vectors = np.zeros_like(diffs)
    rows, cols = diffs.shape[1:]
    for i in range(rows):
        vectors[:, i, 0] = diffs[:, i, 0] + (vectors[:, i - 1, 0] if i else 0)
        vectors[:, i, 1:] = np.cumsum(diffs[:, i, 1:], axis=-1) + vectors[:, i, :1]
    return vectors


def encode_vectors(vectors: torch.Tensor, reach: int) -> bytes:
    """The stream of ``vectors`` ([2, rows, cols], each component within ``±reach``)."""
    v = vectors.cpu().numpy().astype(np.int64)
    if v.size and int(np.abs(v).max()) > reach:
        raise ValueError(f"motion vectors beyond ±{reach} pixels")
    diffs = _differences(v).astype(np.int32)
    tables = vector_tables(reach)
    choices = []
    for component in diffs:
        flat = component.reshape(-1)
        bits = [tables.bits(flat, np.full(flat.shape, t, np.int32)) for t in range(len(RATIOS))]
        choices.append(int(np.argmin(bits)))
    encoder = SymbolEncoder()
    encoder.encode(np.array(choices, np.int32), np.full(2, len(RATIOS), np.int32), tables)
    for component, choice in zip(diffs, choices):
        flat = component.reshape(-1)
        encoder.encode(flat, np.full(flat.shape, choice, np.int32), tables)
    return encoder.finish()


def decode_vectors(data: bytes, rows: int, cols: int, reach: int, what: str = "the motion vectors") -> torch.Tensor:
    """The inverse of :func:`encode_vectors` for a ``rows``×``cols`` grid; a stream that does not
    decode to vectors within ``±reach`` raises :class:`CorruptFileError` naming ``what``."""
    tables = vector_tables(reach)
    try:
        decoder = SymbolDecoder(data)
        choices = decoder.decode(np.full(2, len(RATIOS), np.int32), tables)
        if not all(0 <= int(c) < len(RATIOS) for c in choices):
            raise CorruptFileError(f"{what} are corrupt: unknown table")
        diffs = np.stack([decoder.decode(np.full(rows * cols, int(c), np.int32), tables) for c in choices])
        decoder.finish()
    except DecodeError as exc:
        raise CorruptFileError(f"{what} are corrupt: {exc}") from None
    vectors = _undifferences(diffs.reshape(2, rows, cols).astype(np.int64))
    if vectors.size and int(np.abs(vectors).max()) > reach:
        raise CorruptFileError(f"{what} are corrupt: a vector points beyond ±{reach} pixels")
    return torch.from_numpy(vectors)
