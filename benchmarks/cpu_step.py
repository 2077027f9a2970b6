"""Training steps per second of the default image model on this CPU, one option at a time.

The step is the background job's (``configs/image/hyperprior-variable.yaml``: ``image/hyperprior`` N=96 M=128,
8 quality levels, each sample at its own quality and λ, batch 16 of 128² crops) under a Lightning ``Trainer``
with the data resident in memory, so only the step is timed. Variants: float32 against bf16-mixed (this CPU's
AMX units run bfloat16 matrix products), ``channels_last``, the crop size and the thread count, and with
``--compile`` ``torch.compile`` of the codec. Each variant runs ``--steps`` timed steps after ``--warmup``.

    python benchmarks/cpu_step.py [--steps 12] [--warmup 3] [--threads 2] [--compile]

The machine is shared: run it when nothing else computes, and read differences under ~10 % as noise.
The last line reads exactly ``cpu_step: baseline_steps_s=<x> best_steps_s=<x> best=<variant> speedup=<x>``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import lightning as L
import torch
from _timing import save_images, smooth_crops

from omnicodec.train.callbacks import ChannelsLast, StepClock
from omnicodec.train.lit import LitCodec
from omnicodec.train.resident import PackedImageDataModule

CONFIG = {"N": 96, "M": 128, "levels": 8, "default_quality": 3}
LAMBDAS = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.18]


def steps_per_second(pack: Path, precision: str, channels_last: bool, crop: int, batch: int, steps: int, warmup: int,
                     compile: bool) -> float:
    torch.manual_seed(0)
    module = LitCodec("image/hyperprior", CONFIG, lmbda_levels=LAMBDAS, lr=1e-4, check_finite_every=50)
    if compile:
        module.codec.compile()
    data = PackedImageDataModule(str(pack), crop=crop, batch_size=batch, channels_last=channels_last)
    clock = StepClock(warmup)
    trainer = L.Trainer(
        max_steps=warmup + steps, accelerator="cpu", devices=1, precision=precision, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[clock] + ([ChannelsLast()] if channels_last else []), num_sanity_val_steps=0, limit_val_batches=0,
    )
    trainer.fit(module, datamodule=data)
    return clock.steps_per_second()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compiling)")
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    crops = smooth_crops(160)  # 32 smooth random images; crops are drawn from these
    variants = [  # (name, precision, channels_last, crop, threads, compile)
        ("fp32", "32-true", False, 128, args.threads, False),
        ("bf16", "bf16-mixed", False, 128, args.threads, False),
        ("bf16+channels_last", "bf16-mixed", True, 128, args.threads, False),
        ("fp32+channels_last", "32-true", True, 128, args.threads, False),
        ("bf16 1 thread", "bf16-mixed", False, 128, 1, False),
    ]
    if args.compile:
        variants.append(("bf16+compile", "bf16-mixed", False, 128, args.threads, True))
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        save_images(crops, Path(tmp))
        for name, precision, cl, crop, threads, comp in variants:
            torch.set_num_threads(threads)
            rates[name] = steps_per_second(Path(tmp), precision, cl, crop, args.batch, args.steps, args.warmup, comp)
            print(f"{name:>22}: {rates[name]:.3f} steps/s ({rates[name] * args.batch:.2f} images/s), "
                  f"batch {args.batch} x {crop}², {threads} thread(s)", flush=True)
    baseline = rates["bf16"]  # what configs/image/hyperprior-variable.yaml runs
    best = max(rates, key=rates.get)
    print(f"cpu_step: baseline_steps_s={baseline:.3f} best_steps_s={rates[best]:.3f} best={best.replace(' ', '_')} "
          f"speedup={rates[best] / baseline:.3f}")


if __name__ == "__main__":
    main()
