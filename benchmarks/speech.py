"""Speed and memory of the speech codec on the CPU, through real files.

Real-time factor (RTF = processing time / audio duration) of encoding and decoding a
60-second recording (VCTK utterances from ``../shared/data/speech/vctk`` end to end, or a
synthetic voice), and the peak resident memory of a separate process that encodes, and of
one that decodes, a 10-minute recording (the file is coded in chunks, so memory must not
grow with its length; the figure includes the Python interpreter and torch).
Uses shipped ``speech/ecc`` weights when there are any, else the default config untrained.

    python benchmarks/speech.py [--seconds 60]

The last line reads exactly ``speech: encode_rtf=<x> decode_rtf=<x> peak_mb_10min=<x>``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

VCTK = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "speech" / "vctk"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    args = parser.parse_args()

    import torch

    from omnicodec import zoo
    from omnicodec.codecs import create_codec

    shipped = [e for e in zoo.shipped_entries() if e["codec_id"] == "speech/ecc"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = None
        if not shipped:  # export an untrained default model so files can be written
            torch.manual_seed(0)
            weights = str(zoo.save_weights(create_codec("speech/ecc"), tmp, "ecc-untrained", quality=1))
        source = "shipped weights" if shipped else "untrained default config"
        audio = recording(args.seconds)
        sf.write(tmp / "a.wav", audio, 16000)
        from omnicodec import compress_file, decompress_file

        compress_file(tmp / "a.wav", tmp / "warm.omc", None if weights else "speech/ecc", weights=weights, force=True)
        t = time.perf_counter()
        result = compress_file(tmp / "a.wav", tmp / "a.omc", None if weights else "speech/ecc", weights=weights, force=True)
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
        print(f"speech: encode_rtf={enc / duration:.4f} decode_rtf={dec / duration:.4f} "
              f"peak_mb_10min={max(e['peak_mb'], d['peak_mb']):.0f}")


if __name__ == "__main__":
    main()
