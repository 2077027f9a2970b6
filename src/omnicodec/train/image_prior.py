"""Train the entropy model of a variable-rate image codec on its frozen transforms.

The analysis transform ``g_a``, the synthesis ``g_s`` and the gains stay as they are; only the
latent codec (``h_a``, ``h_s``, the factorized prior of ``z`` and the conditional codec of ``y``,
for instance a new checkerboard context) learns to code the same latents in fewer bits. So every
training image goes through the frozen ``g_a`` once (cropped to a multiple of 16 pixels, so no
padding enters the statistics) and training runs on random latent windows: each window gets a
quality drawn uniformly from the codec's range, is scaled by that quality's gains and costs its
``y`` and ``z`` bits. The loss is rate only: with frozen transforms the distortion depends on the
latent codec only through the rounding centres (the means), and predicting ``y`` better lowers both.
A step costs a fraction of a full training step (no ``g_a`` / ``g_s`` forward or backward).

    python -m omnicodec.train.image_prior --init W.json --out runs/prior [--seconds 3600]

``W.json``: exported weights of an ``image/hyperprior`` model (a model without a context first
becomes one with it: ``python -m omnicodec.train.convert add-context``). Weights are exported
(float32, overwriting) every ``--export-every`` steps and at the end; ``--init`` of that export
continues the run with its step count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..codecs import Codec
from ..errors import OmnicodecError
from .data import list_images, load_rgb
from .losses import bits_from_likelihoods
from .rate_only import train_rate_only

LATENT_STRIDE = 16  # pixels per latent element of the image transforms


@torch.no_grad()
def cache_latents(codec: Codec, paths: list[Path], on_progress=None) -> list[torch.Tensor]:
    """``g_a`` of every image (unscaled, float16, ``[M, h, w]``), each cropped to a multiple of 16 pixels."""
    latents = []
    for i, path in enumerate(paths):
        x = torch.from_numpy(load_rgb(path).copy()).permute(2, 0, 1)[None].float().div_(255.0)
        h, w = (x.shape[-2] // LATENT_STRIDE) * LATENT_STRIDE, (x.shape[-1] // LATENT_STRIDE) * LATENT_STRIDE
        if h and w:
            latents.append(codec.g_a(x[..., :h, :w])[0].half())
        if on_progress is not None:
            on_progress(i + 1, len(paths))
    return latents


def usable_latents(latents: list[torch.Tensor], size: int) -> list[torch.Tensor]:
    """The cached latents that hold a ``size``×``size`` window; a clear error if none does."""
    usable = [y for y in latents if min(y.shape[-2:]) >= size]
    if not usable:
        raise ValueError(f"no training image has a latent of {size}×{size} ({size * LATENT_STRIDE} pixels)")
    return usable


def sample_windows(usable: list[torch.Tensor], batch: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``batch`` random windows ``[B, M, size, size]`` (float32) of latents that hold one (:func:`usable_latents`)."""
    out = []
    for _ in range(batch):
        y = usable[int(rng.integers(len(usable)))]
        top, left = int(rng.integers(y.shape[-2] - size + 1)), int(rng.integers(y.shape[-1] - size + 1))
        out.append(y[:, top : top + size, left : left + size])
    return torch.stack(out).float()


def latent_rate(codec: Codec, y: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Bits per pixel of coding unscaled latents ``y`` ([B, M, h, w]) at ``quality`` ([B])."""
    _, likelihoods, _ = codec.latent(codec.gains.scale(y, quality))
    return bits_from_likelihoods(likelihoods) / (y.shape[0] * y.shape[-2] * y.shape[-1] * LATENT_STRIDE**2)


def train_latent_codec(
    codec: Codec, latents: list[torch.Tensor], steps: int, seconds: float = float("inf"), batch: int = 16,
    size: int = 16, lr: float = 1e-4, lr_floor: float = 0.1, aux_lr: float = 1e-3, seed: int = 0,
    log_every: int = 50, on_log=None, export_every: int = 0, on_export=None, first: int = 0,
) -> list[float]:
    """Train ``codec.latent`` alone from step ``first`` to ``steps`` (cosine decay of the learning rate
    to ``lr_floor × lr`` over ``0…steps``) or until ``seconds`` have passed; returns every step's bits
    per pixel. ``on_log(step, mean_bpp)`` every ``log_every`` steps, ``on_export(step)`` every
    ``export_every`` steps and after the last one (steps counted from 0, not ``first``)."""
    if getattr(codec, "gains", None) is None or not hasattr(codec, "latent"):
        raise ValueError("the entropy model trains on a variable-rate latent image codec (one with gain units)")
    low, high = codec.quality_range
    usable = usable_latents(latents, size)

    def draw(rng: np.random.Generator) -> torch.Tensor:
        y = sample_windows(usable, batch, size, rng)
        return latent_rate(codec, y, torch.from_numpy(rng.uniform(low, high, batch)).float())

    return train_rate_only(codec, codec.latent, draw, steps, seconds, lr, lr_floor, aux_lr, seed, log_every, on_log,
                           export_every, on_export, first)


def main(argv: list[str] | None = None) -> int:
    from ..zoo import load_file_entry, read_entry, save_weights

    parser = argparse.ArgumentParser(prog="python -m omnicodec.train.image_prior", description=__doc__.split("\n\n")[0])
    parser.add_argument("--init", required=True, help="exported weights (.json) of a variable-rate image model")
    parser.add_argument("--out", required=True, help="folder for the exported weights")
    parser.add_argument("--name", default="image-prior", help="weights name (default image-prior)")
    parser.add_argument("--data", nargs="+", default=["../shared/data/train_photos", "../shared/data/train_images"],
                        help="image folders")
    parser.add_argument("--steps", type=int, default=10_000, help="steps of the learning-rate schedule (default 10000)")
    parser.add_argument("--seconds", type=float, default=float("inf"), help="stop after this many seconds")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=256, help="window size in pixels (a multiple of 64)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-every", type=int, default=500, help="steps between exports (overwriting)")
    args = parser.parse_args(argv)
    try:
        if args.crop % 64 or args.crop < 64:
            raise ValueError(f"--crop must be a positive multiple of 64 pixels, not {args.crop}")
        entry, codec = read_entry(args.init), load_file_entry(args.init).codec
        if entry["codec_id"] != "image/hyperprior":
            raise ValueError(f"{args.init} holds {entry['codec_id']}, not an image/hyperprior model")
        training = entry.get("training", {})
        done = int(training.get("prior_steps", 0))
        paths = list_images(args.data)
        t0 = time.monotonic()

        def progress(i: int, n: int) -> None:
            if i % 100 == 0 or i == n:
                print(f"cached the latents of {i}/{n} images ({time.monotonic() - t0:.0f} s)", flush=True)

        latents = cache_latents(codec, paths, progress)
        recipe = (f"{training.get('recipe', '')} Then its entropy model alone (transforms and gains frozen), on rate: "
                  f"{args.crop}x{args.crop} latent windows of {', '.join(args.data)}, batch {args.batch}, a uniform "
                  f"quality per window, Adam lr {args.lr} with cosine decay over {args.steps} steps "
                  "(python -m omnicodec.train.image_prior).").strip()
        if done:  # continuing: the recipe already says it
            recipe = training.get("recipe", recipe)
        keep = {k: entry[k] for k in ("lambda_levels", "converted_from") if entry.get(k) is not None}

        def export(step: int) -> None:
            info = {**training, "prior_steps": step, "recipe": recipe}
            path = save_weights(codec, args.out, args.name, codec.default_quality, "float32",
                                {**keep, "training": info}, overwrite=True)
            print(f"step {step}: wrote {path}", flush=True)

        train_latent_codec(
            codec, latents, args.steps, args.seconds, args.batch, args.crop // LATENT_STRIDE, args.lr,
            seed=args.seed + done, export_every=args.export_every, on_export=export, first=done,
            on_log=lambda s, bpp: print(f"step {s} bpp {bpp:.4f} {time.monotonic() - t0:.0f} s", flush=True),
        )
    except (OmnicodecError, ValueError) as exc:
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
