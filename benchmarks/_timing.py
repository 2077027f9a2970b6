"""Shared by the benchmark scripts: best-of-N wall-clock timing, and smooth synthetic training images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def best_of(fn, repeats: int):
    """``(seconds of the fastest run, result of the last run)`` over ``repeats`` runs of ``fn()``."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def smooth_crops(size: int, count: int = 32) -> np.ndarray:
    """``count`` smooth random RGB images of ``size``² (8×8 blocks: noise would be incompressible), uint8."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(count, size // 8 + 1, size // 8 + 1, 3)).astype(np.uint8)
    return np.ascontiguousarray(base.repeat(8, 1).repeat(8, 2)[:, :size, :size])


def save_images(crops: np.ndarray, folder: Path) -> None:
    """``crops`` as ``folder/images/000.png`` …, the layout a packed image data module reads."""
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    for k, c in enumerate(crops):
        Image.fromarray(c).save(folder / "images" / f"{k:03d}.png")
