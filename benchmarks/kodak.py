"""Measure an image model on Kodak from real files: compress, decompress, PSNR.

    python benchmarks/kodak.py                      # the shipped default model
    python benchmarks/kodak.py --weights W.json     # exported weights
    python benchmarks/kodak.py --record             # also store the result in the weights entry

bpp counts every byte of each file (container header included); PSNR is measured on the
decoded 8-bit PNG against the original, averaged over images (as CompressAI reports).
The last line reads ``kodak: bpp=<x> psnr_rgb=<x> enc_s=<x> dec_s=<x>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DIR), help="folder of Kodak PNGs")
    parser.add_argument("--weights", help="exported weights entry (.json); default: shipped default model")
    parser.add_argument("--codec", help="shipped codec id")
    parser.add_argument("--quality", type=int)
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--record", action="store_true", help="write the result into the weights entry")
    args = parser.parse_args()

    from omnicodec import zoo
    from omnicodec.api import compress_file, decompress_file, load_codec

    files = sorted(Path(args.data).glob("*.png"))[: args.limit]
    if not files:
        sys.exit(f"no PNG images in {args.data}")
    model = load_codec(args.codec, args.quality, args.weights)
    entry_path = Path(args.weights) if args.weights else Path(zoo.find_entry(model.codec_id, model.quality)["_path"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            out, back = Path(tmp) / f"{f.stem}.omc", Path(tmp) / f"{f.stem}.png"
            t0 = time.perf_counter()
            c = compress_file(f, out, args.codec, args.quality, args.weights)
            t1 = time.perf_counter()
            decompress_file(out, back, args.weights)
            t2 = time.perf_counter()
            p = psnr(np.asarray(Image.open(f).convert("RGB")), np.asarray(Image.open(back).convert("RGB")))
            rows.append((c.bpp, p, t1 - t0, t2 - t1))
            print(f"{f.name}: {c.bpp:.4f} bpp {p:.2f} dB enc {t1 - t0:.2f} s dec {t2 - t1:.2f} s", flush=True)
    bpp, p, enc, dec = (float(np.mean(col)) for col in zip(*rows))
    if args.record:
        entry = json.loads(entry_path.read_text())
        entry.setdefault("measured", {})["kodak"] = {"images": len(rows), "bpp": round(bpp, 4), "psnr_rgb": round(p, 3)}
        entry_path.write_text(json.dumps(entry, indent=2) + "\n")
        print(f"recorded in {entry_path}")
    print(f"kodak: bpp={bpp:.4f} psnr_rgb={p:.3f} enc_s={enc:.3f} dec_s={dec:.3f}")


if __name__ == "__main__":
    main()
