"""Measure an image model's RD curve on Kodak from real files: compress, decompress, PSNR.

    python benchmarks/kodak.py                          # the shipped default model, every level
    python benchmarks/kodak.py --qualities 1,3,4.5      # chosen (real) qualities
    python benchmarks/kodak.py --weights W.json         # exported weights
    python benchmarks/kodak.py --record                 # also store the curve in the weights entry

bpp counts every byte of each file (container header included); PSNR is measured on the
decoded 8-bit PNG against the original, averaged over images (as CompressAI reports). The
curve's BD-rates (pchip, PSNR-RGB) are taken against the published VTM anchor and against
WebP and AVIF measured here (``results/kodak/``); ``nan`` where the curves do not overlap or
the model has fewer than two points. The last line reads
``kodak: points=<n> bdrate_vs_vtm_pct=<x> bdrate_vs_webp_pct=<x> bdrate_vs_avif_pct=<x> enc_s=<mean> dec_s=<mean>``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / ".." / "shared" / "data" / "kodak"
VTM = ROOT / ".." / "shared" / "anchors" / "compressai-results" / "image" / "kodak" / "vtm.json"
MEASURED = ROOT / "results" / "kodak"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def parse_qualities(text: str | None) -> list[float] | None:
    if not text:
        return None
    out: list[float] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        out += [float(q) for q in range(int(lo), int(hi) + 1)] if dash else [float(part)]
    return out


def bdrate_against(path: Path, bpp: list[float], quality: list[float]) -> float:
    from omnicodec.errors import EvaluationError
    from omnicodec.eval.bdrate import bd_rate
    from omnicodec.eval.results import RDResults

    if len(bpp) < 2 or not path.is_file():
        return float("nan")
    anchor_rate, anchor_psnr = RDResults.load(path).curve("psnr-rgb")
    try:
        return bd_rate(anchor_rate, anchor_psnr, bpp, quality)
    except EvaluationError:  # the curves do not overlap, or too few points
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DIR), help="folder of Kodak PNGs")
    parser.add_argument("--weights", help="exported weights entry (.json); default: shipped default model")
    parser.add_argument("--codec", help="shipped codec id")
    parser.add_argument("--qualities", help="e.g. 1-8 or 2,3.5 (default: every level of a variable-rate model)")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--record", action="store_true", help="write the curve into the weights entry")
    args = parser.parse_args()

    from omnicodec import zoo
    from omnicodec.api import compress_file, decompress_file, load_codec

    files = sorted(Path(args.data).glob("*.png"))[: args.limit]
    if not files:
        sys.exit(f"no PNG images in {args.data}")
    model = load_codec(args.codec, None, args.weights)
    span = model.quality_range
    qualities = parse_qualities(args.qualities)
    if qualities is None:
        qualities = [float(q) for q in range(int(span[0]), int(span[1]) + 1)] if span else [model.quality]
    entry_path = Path(args.weights) if args.weights else Path(zoo.find_entry(model.codec_id, model.quality)["_path"])
    levels, enc_all, dec_all = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for q in qualities:
            rows = []
            for f in files:
                out, back = Path(tmp) / f"{f.stem}.omc", Path(tmp) / f"{f.stem}.png"
                t0 = time.perf_counter()
                c = compress_file(f, out, args.codec, q if span else None, args.weights, force=True)
                t1 = time.perf_counter()
                decompress_file(out, back, args.weights, force=True)
                t2 = time.perf_counter()
                p = psnr(np.asarray(Image.open(f).convert("RGB")), np.asarray(Image.open(back).convert("RGB")))
                rows.append((c.bpp, p))
                enc_all.append(t1 - t0)
                dec_all.append(t2 - t1)
            bpp, p = (float(np.mean(col)) for col in zip(*rows))
            levels.append({"quality": q, "bpp": round(bpp, 4), "psnr_rgb": round(p, 3)})
            print(f"q{q:g}: {bpp:.4f} bpp {p:.3f} dB ({len(rows)} images)", flush=True)
    bpps, psnrs = [lv["bpp"] for lv in levels], [lv["psnr_rgb"] for lv in levels]
    bd = {name: bdrate_against(path, bpps, psnrs) for name, path in
          (("vtm", VTM), ("webp", MEASURED / "webp.json"), ("avif", MEASURED / "avif.json"))}
    if args.record:
        entry = json.loads(entry_path.read_text())
        default = next((lv for lv in levels if lv["quality"] == float(entry["quality"])), levels[0])
        measured = {"images": len(files), "bpp": default["bpp"], "psnr_rgb": default["psnr_rgb"]}
        if span:
            measured["levels"] = [dict(lv, quality=int(lv["quality"]) if float(lv["quality"]).is_integer()
                                       else lv["quality"]) for lv in levels]
            measured.update({f"bdrate_vs_{k}_pct": round(v, 2) for k, v in bd.items() if not math.isnan(v)})
        entry.setdefault("measured", {})["kodak"] = measured
        entry_path.write_text(json.dumps(entry, indent=2) + "\n")
        print(f"recorded in {entry_path}")
    print(
        f"kodak: points={len(levels)} bdrate_vs_vtm_pct={bd['vtm']:.2f} bdrate_vs_webp_pct={bd['webp']:.2f} "
        f"bdrate_vs_avif_pct={bd['avif']:.2f} enc_s={np.mean(enc_all):.3f} dec_s={np.mean(dec_all):.3f}"
    )


if __name__ == "__main__":
    main()
