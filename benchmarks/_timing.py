"""Shared by the benchmark scripts: best-of-N wall-clock timing."""

from __future__ import annotations

import time


def best_of(fn, repeats: int):
    """``(seconds of the fastest run, result of the last run)`` over ``repeats`` runs of ``fn()``."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out
