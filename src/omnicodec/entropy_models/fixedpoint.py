"""Fixed-point arithmetic that gives the same integers on every machine.

The exact entropy-parameter networks (:mod:`.exact`) carry activations as integers in
units of ``2**-ACT_BITS``, held in float64 tensors. This module has the operations beyond
convolutions that they need, each defined so that its result does not depend on the
device, the thread count or the order of a summation:

- sums and products run on integers of bounded magnitude: in float64 below ``2**53``
  (exact in any order), or in int64 where second moments need more room;
- divisions are floor divisions of integers, square roots are integer square roots
  (``floor(sqrt(n))``); both are computed in floating point and then corrected by an
  integer comparison, so an ulp of difference in ``/`` or ``sqrt`` cannot change them;
- non-linear functions (``tanh``, ELU, GELU, ``exp``, ``sigmoid``) are integer tables,
  ``round(scale * f(k / 2**ACT_BITS))`` over a range of ``k`` beyond which the rounded
  value is constant or the identity. A table is computed with the platform's float64
  ``math`` functions, and every entry whose value lies within ``1e-6`` of a rounding tie is
  recomputed with Python's ``decimal`` module (software arithmetic, correctly rounded
  ``exp`` and ``ln``, the same everywhere); libm errors are below ``1e-12`` here, so no
  other entry can round differently on another platform. Tables are built once per process.

On top of these: ``softmax`` (exp table, exact sum, rounded division), L2 normalisation
and LayerNorm (int64 sums, integer square root, floor division) and bilinear sampling
(integer corner weights). Probabilities carry ``PROB_BITS`` fractional bits.

Every constant and table here is part of the file format: changing one changes the
parameters a decoder derives, so it needs a new scheme name (``exact.SCHEME``).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from functools import cache

import torch

WEIGHT_BITS = 20
ACT_BITS = 12
SLOPE_BITS = 16
PROB_BITS = 16
EXACT_LIMIT = 2**53 - 1
ONE = 1 << ACT_BITS

TANH_RANGE = 6 << ACT_BITS  # beyond ±6, round(2**ACT_BITS * tanh) is ±2**ACT_BITS
ELU_RANGE = 10 << ACT_BITS  # below -10, round(2**ACT_BITS * (exp(x) - 1)) is -2**ACT_BITS
GELU_RANGE = 6 << ACT_BITS  # beyond ±6, round(2**ACT_BITS * gelu(x)) is 0 or 2**ACT_BITS * x
EXP_RANGE = 12 << ACT_BITS  # below -12, round(2**PROB_BITS * exp(x)) is 0
SIGMOID_RANGE = 12 << ACT_BITS  # beyond ±12, round(2**(ACT_BITS + 4) * sigmoid(x)) is 0 or 2**(ACT_BITS + 4)
SAMPLE_LIMIT = 2**28  # |values| for bilinear sampling: 2**(2*ACT_BITS) corner weight * 2**28 < 2**53
NORM_LIMIT = 2**22  # |inputs| of L2 normalisation and LayerNorm (1024 in real units; int64 sums of squares)
VALUE_LIMIT = 2**32  # |values| mixed by probabilities: (2**PROB_BITS + n) * 2**32 < 2**53 for n < 2**20

_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")


# --- tables ---------------------------------------------------------------------------------


def _decimal_erf(x: Decimal) -> Decimal:
    """erf by its Maclaurin series (|x| <= 5, working precision set by the caller)."""
    total, term, n = Decimal(0), x, 0  # term = (-1)^n x^(2n+1) / n!
    while True:
        piece = term / (2 * n + 1)
        total += piece
        if abs(piece) < Decimal(10) ** -40:
            break
        n += 1
        term = -term * x * x / n
    return 2 / _PI.sqrt() * total


def _float_f(name: str, x: float) -> float:
    if name == "tanh":
        return math.tanh(x)
    if name == "elu":
        return math.expm1(x)
    if name == "gelu":
        return 0.5 * x * math.erfc(-x / math.sqrt(2.0))
    if name == "exp":
        return math.exp(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-x))
    raise ValueError(name)  # pragma: no cover - internal


def _decimal_f(name: str, x: Decimal) -> Decimal:
    if name == "tanh":
        e = (2 * x).exp()
        return (e - 1) / (e + 1)
    if name == "elu":
        return x.exp() - 1
    if name == "gelu":
        return x * (1 + _decimal_erf(x / Decimal(2).sqrt())) / 2
    if name == "exp":
        return x.exp()
    if name == "sigmoid":
        return 1 / (1 + (-x).exp())
    raise ValueError(name)  # pragma: no cover - internal


def rounded_decimal(name: str, k: int, scale_bits: int) -> int:
    """``round(2**scale_bits * f(k / 2**ACT_BITS))`` in exact decimal arithmetic (ties to even)."""
    with localcontext() as ctx:
        ctx.prec = 60
        value = _decimal_f(name, Decimal(k) / Decimal(ONE)) * Decimal(2**scale_bits)
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


_TABLES = {  # name: (first k, last k, output fractional bits)
    "tanh": (-TANH_RANGE, TANH_RANGE, ACT_BITS),
    "elu": (-ELU_RANGE, 0, ACT_BITS),
    "gelu": (-GELU_RANGE, GELU_RANGE, ACT_BITS),
    "exp": (-EXP_RANGE, 0, PROB_BITS),
    "sigmoid": (-SIGMOID_RANGE, SIGMOID_RANGE, ACT_BITS + 4),
}


@cache
def table(name: str) -> torch.Tensor:
    """Table ``name`` (see ``_TABLES``) as float64 integers, entry ``i`` for ``k = first + i``."""
    first, last, bits = _TABLES[name]
    scale = float(2**bits)
    ints = []
    for k in range(first, last + 1):
        v = _float_f(name, k / ONE) * scale
        low = math.floor(v)
        if abs(v - low - 0.5) < 1e-6:  # too close to a tie to trust the platform's last bits
            ints.append(rounded_decimal(name, k, bits))
        else:
            ints.append(low + (v - low > 0.5))
    return torch.tensor(ints, dtype=torch.float64)


@cache
def _table_on(name: str, device: str) -> torch.Tensor:
    return table(name).to(device)


def lookup(name: str, h: torch.Tensor) -> torch.Tensor:
    """Table ``name`` at integer-valued ``h`` (clamped into the table's range)."""
    first, last, _ = _TABLES[name]
    return _table_on(name, str(h.device))[(h.clamp(first, last) - first).long()]


def tanh(h: torch.Tensor) -> torch.Tensor:
    return lookup("tanh", h)


def elu(h: torch.Tensor) -> torch.Tensor:
    return torch.where(h < 0, lookup("elu", h), h)


def gelu(h: torch.Tensor) -> torch.Tensor:
    return torch.where(h > GELU_RANGE, h, torch.where(h < -GELU_RANGE, torch.zeros_like(h), lookup("gelu", h)))


def fixed(value: float, bits: int) -> int:
    """``round(value * 2**bits)`` of a Python float, exactly (ties to even)."""
    return round(Fraction(value) * 2**bits)


# --- integer arithmetic -----------------------------------------------------------------------


def floor_div(num: torch.Tensor, den: torch.Tensor | int) -> torch.Tensor:
    """``floor(num / den)`` for float64 integers with ``|num| < 2**52`` and ``0 < den < 2**52``."""
    q = torch.floor(num / den)
    r = num - q * den  # exact: every term is an integer below 2**53
    return q - (r < 0).double() + (r >= den).double()


def round_div(num: torch.Tensor, den: torch.Tensor | int) -> torch.Tensor:
    """``floor(num / den + 1/2)`` under the same bounds (``|num| < 2**50``)."""
    return floor_div(2 * num + den, 2 * den)


def isqrt(n: torch.Tensor) -> torch.Tensor:
    """``floor(sqrt(n))`` of int64 ``0 <= n < 2**62`` (int64): float estimate, then integer correction."""
    s = torch.sqrt(n.double()).floor().long()
    for _ in range(2):
        s = s - (s * s > n).long()
        s = s + ((s + 1) * (s + 1) <= n).long()
    return s


def isqrt_float(n: torch.Tensor) -> torch.Tensor:
    """``floor(sqrt(n))`` of float64 integers ``0 <= n < 2**52``, in float64: the same integers as
    :func:`isqrt` without leaving float64. A correctly rounded ``sqrt`` (IEEE 754) gives them
    already; the integer correction keeps them where a ``sqrt`` is not (the root is below ``2**26``,
    so each square in it is an exact float64 integer)."""
    s = torch.sqrt(n).floor_()
    s = s - (s * s > n).double()
    return s + ((s + 1) * (s + 1) <= n).double()


def shift_floor(h: torch.Tensor, bits: int) -> torch.Tensor:
    """``floor(h / 2**bits)`` of float64 integers (division by a power of two is exact)."""
    return torch.floor(h * 2.0**-bits)


# --- composite operations -----------------------------------------------------------------


def softmax(h: torch.Tensor, dim: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax of logits ``h`` (units ``2**-ACT_BITS``) along ``dim``, in units ``2**-PROB_BITS``.

    ``mask`` (broadcastable, True = excluded) gives probability 0. The largest logit maps to
    ``2**PROB_BITS``, so the sum is at least that; each probability is a rounded division.
    """
    if mask is not None:
        h = h.masked_fill(mask, -float(2**52))
    d = (h - h.amax(dim=dim, keepdim=True)).clamp_min(-EXP_RANGE)
    e = lookup("exp", d)
    return round_div(e * 2**PROB_BITS, e.sum(dim=dim, keepdim=True))


def attend(probs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``probs @ values`` for probabilities from :func:`softmax` (units ``2**-ACT_BITS`` out):
    non-negative probabilities summing to about ``2**PROB_BITS`` keep every partial sum of the
    float64 product below ``2**53`` once values are clamped to ``VALUE_LIMIT``."""
    return shift_floor(probs @ values.clamp(-VALUE_LIMIT, VALUE_LIMIT), PROB_BITS)


def l2_normalize(h: torch.Tensor, dim: int) -> torch.Tensor:
    """``h / max(||h||, 2**-ACT_BITS)`` along ``dim`` in units ``2**-ACT_BITS`` (floor)."""
    x = h.clamp(-NORM_LIMIT, NORM_LIMIT).long()
    norm = isqrt((x * x).sum(dim=dim, keepdim=True)).clamp_min(1)
    return torch.div(x * ONE, norm, rounding_mode="floor").double()


def layer_norm(h: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """LayerNorm over the last dimension; ``weight`` in ``WEIGHT_BITS`` and ``bias`` in ``ACT_BITS``
    fixed point (float64 integers) or None. int64 moments: mean floored to ``2**-ACT_BITS``,
    biased variance in units ``2**-2*ACT_BITS``, standard deviation by integer square root."""
    x = h.clamp(-NORM_LIMIT, NORM_LIMIT).long()
    c = x.shape[-1]
    d = x - torch.div(x.sum(dim=-1, keepdim=True), c, rounding_mode="floor")
    var = torch.div((d * d).sum(dim=-1, keepdim=True), c, rounding_mode="floor")
    std = isqrt(var + fixed(eps, 2 * ACT_BITS)).clamp_min(1)
    out = torch.div(d * ONE, std, rounding_mode="floor").double()
    if weight is not None:
        out = shift_floor(out * weight, WEIGHT_BITS)
    return out if bias is None else out + bias


def bilinear_sample(values: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``values`` [N, C, H, W] at pixel positions ``px``, ``py`` [N, P]
    (units ``2**-ACT_BITS``; pixel centres at integers, zeros outside), as ``grid_sample``
    with ``align_corners=False`` does for the matching normalised grid. Returns [N, C, P]."""
    n, c, height, width = values.shape
    v = values.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT).reshape(n, c, height * width)
    px = px.clamp(-2 * ONE, (width + 1) * ONE)
    py = py.clamp(-2 * ONE, (height + 1) * ONE)
    x0, y0 = shift_floor(px, ACT_BITS), shift_floor(py, ACT_BITS)
    fx, fy = px - x0 * ONE, py - y0 * ONE
    total = torch.zeros(n, c, px.shape[1], dtype=torch.float64, device=values.device)
    for dy, wy in ((0, ONE - fy), (1, fy)):
        for dx, wx in ((0, ONE - fx), (1, fx)):
            xs, ys = x0 + dx, y0 + dy
            inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
            index = (ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)).long()
            corner = torch.gather(v, 2, index.unsqueeze(1).expand(n, c, -1))
            total = total + corner * (wx * wy * inside).unsqueeze(1)
    return shift_floor(total, 2 * ACT_BITS)
