"""Integer CDF tables: the only probabilities the range coder ever sees.

A table set holds ``n`` discrete distributions. Table ``t`` describes the integer values
``offsets[t] .. offsets[t] + lengths[t] - 2``; its last symbol (index ``lengths[t] - 1``)
is the *escape* that announces a value outside that range (see :mod:`.range_coder`).
Each distribution is a cumulative count of ``lengths[t] + 1`` entries, from 0 to
``2**precision``; every symbol has a count of at least one, so every value stays codable.
The rows are stored back to back in one flat int32 array ``cdf`` (row ``t`` starts at
``starts[t]``): a Gaussian scale table mixes rows of 3 and of 3000 entries, and padding
every row to the longest would multiply the size by seven.

Tables are built once, when a model is frozen or exported, from probability mass functions
computed in float64. They are shipped as int32 arrays inside the weights and never rebuilt by
a decoder, so encoder and decoder agree on every probability bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import CodingError

DEFAULT_PRECISION = 16
MAX_PRECISION = 24  # constriction's default range coder quantizes to 24 bits


def quantize_pmf(probabilities: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
    """Turn a non-negative vector into integer counts summing to ``2**precision``.

    Every entry gets at least 1. The remaining mass is shared in proportion to the input,
    and the rounding remainder goes to the entries with the largest fractional parts, so
    the result is deterministic for a given float64 input.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise CodingError("a pmf must be a non-empty 1-D array")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise CodingError("a pmf must be finite and non-negative")
    if not 1 <= precision <= MAX_PRECISION:
        raise CodingError(f"precision must be in 1..{MAX_PRECISION}, got {precision}")
    total = 1 << precision
    n = p.size
    if n > total:
        raise CodingError(f"{n} symbols do not fit a {precision}-bit table")
    s = p.sum()
    p = p / s if s > 0 else np.full(n, 1.0 / n)
    share = p * (total - n)
    counts = np.floor(share).astype(np.int64) + 1
    remainder = total - int(counts.sum())
    if remainder > 0:
        frac = share - np.floor(share)
        # stable sort on -frac: ties go to the lower index, reproducibly
        winners = np.argsort(-frac, kind="stable")[:remainder]
        counts[winners] += 1
    return counts


@dataclass
class CdfTables:
    """A set of integer CDF tables (see the module docstring for the layout)."""

    cdf: np.ndarray  # int32 [sum(lengths + 1)], the rows back to back
    lengths: np.ndarray  # int32 [n_tables], symbols per table including the escape
    offsets: np.ndarray  # int32 [n_tables], the value coded by symbol 0
    precision: int = DEFAULT_PRECISION
    _models: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.cdf = np.ascontiguousarray(self.cdf, dtype=np.int32).reshape(-1)
        self.lengths = np.ascontiguousarray(self.lengths, dtype=np.int32).reshape(-1)
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int32).reshape(-1)
        self.precision = int(self.precision)
        self.starts = (np.cumsum(self.lengths.astype(np.int64) + 1) - (self.lengths.astype(np.int64) + 1))
        self.validate()

    def __getstate__(self) -> dict:
        # constriction's models cannot be pickled or deep-copied; they are rebuilt on demand
        state = dict(self.__dict__)
        state["_models"] = {}
        return state

    @property
    def num_tables(self) -> int:
        return int(self.lengths.shape[0])

    def validate(self) -> None:
        """Check the invariants the coder relies on; raise :class:`CodingError` if broken."""
        n = self.num_tables
        if self.offsets.shape[0] != n:
            raise CodingError("CDF tables need one offset per table")
        if not 1 <= self.precision <= MAX_PRECISION:
            raise CodingError(f"table precision {self.precision} is out of range")
        if np.any(self.lengths < 2):
            raise CodingError("every CDF table needs at least one value and the escape")
        if self.cdf.shape[0] != int(np.sum(self.lengths.astype(np.int64) + 1)):
            raise CodingError("CDF array length does not match the table lengths")
        if n == 0:
            return
        ends = self.starts + self.lengths
        if np.any(self.cdf[self.starts] != 0) or np.any(self.cdf[ends] != 1 << self.precision):
            raise CodingError("CDF tables do not start at 0 and end at 2**precision")
        steps = np.diff(self.cdf.astype(np.int64))
        inside = np.ones(steps.shape[0], dtype=bool)
        inside[ends[:-1]] = False  # the step from one row's end to the next row's start
        if np.any(steps[inside] < 1):
            raise CodingError("CDF tables must be strictly increasing over their support")

    def row(self, t: int) -> np.ndarray:
        """The cumulative counts of table ``t`` (``lengths[t] + 1`` entries)."""
        start = int(self.starts[t])
        return self.cdf[start : start + int(self.lengths[t]) + 1]

    def probabilities(self, t: int) -> np.ndarray:
        """The exact float64 probabilities of table ``t`` (counts / 2**precision)."""
        return np.diff(self.row(t).astype(np.int64)).astype(np.float64) / float(1 << self.precision)

    def model(self, t: int):
        """constriction's categorical model of table ``t`` (built lazily, then cached)."""
        m = self._models.get(t)
        if m is None:
            import constriction

            m = constriction.stream.model.Categorical(self.probabilities(t), perfect=False)
            self._models[t] = m
        return m

    def bits(self, symbols: np.ndarray, table_index: np.ndarray) -> float:
        """Information content in bits of ``symbols`` under these tables.

        Escaped values are charged their escape symbol only; the coder adds their payload.
        """
        t = np.asarray(table_index, dtype=np.int64).ravel()
        idx = np.asarray(symbols, dtype=np.int64).ravel() - self.offsets[t]
        last = self.lengths[t].astype(np.int64) - 1
        idx = np.where((idx < 0) | (idx >= last), last, idx)
        pos = self.starts[t] + idx
        counts = self.cdf[pos + 1].astype(np.int64) - self.cdf[pos]
        return float(np.sum(self.precision - np.log2(counts)))


def build_tables(
    pmfs: Sequence[np.ndarray],
    offsets: Sequence[int],
    precision: int = DEFAULT_PRECISION,
) -> CdfTables:
    """Build tables from per-table probability mass functions over consecutive integers.

    ``pmfs[t][k]`` is the probability of value ``offsets[t] + k``. The mass missing from
    each pmf (its tail) becomes the probability of the escape symbol, with a floor of one
    count so that out-of-range values stay codable.
    """
    if len(pmfs) != len(offsets):
        raise CodingError("need one offset per pmf")
    rows = []
    for pmf in pmfs:
        pmf = np.asarray(pmf, dtype=np.float64).ravel()
        tail = max(1.0 - float(pmf.sum()), 0.0)
        rows.append(quantize_pmf(np.concatenate([pmf, [tail]]), precision))
    lengths = np.array([r.size for r in rows], dtype=np.int32)
    cdf = [np.concatenate([[0], np.cumsum(counts)]) for counts in rows]
    flat = np.concatenate(cdf).astype(np.int32) if cdf else np.zeros(0, dtype=np.int32)
    return CdfTables(flat, lengths, np.asarray(offsets, dtype=np.int32), precision)
