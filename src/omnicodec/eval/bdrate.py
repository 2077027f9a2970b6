"""Bjøntegaard delta rate and PSNR (VCEG-M33), with cubic or piecewise-cubic (pchip) curves.

BD-rate: the average difference of log-rate between two RD curves over the distortion
interval both cover, as a percentage: negative means the test needs fewer bits than the
anchor for the same quality. ``"cubic"`` fits a third-order polynomial to log-rate as a
function of quality (VCEG-M33, needs 4 points per curve); ``"pchip"`` interpolates with a
monotone piecewise cubic (the JCT-VC common test conditions; 2 points suffice) and is the
default. BD-PSNR swaps the axes: the average quality difference over the shared log-rate
interval. Curves may have different numbers of points; curves that do not overlap raise
:class:`EvaluationError`.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from ..errors import EvaluationError

METHODS = ("pchip", "cubic")


def _curve(x, y, method: str, what: str):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise EvaluationError(f"{what}: rates and qualities must be 1-D and equally long")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise EvaluationError(f"{what}: non-finite values")
    need = 4 if method == "cubic" else 2
    if x.size < need:
        raise EvaluationError(f"{what}: {method} BD needs at least {need} points, got {x.size}")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise EvaluationError(f"{what}: two points share the same value {x[np.argmin(np.diff(x))]}")
    if method == "pchip":
        f = PchipInterpolator(x, y)
        return x, lambda lo, hi: float(f.integrate(lo, hi))
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return x, lambda lo, hi: float(np.polyval(poly, hi) - np.polyval(poly, lo))
    raise EvaluationError(f"unknown BD method {method!r}; use one of {', '.join(METHODS)}")


def _delta(x_anchor, y_anchor, x_test, y_test, method: str, axis: str) -> float:
    xa, int_a = _curve(x_anchor, y_anchor, method, "anchor")
    xt, int_t = _curve(x_test, y_test, method, "test")
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if hi <= lo:
        raise EvaluationError(
            f"RD curves do not overlap in {axis}: anchor spans [{xa[0]:.4g}, {xa[-1]:.4g}], "
            f"test spans [{xt[0]:.4g}, {xt[-1]:.4g}]"
        )
    return (int_t(lo, hi) - int_a(lo, hi)) / (hi - lo)


def falls_with_rate(rates, qualities) -> int:
    """How many steps of an RD curve (sorted by rate) lose quality as the rate rises: BD figures assume
    none do, and over such a stretch they measure the interpolation, not the codec."""
    order = np.argsort(np.asarray(rates, dtype=np.float64))
    q = np.asarray(qualities, dtype=np.float64)[order]
    return int(np.sum(np.diff(q) < 0))


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "pchip") -> float:
    """Average rate change of test against anchor at equal quality, in percent."""
    rate_anchor, rate_test = np.asarray(rate_anchor, float), np.asarray(rate_test, float)
    if np.any(rate_anchor <= 0) or np.any(rate_test <= 0):
        raise EvaluationError("rates must be positive")
    avg = _delta(quality_anchor, np.log(rate_anchor), quality_test, np.log(rate_test), method, "quality")
    return float((np.exp(avg) - 1) * 100)


def bd_psnr(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "pchip") -> float:
    """Average quality change (dB for PSNR) of test against anchor at equal rate."""
    rate_anchor, rate_test = np.asarray(rate_anchor, float), np.asarray(rate_test, float)
    if np.any(rate_anchor <= 0) or np.any(rate_test <= 0):
        raise EvaluationError("rates must be positive")
    return _delta(np.log(rate_anchor), quality_anchor, np.log(rate_test), quality_test, method, "log-rate")
