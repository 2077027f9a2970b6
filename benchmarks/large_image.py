"""Code a large image in bounded memory: peak memory and time of each direction, and tiled vs whole coding.

    python benchmarks/large_image.py                     # 7680x4320 from the Kodak images, default model
    python benchmarks/large_image.py --size 3840x2160    # another size
    python benchmarks/large_image.py --weights W.json    # exported weights
    python benchmarks/large_image.py --kodak             # also tiled vs whole on each Kodak image

The large image is a mosaic of the Kodak images (portrait ones turned), written as a PNG to
a temporary folder. ``omnicodec compress`` and ``omnicodec decompress`` run on it through the
real file path, each in its own process; the peak memory of each is that process's maximum
resident set (``VmHWM``), Python, torch and the model included.

The comparison codes a ``--compare`` image (default 1536x1024, a mosaic of four Kodak
images) twice in this process, once with the transforms over tiles (the default) and once
on the whole image, and reports the change in bytes (%) and in PSNR (dB) of tiled against whole.
The last line reads ``large_image: mpix=<n> enc_s=<x> dec_s=<x> enc_peak_mb=<x> dec_peak_mb=<x>
rate_vs_whole_pct=<x> psnr_vs_whole_db=<x>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak"


def size_arg(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def mosaic(folder: Path, width: int, height: int) -> np.ndarray:
    """A ``height``×``width``×3 mosaic of the 768×512 Kodak images, row by row."""
    tiles = []
    for p in sorted(folder.glob("*.png")):
        a = np.asarray(Image.open(p).convert("RGB"))
        tiles.append(a if a.shape[1] >= a.shape[0] else np.ascontiguousarray(np.rot90(a)))
    if not tiles:
        raise SystemExit(f"no PNG images in {folder}")
    th, tw = tiles[0].shape[:2]
    out = np.empty((height, width, 3), dtype=np.uint8)
    k = 0
    for top in range(0, height, th):
        for left in range(0, width, tw):
            t = tiles[k % len(tiles)]
            k += 1
            out[top : top + th, left : left + tw] = t[: height - top, : width - left]
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


_MEASURE = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_module("omnicodec.cli", run_name="__main__")
finally:
    with open("/proc/self/status") as f:
        peak = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    print(f"peak_kib={peak}", file=sys.stderr)
"""


def run_measured(args: list[str]) -> tuple[float, float]:
    """``(seconds, peak resident MB)`` of ``omnicodec ARGS`` in its own process.

    The peak is the child's ``VmHWM``, read at its end: it starts afresh at ``exec``, unlike
    ``ru_maxrss``, which a forked child inherits from this (larger) process.
    """
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, "omnicodec", *args], stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    peaks = [line for line in proc.stderr.splitlines() if line.startswith("peak_kib=")]
    if proc.returncode != 0 or not peaks:
        raise SystemExit(f"omnicodec {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return seconds, int(peaks[-1].split("=")[1]) / 1024


def compare_tiled_whole(image: np.ndarray, weights: str | None) -> tuple[float, float, dict]:
    """``(rate change %, PSNR change dB, details)`` of tiled against whole-image coding."""
    import torch

    from omnicodec.api import load_codec
    from omnicodec.media.image import to_uint8

    model = load_codec(weights=weights)
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0)
    results = {}
    for name, tile in (("tiled", model.tile_size), ("whole", 1 << 30)):
        model.tile_size = tile
        bitstream = model.compress(x)
        nbytes = sum(len(s) for s in bitstream.streams.values())
        decoded = to_uint8(model.decompress(bitstream)[0])
        results[name] = (nbytes, psnr(image, decoded))
    (tb, tp), (wb, wp) = results["tiled"], results["whole"]
    return 100.0 * (tb - wb) / wb, tp - wp, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DIR), help="folder of Kodak PNGs")
    parser.add_argument("--size", type=size_arg, default=(7680, 4320), help="large image WIDTHxHEIGHT")
    parser.add_argument("--compare", type=size_arg, default=(1536, 1024), help="tiled-vs-whole image WIDTHxHEIGHT")
    parser.add_argument("--weights", help="exported weights entry (.json); default: shipped default model")
    parser.add_argument("--kodak", action="store_true", help="also compare tiled and whole coding on every Kodak image")
    args = parser.parse_args()
    data = Path(args.data)
    width, height = args.size

    rate_pct, psnr_db, details = compare_tiled_whole(mosaic(data, *args.compare), args.weights)
    if args.kodak:
        tiled_bytes = whole_bytes = 0
        worst = 0.0
        for path in sorted(data.glob("*.png")):
            _, d_psnr, d = compare_tiled_whole(np.array(Image.open(path).convert("RGB")), args.weights)
            tiled_bytes, whole_bytes = tiled_bytes + d["tiled"][0], whole_bytes + d["whole"][0]
            worst = max(worst, abs(d_psnr))
        print(f"Kodak: tiled {tiled_bytes:,} bytes against whole {whole_bytes:,} "
              f"({100 * (tiled_bytes - whole_bytes) / whole_bytes:+.4f} %), largest PSNR change {worst:.5f} dB")

    from omnicodec.api import load_codec
    from omnicodec.memory import resident_memory

    model = load_codec(weights=args.weights)
    estimate = {d: model.memory_estimate(height, width, d) >> 20 for d in ("encode", "decode")}
    print(f"estimated peaks for {width}x{height}: compress {estimate['encode']} MB, decompress {estimate['decode']} MB "
          f"over what a process holds with the model loaded (here {resident_memory() >> 20} MB, with the comparison)")
    cw, ch = args.compare
    for name, (nbytes, p) in details.items():
        print(f"{cw}x{ch} {name}: {nbytes:,} bytes, {8 * nbytes / (cw * ch):.4f} bpp, PSNR {p:.3f} dB")

    with tempfile.TemporaryDirectory() as tmp:
        src, packed, decoded = Path(tmp, "large.png"), Path(tmp, "large.omc"), Path(tmp, "large-decoded.png")
        image = mosaic(data, width, height)
        Image.fromarray(image).save(src, compress_level=1)
        del image
        weights = ["--weights", args.weights] if args.weights else []
        enc_s, enc_mb = run_measured(["compress", str(src), str(packed), *weights])
        dec_s, dec_mb = run_measured(["decompress", str(packed), str(decoded), *weights])
        image = mosaic(data, width, height)
        nbytes = packed.stat().st_size
        big_psnr = psnr(image, np.asarray(Image.open(decoded).convert("RGB")))
    mpix = width * height / 1e6
    print(f"{width}x{height}: {nbytes:,} bytes, {8 * nbytes / (width * height):.4f} bpp, PSNR {big_psnr:.3f} dB")
    print(f"compress {enc_s:.1f} s, peak {enc_mb:.0f} MB; decompress {dec_s:.1f} s, peak {dec_mb:.0f} MB "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '2')})")
    print(
        f"large_image: mpix={mpix:.1f} enc_s={enc_s:.1f} dec_s={dec_s:.1f} enc_peak_mb={enc_mb:.0f} "
        f"dec_peak_mb={dec_mb:.0f} rate_vs_whole_pct={rate_pct:+.3f} psnr_vs_whole_db={psnr_db:+.4f}"
    )


if __name__ == "__main__":
    main()
