"""Kodak report: JPEG, WebP and AVIF measured here, beside the published anchors.

    python benchmarks/kodak_report.py [--data ../shared/data/kodak] [--anchors DIR] [--out results/kodak] [--jobs 2]
                                      [--reuse jpeg webp avif]

Runs ``omnicodec eval`` for each classical codec (and the shipped learned model), writes
their results (CompressAI JSON, CSV, per-image JSON) to ``--out``, an RD plot with the
published anchors overlaid, and ``README.md`` with the BD-rate of each against VTM
(pchip and cubic). ``--reuse`` takes the named codecs' results from ``--out`` instead of
measuring them again (after a new shipped model, only that one needs measuring).
The last line reads ``kodak_report: jpeg_vs_vtm_pct=<x> webp_vs_vtm_pct=<x> avif_vs_vtm_pct=<x>``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
from pathlib import Path

import PIL

from omnicodec.eval.bdrate import bd_rate
from omnicodec.eval.plot import plot_rd
from omnicodec.eval.report import write_report
from omnicodec.eval.results import RDResults
from omnicodec.eval.runner import aggregate, collect_rows

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
CODECS = ("jpeg", "webp", "avif", "image/hyperprior")
ANCHOR_FILES = {
    "VTM": "vtm.json",
    "BPG (x265 4:4:4)": "bpg_444_x265_ycbcr.json",
    "JPEG (published)": "jpeg.json",
    "WebP (published)": "webp.json",
    "AV1 (published)": "av1.json",
    "mbt2018-mean (CompressAI)": "compressai-mbt2018-mean_mse_cuda.json",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED / "data" / "kodak"))
    parser.add_argument("--anchors", default=str(SHARED / "anchors" / "compressai-results" / "image" / "kodak"))
    parser.add_argument("--out", default=str(ROOT / "results" / "kodak"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--reuse", nargs="*", default=[], choices=list(CODECS), help="codecs to load from --out")
    args = parser.parse_args()
    out = Path(args.out)

    anchors = {}
    for label, name in ANCHOR_FILES.items():
        path = Path(args.anchors) / name
        if path.exists():
            res = RDResults.load(path)
            anchors[label] = RDResults(label, res.description, res.results)
    vtm = anchors["VTM"]

    measured = {}
    for name in CODECS:
        if name in args.reuse:
            path = out / f"{name.replace('/', '-')}.json"
            if not path.exists():
                raise SystemExit(f"--reuse {name}: {path} does not exist")
            measured[name] = RDResults.load(path)
            print(f"{name}: {measured[name].num_points} points (from {path})")
            continue
        rows, _, description = collect_rows(name, args.data, jobs=args.jobs if "/" not in name else 1, limit=args.limit)
        res = aggregate(name, description, rows)
        write_report(res, rows, out, [vtm])
        measured[name] = res
        print(f"{name}: {res.num_points} points")

    curves = [RDResults(f"{k} (measured here)", v.description, v.results) for k, v in measured.items()]
    ref = [anchors[k] for k in anchors]
    plot_rd(curves, out / "kodak-psnr.png", "psnr-rgb", title="Kodak, PSNR-RGB", anchors=ref, max_rate=2.0)
    plot_rd(curves, out / "kodak-ms-ssim.png", "ms-ssim-rgb", title="Kodak, MS-SSIM", anchors=ref, max_rate=2.0)

    lines = [
        "# Kodak: classical codecs measured here, beside published anchors",
        "",
        f"Measured on {datetime.date.today()} with Pillow {PIL.__version__} on {platform.machine()} "
        f"({platform.python_implementation()} {platform.python_version()}), 24 Kodak images, bpp from the real",
        "coded size, PSNR-RGB and MS-SSIM on the decoded 8-bit image, averaged per quality setting.",
        "Reproduce with `python benchmarks/kodak_report.py`.",
        "",
        "![Kodak PSNR](kodak-psnr.png)",
        "",
        "| codec | settings | BD-rate vs VTM (pchip) | BD-rate vs VTM (cubic) |",
        "|---|---|---|---|",
    ]
    summary = {}
    r_v, q_v = vtm.curve()
    for name, res in measured.items():
        r, q = res.curve()
        if len(r) >= 2:
            pchip = bd_rate(r_v, q_v, r, q, "pchip")
            cubic = f"{bd_rate(r_v, q_v, r, q, 'cubic'):+.1f} %" if len(r) >= 4 else "n/a (needs 4 points)"
            summary[name] = pchip
            lines.append(f"| {name} | {res.num_points} | {pchip:+.1f} % | {cubic} |")
        else:
            lines.append(f"| {name} | {res.num_points} | n/a (one point: {r[0]:.3f} bpp, {q[0]:.2f} dB) | n/a |")
    for label, res in anchors.items():
        if label == "VTM":
            continue
        r, q = res.curve()
        lines.append(f"| {label} | {res.num_points} | {bd_rate(r_v, q_v, r, q, 'pchip'):+.1f} % | "
                     f"{bd_rate(r_v, q_v, r, q, 'cubic'):+.1f} % |")
    lines += ["", "Per-codec files: `NAME.json` (CompressAI schema), `NAME.csv`, `NAME-items.json` (per image),",
              "`NAME.png` and `NAME-bdrate.txt`.", ""]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(
        f"kodak_report: jpeg_vs_vtm_pct={summary['jpeg']:.2f} webp_vs_vtm_pct={summary['webp']:.2f} "
        f"avif_vs_vtm_pct={summary['avif']:.2f}"
    )


if __name__ == "__main__":
    main()
