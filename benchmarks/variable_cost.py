"""What one variable-rate model costs against fixed-rate models trained as long, from scratch.

    python benchmarks/variable_cost.py                              # 1,500 steps, a small model, CPU
    python benchmarks/variable_cost.py --steps 20000 --N 96 --M 128 --crop 256 --batch 16   # on a GPU

Trains, with the same data, seed, batch, crops, learning rate and number of steps:
- one variable-rate ``image/hyperprior`` (gain units, one quality and λ per sample from CompressAI's MSE grid),
- one fixed-rate model per quality in ``--qualities``, each at that level's λ;
then codes the first ``--images`` Kodak images to real files with each (the variable model at each of
those qualities) and takes the BD-rate (pchip, PSNR-RGB) of the variable model's curve against the
fixed models' curve: what serving every rate from one model costs at equal training steps. Early in
training the figure says how fast each learns, not what each can reach; give it as many steps as
the question needs. Runs are kept under ``--out``; ``--train variable`` (or ``fixed``) trains only
those and measures the others from the weights an earlier invocation left there. The last line reads
``variable_cost: steps=<n> points=<n> bdrate_variable_vs_fixed_pct=<x> variable_train_s=<s> fixed_train_s=<mean s>``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
GRID = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.18]
LINE = re.compile(r"^q([\d.]+): ([\d.]+) bpp ([\d.]+) dB")


def config(args, out: Path, codec_config: dict, rate: dict) -> dict:
    return {
        "seed_everything": args.seed,
        "trainer": {
            "max_steps": args.steps, "accelerator": "auto", "devices": 1, "precision": args.precision,
            "default_root_dir": str(out),  # where Lightning writes the run's config.yaml
            "log_every_n_steps": 50, "enable_model_summary": False, "num_sanity_val_steps": 0,
            "check_val_every_n_epoch": None, "val_check_interval": 10**9, "logger": False,
            "enable_progress_bar": False,
            "callbacks": [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                           "init_args": {"dirpath": str(out / "checkpoints"), "save_last": True}}],
        },
        "model": {"class_path": "omnicodec.train.lit.LitCodec", "init_args": {
            "codec_id": "image/hyperprior", "codec_config": codec_config, "lr": args.lr,
            "warmup_steps": min(500, args.steps // 10), **rate}},
        "data": {"class_path": "omnicodec.train.data.ImageFolderDataModule", "init_args": {
            "train_dirs": [str(DATA / "train_images"), str(DATA / "train_photos")], "val_dir": str(DATA / "kodak"),
            "val_limit": 1, "crop": args.crop, "batch_size": args.batch}},
    }


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def train(args, name: str, codec_config: dict, rate: dict) -> tuple[Path, float]:
    out = Path(args.out) / name
    weights = out / "weights" / f"{name}.json"
    if name.split("-")[0] not in args.train:
        if not weights.is_file():
            sys.exit(f"{weights} is missing: train it (--train {name.split('-')[0]})")
        return weights, float("nan")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config(args, out, codec_config, rate)))
    t0 = time.perf_counter()
    run([sys.executable, "-c", "from omnicodec.cli import main; main()", "train", "--config", str(out / "config.yaml")])
    seconds = time.perf_counter() - t0
    run([sys.executable, "-c", "from omnicodec.cli import main; main()", "export", str(out / "checkpoints" / "last.ckpt"),
         str(out / "weights"), "--name", name, "--force"])
    return weights, seconds


def measure(args, weights: Path, qualities: list[float] | None) -> list[tuple[float, float]]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "kodak.py"), "--weights", str(weights), "--limit", str(args.images),
           "--data", str(DATA / "kodak")]
    if qualities:
        cmd += ["--qualities", ",".join(f"{q:g}" for q in qualities)]
    points = [(float(m.group(2)), float(m.group(3))) for m in map(LINE.match, run(cmd).splitlines()) if m]
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--qualities", default="1,3,5,8", help="levels the fixed-rate models are trained at")
    parser.add_argument("--N", type=int, default=48)
    parser.add_argument("--M", type=int, default=64)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--images", type=int, default=8, help="first N Kodak images")
    parser.add_argument("--out", default="runs/variable-cost", help="folder for the runs (kept)")
    parser.add_argument("--train", default="variable,fixed", help="which runs to train (default both); the others "
                        "are measured from the weights already in --out")
    args = parser.parse_args()
    args.train = set(args.train.split(",")) - {""}
    if not args.train <= {"variable", "fixed"}:
        sys.exit(f"--train: variable, fixed or both, got {','.join(sorted(args.train))}")

    from omnicodec.errors import EvaluationError
    from omnicodec.eval.bdrate import bd_rate

    qualities = [int(q) for q in args.qualities.split(",")]
    if len(qualities) < 4 or not all(1 <= q <= len(GRID) for q in qualities):
        sys.exit(f"--qualities: at least four levels in 1..{len(GRID)} (the BD-rate fits a cubic), got {args.qualities}")
    print(f"threads: {os.environ.get('OMP_NUM_THREADS', 'default')}; {args.steps} steps each, batch {args.batch} of "
          f"{args.crop}x{args.crop}, N={args.N} M={args.M}", flush=True)
    base = {"N": args.N, "M": args.M}
    weights, variable_s = train(args, "variable", {**base, "levels": len(GRID), "default_quality": 3},
                                {"lmbda_levels": GRID})
    variable = measure(args, weights, [float(q) for q in qualities])
    print(f"variable ({variable_s:.0f} s): " + ", ".join(f"q{q} {b:.4f} bpp {p:.2f} dB"
                                                       for q, (b, p) in zip(qualities, variable)), flush=True)
    fixed, fixed_s = [], []
    for q in qualities:
        weights, seconds = train(args, f"fixed-q{q}", base, {"lmbda": GRID[q - 1]})
        (point,) = measure(args, weights, None)
        fixed.append(point)
        fixed_s.append(seconds)
        print(f"fixed q{q} (λ {GRID[q - 1]}, {seconds:.0f} s): {point[0]:.4f} bpp {point[1]:.2f} dB", flush=True)
    try:
        bd = bd_rate([b for b, _ in fixed], [p for _, p in fixed], [b for b, _ in variable], [p for _, p in variable])
    except EvaluationError as exc:
        print(f"no BD-rate: {exc}", flush=True)
        bd = float("nan")
    print(f"variable_cost: steps={args.steps} points={len(qualities)} bdrate_variable_vs_fixed_pct={bd:.2f} "
          f"variable_train_s={variable_s:.0f} fixed_train_s={sum(fixed_s) / len(fixed_s):.0f}")


if __name__ == "__main__":
    main()
