"""Folder compression on the batch engine: one process against two, on the Kodak images.

    python benchmarks/batch.py                      # ../shared/data/kodak, the shipped default model
    python benchmarks/batch.py --data DIR --threads 1
    python benchmarks/batch.py --only-batched --batch-size 8   # only the batching figure (e.g. on a GPU)

Runs ``omnicodec compress DIR OUT`` with ``--devices 1`` and with ``--devices 2 --strategy ddp`` (on
two GPUs where there are two, else on the CPU with ``--threads`` threads per process), checks that
both runs wrote the same bytes, and takes images/s from each run's summary (the engine's time:
Trainer setup and coding, not Python's start-up). Then one process with ``--batch-size N`` (images of
one size through the transforms together) on the GPU where there is one, else on the CPU, against one
process without it on the same device, and whether the batched files are the same bytes. The last line reads
``batch: images_s_1proc=<x> images_s_2proc=<x> speedup=<x> device=<cpu|cuda>``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / ".." / "shared" / "data" / "kodak"


def run(data: Path, out: Path, accelerator: str, devices: int, threads: int, batch: int = 1) -> tuple[float, float]:
    """``(images/s from the summary, wall seconds)`` of one ``omnicodec compress`` of the folder."""
    command = [sys.executable, "-m", "omnicodec.cli", "compress", str(data), str(out),
               "--accelerator", accelerator, "--devices", str(devices), "--batch-size", str(batch)]
    if devices > 1:
        command += ["--strategy", "ddp"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"omnicodec compress failed:\n{done.stderr[-3000:]}")
    summary = [line for line in done.stdout.splitlines() if line.startswith("batch:")][-1]
    print(f"{devices} process(es) on {accelerator}, batch {batch}: {summary} (wall {wall:.1f} s)")
    return float(re.search(r"([\d.]+) files/s", summary).group(1)), wall


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DIR, help="folder of images (default: Kodak)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process on the CPU (default 1)")
    parser.add_argument("--batch-size", type=int, default=8, help="images coded together in the batched run (default 8)")
    parser.add_argument("--only-batched", action="store_true",
                        help="only one process without and with --batch-size (prints no last line)")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} is not a folder of images")
    device = "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= 2 else "cpu"
    accelerator = "gpu" if device == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.only_batched:
            one, _ = run(args.data, tmp / "one", accelerator, 1, args.threads)
            two, _ = run(args.data, tmp / "two", accelerator, 2, args.threads)
            print(f"files byte-identical between the runs: {tree(tmp / 'one') == tree(tmp / 'two')}")
        single = "gpu" if torch.cuda.is_available() else "cpu"
        if args.only_batched or single != accelerator:
            one_here = tmp / "alone"
            alone, _ = run(args.data, one_here, single, 1, args.threads)
        else:
            one_here, alone = tmp / "one", one
        together, _ = run(args.data, tmp / "together", single, 1, args.threads, args.batch_size)
        same = tree(one_here) == tree(tmp / "together")
        print(f"batched on {single}: {alone:.3f} -> {together:.3f} images/s with --batch-size {args.batch_size} "
              f"(x{together / alone:.2f}); files byte-identical to one by one: {same}")
    if args.only_batched:
        return
    print(f"batch: images_s_1proc={one:.3f} images_s_2proc={two:.3f} speedup={two / one:.2f} device={device}")


if __name__ == "__main__":
    main()
