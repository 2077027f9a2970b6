"""The speech codec's rate, quality, speed and memory, through real files.

- Rate and quality: every recording of ``../shared/data/speech/vctk`` (or ``--files N``) is
  compressed to a file and decoded; kbit/s from the file sizes, PESQ-WB, STOI and ViSQOL (speech
  mode, lattice mapping) on the decoded 16 kHz output, averaged over recordings.
- BD-rate on PESQ-WB against Opus: Opus coded here through ffmpeg when ffmpeg has libopus, else
  the Opus curve measured on the same set and recorded in ``../shared/MEASURING.md``. With several
  ``--weights`` (models of different rates) the BD-rate is over the curves' overlap; with one model,
  the rate difference at its PESQ-WB against the Opus curve.
- Real-time factor (processing time / audio duration) of encoding and decoding a 60-second
  recording (VCTK utterances end to end, or a synthetic voice), and the peak resident memory of a
  separate process that encodes, and of one that decodes, a 10-minute recording (coded in chunks,
  so memory must not grow with its length; the figure includes the Python interpreter and torch).

Uses the shipped ``speech/ecc`` weights, or exported ones given with ``--weights`` (the first is
the default quality). A variable-rate model is measured at every level (or ``--qualities``), and its
default quality gives the summary's figures. Without weights (none shipped, none given) the script
says so, measures speed and memory with the default config untrained and prints ``nan`` for quality.

    python benchmarks/speech.py [--weights W.json ...] [--qualities 1 2 ...] [--files N] [--seconds 60]

The last line reads exactly ``speech: kbps=<x> pesq_wb=<x> stoi=<x> visqol=<x>
bdrate_pesq_vs_opus_pct=<x> encode_rtf=<x> decode_rtf=<x> peak_mb_10min=<x>``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
VCTK = SHARED / "data" / "speech" / "vctk"
# Opus (libopus via ffmpeg, VoIP) on data/speech/vctk, rate from the file size: ../shared/MEASURING.md
OPUS_MEASURED = {"kbps": [6.5, 8.3, 10.6, 12.5, 16.4, 24.1], "pesq-wb": [2.40, 3.15, 3.69, 4.07, 4.35, 4.52]}


def recording(seconds: float) -> np.ndarray:
    need = int(seconds * 16000)
    parts, total = [], 0
    files = sorted(VCTK.glob("*.wav")) if VCTK.exists() else []
    while files and total < need:
        for f in files:
            audio, rate = sf.read(f, dtype="float32")
            parts.append(audio if rate == 16000 else audio[:: max(1, rate // 16000)])
            total += parts[-1].size
            if total >= need:
                break
    if not parts:
        t = np.arange(need) / 16000
        parts = [0.2 * np.sin(2 * np.pi * 150 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))]
    return np.concatenate(parts)[:need].astype(np.float32)


CHILD = """
import sys, json, resource, time
from omnicodec import compress_file, decompress_file
args = json.loads(sys.argv[1])
t = time.perf_counter()
if args["op"] == "encode":
    compress_file(args["src"], args["dst"], args.get("codec"), weights=args.get("weights"), force=True)
else:
    decompress_file(args["src"], args["dst"], weights=args.get("weights"), force=True)
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(op: str, src: Path, dst: Path, weights: str | None) -> dict:
    args = {"op": op, "src": str(src), "dst": str(dst), "weights": weights, "codec": None if weights else "speech/ecc"}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def quality(files: list[Path], weights: str | None, tmp: Path, level: float | None = None) -> dict[str, float]:
    """Mean kbit/s, PESQ-WB, STOI and ViSQOL of one model (at quality ``level``) over ``files``, from real files."""
    from omnicodec import compress_file, decompress_file
    from omnicodec.datasets.audio import load_mono
    from omnicodec.eval.metrics import speech_quality

    rows = []
    for f in files:
        reference = load_mono(f)
        sf.write(tmp / "in.wav", reference, 16000, subtype="FLOAT")
        result = compress_file(tmp / "in.wav", tmp / "q.omc", None if weights else "speech/ecc", weights=weights,
                               quality=level, overwrite=True)
        decompress_file(tmp / "q.omc", tmp / "q.wav", weights=weights, overwrite=True)
        decoded, _ = sf.read(tmp / "q.wav", dtype="float32")
        rows.append({"kbps": result.kbps, **speech_quality(reference, decoded)})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def opus_curve(files: list[Path]) -> tuple[dict[str, list[float]], str]:
    """Opus's (kbit/s, PESQ-WB) curve on ``files`` coded here, or the one recorded for the whole set."""
    from omnicodec.eval.baselines import FFMPEG_BASELINES
    from omnicodec.eval.runner import _speech_baseline_task, aggregate

    opus = FFMPEG_BASELINES["opus"]
    reason = opus.available()
    if reason is not None:
        return OPUS_MEASURED, f"Opus as measured on the whole set in shared/MEASURING.md ({reason} here)"
    rows = [_speech_baseline_task(("opus", str(f), s)) for s in opus.settings for f in files]
    return aggregate("opus", opus.description, rows).results, f"Opus coded here ({opus.description})"


def pesq_saving(points: list[dict], opus: dict[str, list[float]]) -> tuple[float, str]:
    """BD-rate on PESQ-WB (pchip) of the ECC points against Opus; one point: its rate against the
    Opus rate at the same PESQ-WB. ``nan`` outside Opus's PESQ-WB range."""
    from scipy.interpolate import PchipInterpolator

    from omnicodec.errors import EvaluationError
    from omnicodec.eval.bdrate import bd_rate

    if len(points) >= 2:
        try:
            return bd_rate(opus["kbps"], opus["pesq-wb"], [p["kbps"] for p in points], [p["pesq-wb"] for p in points]), \
                "BD-rate over the curves' overlap"
        except EvaluationError as exc:
            return math.nan, str(exc)
    pesq = points[0]["pesq-wb"]
    order = np.argsort(opus["pesq-wb"])
    q, r = np.asarray(opus["pesq-wb"])[order], np.log(np.asarray(opus["kbps"])[order])
    if not q[0] <= pesq <= q[-1]:
        return math.nan, f"PESQ-WB {pesq:.2f} lies outside Opus's {q[0]:.2f}-{q[-1]:.2f}"
    opus_rate = float(np.exp(PchipInterpolator(q, r)(pesq)))
    return 100 * (points[0]["kbps"] / opus_rate - 1), f"one point: Opus needs {opus_rate:.2f} kbit/s for that PESQ-WB"


def _entry(weights: str | None) -> dict:
    from omnicodec import zoo

    return zoo.read_entry(weights) if weights else zoo.find_entry("speech/ecc")


def default_quality(weights: str | None) -> float | None:
    """The quality a model codes at by default (``None`` for a fixed-rate one)."""
    entry = _entry(weights)
    return float(entry["quality"]) if entry.get("quality_range") else None


def measured_points(models: list[str | None], qualities: list[float] | None) -> list[tuple[str | None, float | None]]:
    """``(weights, quality)`` per point: every requested quality (default: each level) of a variable-rate
    model, the one rate of a fixed-rate one."""
    runs = []
    for w in models:
        span = _entry(w).get("quality_range")
        if not span:
            runs.append((w, None))
            continue
        levels = qualities or [float(q) for q in range(int(span[0]), int(span[1]) + 1)]
        runs += [(w, float(q)) for q in levels if span[0] <= q <= span[1]]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="*", default=[], help="exported speech/ecc weights; the first is the default")
    parser.add_argument("--qualities", nargs="*", type=float,
                        help="qualities of a variable-rate model to measure (default: its integer levels)")
    parser.add_argument("--files", type=int, help="only the first N VCTK recordings (default: all)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    args = parser.parse_args()

    import torch

    from omnicodec import compress_file, decompress_file, zoo
    from omnicodec.codecs import create_codec
    from omnicodec.datasets.folders import speech_folder

    shipped = [e for e in zoo.shipped_entries() if e["codec_id"] == "speech/ecc"]
    models: list[str | None] = [str(w) for w in args.weights] or ([None] if shipped else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nan = math.nan
        kbps = pesq = stoi = vq = saving = nan
        if not models:
            print("speech/ecc ships no weights: pass exported ones with --weights to measure rate and quality; "
                  "speed and memory below are of the default config untrained")
            torch.manual_seed(0)
            weights = str(zoo.save_weights(create_codec("speech/ecc").eval().freeze(), tmp, "ecc-untrained", quality=1))
            source = "untrained default config"
        else:
            weights, source = models[0], models[0] or "shipped weights"
            files = speech_folder(VCTK)[: args.files] if VCTK.exists() else []
            if not files:
                print(f"no recordings in {VCTK}: rate and quality are not measured")
            else:
                runs = measured_points(models, args.qualities)
                points = []
                for w, level in runs:
                    p = quality(files, w, tmp, level)
                    points.append(p)
                    at = f" quality {level:g}" if level is not None else ""
                    print(f"{w or 'shipped'}{at}: {p['kbps']:.2f} kbit/s, PESQ-WB {p['pesq-wb']:.3f}, "
                          f"STOI {p['stoi']:.3f}, ViSQOL {p['visqol']:.3f} on {len(files)} VCTK recordings", flush=True)
                opus, opus_source = opus_curve(files)
                saving, how = pesq_saving(points, opus)
                print(f"against {opus_source}: {saving:+.1f} % rate at equal PESQ-WB ({how})")
                chosen = default_quality(models[0])
                default = next((i for i, (_, level) in enumerate(runs) if level == chosen), 0)
                kbps, pesq, stoi, vq = (points[default][k] for k in ("kbps", "pesq-wb", "stoi", "visqol"))

        audio = recording(args.seconds)
        sf.write(tmp / "a.wav", audio, 16000)
        codec = None if weights else "speech/ecc"
        compress_file(tmp / "a.wav", tmp / "warm.omc", codec, weights=weights, force=True)
        t = time.perf_counter()
        result = compress_file(tmp / "a.wav", tmp / "a.omc", codec, weights=weights, force=True)
        enc = time.perf_counter() - t
        t = time.perf_counter()
        decompress_file(tmp / "a.omc", tmp / "b.wav", weights=weights, force=True)
        dec = time.perf_counter() - t
        duration = audio.size / 16000
        print(f"speech/ecc ({source}), {torch.get_num_threads()} CPU threads, {duration:.0f} s of speech, "
              f"{result.kbps:.2f} kbit/s")
        print(f"encode {enc:.2f} s (RTF {enc / duration:.4f}), decode {dec:.2f} s (RTF {dec / duration:.4f})")

        long = np.tile(audio, int(np.ceil(args.long_minutes * 60 / duration)))[: int(args.long_minutes * 60 * 16000)]
        sf.write(tmp / "long.wav", long, 16000)
        del long
        e = child("encode", tmp / "long.wav", tmp / "long.omc", weights)
        d = child("decode", tmp / "long.omc", tmp / "long-out.wav", weights)
        print(f"{args.long_minutes:.0f}-minute file: encode peak {e['peak_mb']:.0f} MB ({e['seconds']:.1f} s), "
              f"decode peak {d['peak_mb']:.0f} MB ({d['seconds']:.1f} s)")
        print(f"speech: kbps={kbps:.2f} pesq_wb={pesq:.3f} stoi={stoi:.3f} visqol={vq:.3f} "
              f"bdrate_pesq_vs_opus_pct={saving:.1f} encode_rtf={enc / duration:.4f} decode_rtf={dec / duration:.4f} "
              f"peak_mb_10min={max(e['peak_mb'], d['peak_mb']):.0f}")


if __name__ == "__main__":
    main()
