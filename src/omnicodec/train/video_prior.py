"""Train the temporal prior of a ``video/stem`` codec on frozen frame transforms.

A codec made by :meth:`~omnicodec.codecs.video.stem.STEMVideoCodec.from_image` has the image
model's ``g_a``, ``g_s``, gains and intra codec; only ``inter`` must learn the rate of a
P-frame latent given the previous decoded latent. So the frames go through the frozen ``g_a``
once (whole, padded as coding pads them) and training runs on random latent windows of
consecutive frames: each window gets a quality drawn from the codec's range, its first frame
is intra-coded in eval mode (rounded around the intra means, as ``compress_frame`` does) and
every later frame is a P-frame on the previous one's rounded latent. The loss is the P-frames'
rate (``y`` and ``z`` under ``inter``) in bits per pixel. It is rate only: with frozen
transforms the distortion depends on ``inter`` only through the rounding centres.

With motion (``--motion-block``, or a video model that has it) a P-frame's reference is the latent of
the previous decoded frame moved onto it by block motion: for every frame of the training clips and
every integer quality level, the previous frame is intra-coded and decoded at that level, moved by the
vectors the encoder's search finds, and analysed by ``g_a`` once; training draws a frame, a quality
in the codec's range (the reference of the nearest level) and a window, and learns the P-frame's rate.

    python -m omnicodec.train.video_prior --init IMAGE_OR_VIDEO.json --out runs/prior [--seconds 3600]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from ..codecs.image.padding import pad_to_multiple
from ..codecs.video.stem import IMAGE_CONTEXT, INTER_PRIORS, STEMVideoCodec
from ..constants import IMAGE_STRIDE
from ..datasets.folders import video_sequences
from ..datasets.video_io import read_sequence
from ..errors import OmnicodecError
from .losses import bits_from_likelihoods
from .rate_only import train_rate_only

LATENT_STRIDE = 16  # pixels per latent element of the frame transforms


@torch.no_grad()
def cache_latents(codec: STEMVideoCodec, sequences: list[list[np.ndarray]]) -> list[torch.Tensor]:
    """``g_a`` of every frame (unscaled, padded like coding pads): one ``[T, M, h, w]`` per sequence."""
    return [torch.cat([codec.g_a(padded_frame(frame)) for frame in frames]) for frames in sequences]


def padded_frame(frame: np.ndarray) -> torch.Tensor:
    """An 8-bit ``[H, W, 3]`` frame as ``[1, 3, H', W']`` floats in [0, 1], padded as coding pads it."""
    return pad_to_multiple(torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float().div_(255.0), IMAGE_STRIDE)


def sample_windows(
    latents: list[torch.Tensor], batch: int, frames: int, size: int, rng: np.random.Generator
) -> torch.Tensor:
    """``batch`` windows ``[B, frames, M, size, size]`` of consecutive latents (smaller latents: whole)."""
    size = min([size] + [min(y.shape[-2:]) for y in latents])
    out = []
    for _ in range(batch):
        y = latents[int(rng.integers(len(latents)))]
        start = int(rng.integers(max(y.shape[0] - frames, 0) + 1))
        top, left = int(rng.integers(y.shape[-2] - size + 1)), int(rng.integers(y.shape[-1] - size + 1))
        out.append(y[start : start + frames, :, top : top + size, left : left + size])
    return torch.stack(out)


@torch.no_grad()
def start_inter_as_intra(codec: STEMVideoCodec, shift: float = 8.0) -> None:
    """Warm start: ``inter`` codes a P-frame as ``intra``'s hyperprior codes a picture (without the
    image model's context, if it has one), so training starts near the intra rate and learns what the
    reference adds. Its hyper transforms and factorized prior are
    ``intra``'s (the reference's half of ``h_a``'s input at zero weight). Its entropy-parameter
    network passes the intra parameters (the first ``2M`` side channels) through its first ``2M``
    hidden units, shifted by ``shift`` so the leaky ReLUs stay linear (exactly so for parameters
    above ``-shift``; a larger shift makes the first training steps unstable); the other hidden units keep
    random inputs (scaled down after the shift) and start with zero weight on the output, so they
    learn from the first step."""
    inter, intra, M = codec.inter, codec.intra, codec.M
    if codec.intra_prior not in IMAGE_CONTEXT or codec.residual:
        raise ValueError("the warm start needs an image model's intra codec (intra_prior "
                         f"{' or '.join(IMAGE_CONTEXT)}) and residual=False")
    if inter.residual:
        raise ValueError("a residual-checkerboard inter codec starts as the intra codec by itself (from_image)")
    inter.copy_hyperprior(intra)
    first, middle, last = [m for m in inter.y_codec.entropy_parameters if isinstance(m, torch.nn.Conv2d)]
    middle.weight[2 * M :].div_(shift)
    for conv, bias in ((first, shift), (middle, 0.0), (last, -shift)):
        conv.weight[: 2 * M].zero_()[range(2 * M), range(2 * M), 0, 0] = 1.0
        conv.bias[: 2 * M] = bias


def p_frame_rate(codec: STEMVideoCodec, y: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Bits per pixel of the P-frames of latent windows ``y`` ([B, T, M, h, w], unscaled) at ``quality``
    ([B]): frame 0 is the intra reference, frames 1… are coded by ``inter`` on the previous one."""
    scaled = [codec.gains.scale(y[:, t], quality) for t in range(y.shape[1])]
    with torch.no_grad():
        reference = codec.intra.eval()(scaled[0])[0]
    bits = y.new_zeros(())
    for target in scaled[1:]:
        if codec.residual:
            target = target - reference
        _, likelihoods, means = codec.inter(target, reference)
        bits = bits + bits_from_likelihoods(likelihoods)
        decoded = (torch.round(target - means) + means).detach()  # what the decoder holds
        reference = decoded + reference if codec.residual else decoded
    pixels = y.shape[0] * (y.shape[1] - 1) * y.shape[-2] * y.shape[-1] * LATENT_STRIDE**2
    return bits / pixels


def train_prior(
    codec: STEMVideoCodec, latents: list[torch.Tensor], steps: int, seconds: float = float("inf"),
    batch: int = 8, frames: int = 3, size: int = 16, lr: float = 1e-4, aux_lr: float = 1e-3, seed: int = 0,
    log_every: int = 50, on_log=None, export_every: int = 0, on_export=None, temporal_lr_scale: float = 1.0,
) -> list[float]:
    """Train ``codec.inter`` alone for ``steps`` steps or ``seconds``; returns the loss of every step.
    ``on_log(step, mean_bpp)`` is called every ``log_every`` steps, ``on_export(step)`` every
    ``export_every`` steps and after the last one (one optimizer throughout: a fresh Adam makes the
    first steps jump)."""
    if codec.gains is None:
        raise ValueError("the temporal prior trains on a variable-rate codec (one with gain units)")
    low, high = codec.quality_range

    def draw(rng: np.random.Generator) -> torch.Tensor:
        y = sample_windows(latents, batch, frames, size, rng)
        return p_frame_rate(codec, y, torch.from_numpy(rng.uniform(low, high, batch)).float())

    return train_rate_only(codec, codec.inter, draw, steps, seconds, lr, aux_lr=aux_lr, seed=seed, log_every=log_every,
                           on_log=on_log, export_every=export_every, on_export=on_export,
                           fast=temporal_parameters(codec), fast_scale=temporal_lr_scale)


@torch.no_grad()
def motion_pairs(codec: STEMVideoCodec, sequences: list[list[np.ndarray]], on_clip=None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For every frame but the first of each sequence: its latent ``[M, h, w]`` and the latents
    ``[L, M, h, w]`` of the previous frame decoded at each quality level ``1…L`` and moved onto it
    (all unscaled)."""
    pairs, levels = [], codec.gains.levels
    for frames in sequences:
        xs = [padded_frame(f) for f in frames]
        ys = [codec.g_a(x) for x in xs]
        for t in range(1, len(xs)):
            moved = []
            for q in range(1, levels + 1):
                y_hat = codec.intra.eval()(codec.gains.scale(ys[t - 1], q))[0]
                decoded = codec.g_s(codec.gains.scale(y_hat, q, inverse=True))
                moved.append(codec.g_a(codec.moved_frames(xs[t], decoded)))
            pairs.append((ys[t][0], torch.cat(moved)))
        if on_clip is not None:
            on_clip(len(pairs))
    return pairs


def moved_rate(codec: STEMVideoCodec, pairs: list, batch: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Bits per pixel of ``batch`` P-frame windows (``size`` latent elements square) drawn from
    :func:`motion_pairs`, each at a uniform quality, coded by ``inter`` on its moved reference."""
    low, high = codec.quality_range
    s = min([size] + [min(y.shape[-2:]) for y, _ in pairs])
    targets, references = [], []
    for _ in range(batch):
        y, moved = pairs[int(rng.integers(len(pairs)))]
        q = float(rng.uniform(low, high))
        reference = moved[int(round(q)) - 1]
        top, left = int(rng.integers(y.shape[-2] - s + 1)), int(rng.integers(y.shape[-1] - s + 1))
        targets.append(codec.gains.scale(y[None, :, top : top + s, left : left + s], q))
        references.append(codec.gains.scale(reference[None, :, top : top + s, left : left + s], q))
    _, likelihoods, _ = codec.inter(torch.cat(targets), torch.cat(references))
    return bits_from_likelihoods(likelihoods) / (batch * s * s * LATENT_STRIDE**2)


def train_motion_prior(
    codec: STEMVideoCodec, pairs: list, steps: int, seconds: float = float("inf"), batch: int = 8, size: int = 16,
    lr: float = 1e-4, seed: int = 0, log_every: int = 50, on_log=None, export_every: int = 0, on_export=None,
    temporal_lr_scale: float = 1.0,
) -> list[float]:
    """:func:`train_prior` for a codec with motion, on :func:`motion_pairs`."""
    if codec.gains is None or not codec.motion_block:
        raise ValueError("motion training needs a variable-rate video model with motion_block set")
    return train_rate_only(codec, codec.inter, lambda rng: moved_rate(codec, pairs, batch, size, rng), steps, seconds,
                           lr, seed=seed, log_every=log_every, on_log=on_log, export_every=export_every,
                           on_export=on_export, fast=temporal_parameters(codec), fast_scale=temporal_lr_scale)


def temporal_parameters(codec: STEMVideoCodec) -> tuple[torch.nn.Parameter, ...]:
    """The parameters of ``inter`` that read the previous frame: the temporal prior, and the first layers
    that take its features (``h_a``'s and the entropy-parameter network's)."""
    inter = codec.inter
    return (*inter.temporal_prior.parameters(), *inter.h_a[0].parameters(),
            *inter.y_codec.entropy_parameters[0].parameters())


def with_motion(codec: STEMVideoCodec, block: int, reach: int) -> STEMVideoCodec:
    """The same model with P-frames on the moved previous frame (every parameter kept)."""
    video = STEMVideoCodec(**{**codec.config(), "motion_block": block, "motion_range": reach})
    video.load_state_dict(codec.state_dict())
    return video


def _load(
    path: str, intra_period: int | None, prior_kernel: int, inter_prior: str | None = None
) -> tuple[STEMVideoCodec, dict]:
    from ..zoo import load_file_entry, read_entry

    entry, codec = read_entry(path), load_file_entry(path).codec
    if entry["codec_id"] == "image/hyperprior":
        video = STEMVideoCodec.from_image(codec, intra_period=intra_period or 8, prior_kernel=prior_kernel,
                                          inter_prior=inter_prior)
        if video.inter_prior == "checkerboard":  # the residual one starts as the intra codec by itself
            start_inter_as_intra(video)
        return video, {"converted_from": entry["sha256"], "steps": 0,
                       **{k: entry[k] for k in ("lambda_levels",) if entry.get(k) is not None}}
    if not isinstance(codec, STEMVideoCodec):
        raise ValueError(f"{path} holds {entry['codec_id']}, not an image/hyperprior or video/stem model")
    if intra_period is not None:
        codec.intra_period = intra_period
    keep = ("converted_from", "lambda_levels")
    training = entry.get("training", {})  # shipped entries say "steps", this command's exports "prior_steps"
    return codec, {**{k: entry[k] for k in keep if entry.get(k) is not None},
                   "steps": int(training.get("prior_steps", training.get("steps", 0)))}


def main(argv: list[str] | None = None) -> int:
    from ..zoo import save_weights

    parser = argparse.ArgumentParser(prog="python -m omnicodec.train.video_prior", description=__doc__.split("\n\n")[0])
    parser.add_argument("--init", required=True, help="weights (.json) of an image/hyperprior model or a video/stem to go on with")
    parser.add_argument("--out", required=True, help="folder for the exported weights")
    parser.add_argument("--name", default="video-stem-prior", help="weights name (default video-stem-prior)")
    parser.add_argument("--data", nargs="+", default=["../shared/data/video_train"], help="video folders")
    parser.add_argument("--intra-period", type=int, help="an intra frame every N frames (default: the video model's own; "
                        "8 from an image model)")
    parser.add_argument("--prior-kernel", type=int, default=3, help="temporal prior convolutions from an image model: 3 or 5")
    parser.add_argument("--inter-prior", choices=INTER_PRIORS, help="the P-frames' checkerboard from an image model "
                        "(default: residual-checkerboard when the image model has a context, else checkerboard)")
    parser.add_argument("--motion-block", type=int, default=0, help="P-frames on the previous frame moved by "
                        "block motion, blocks of this many pixels (8, 16 or 32; default: as the model has it)")
    parser.add_argument("--motion-range", type=int, default=16, help="motion vectors within ±this many pixels")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=float("inf"), help="stop after this many seconds")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=3, help="frames per window: 1 intra + P-frames")
    parser.add_argument("--crop", type=int, default=256, help="window size in pixels (a multiple of 16)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--temporal-lr-scale", type=float, default=1.0, help="the temporal prior and the layers "
                        "that read it learn at this multiple of --lr (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-every", type=int, default=500, help="steps between exports (overwriting)")
    args = parser.parse_args(argv)
    try:
        codec, extra = _load(args.init, args.intra_period, args.prior_kernel, args.inter_prior)
        if args.motion_block and (args.motion_block, args.motion_range) != (codec.motion_block, codec.motion_range):
            codec = with_motion(codec, args.motion_block, args.motion_range)
        t0 = time.monotonic()
        sequences = [read_sequence(p)[0] for d in args.data for p in video_sequences(d)]
        if codec.motion_block:
            pairs = motion_pairs(codec, sequences, on_clip=lambda n: print(
                f"moved references of {n} frames ({time.monotonic() - t0:.0f} s)", flush=True))
        else:
            latents = cache_latents(codec, sequences)
            print(f"cached {sum(len(y) for y in latents)} frame latents of {len(latents)} sequences "
                  f"in {time.monotonic() - t0:.0f} s", flush=True)
        done = extra.pop("steps")
        window = (f"P-frames of {args.crop}x{args.crop} on the previous frame decoded at the nearest level and moved"
                  if codec.motion_block else f"{args.frames}-frame windows of {args.crop}x{args.crop}")
        recipe = (f"temporal prior only (frame transforms, gains and intra codec frozen): rate of P-frames, "
                  f"{window}, batch {args.batch}, a uniform quality per "
                  f"window, Adam lr {args.lr} (the temporal layers ×{args.temporal_lr_scale:g}), on {', '.join(args.data)}")

        def export(step: int) -> None:
            training = {"prior_steps": done + step, "recipe": recipe}
            path = save_weights(codec, args.out, args.name, codec.default_quality, "float32",
                                {**extra, "training": training}, overwrite=True)
            print(f"step {done + step}: wrote {path}", flush=True)

        def log(step: int, bpp: float) -> None:
            print(f"step {done + step} p_frame_bpp {bpp:.4f} {time.monotonic() - t0:.0f} s", flush=True)

        if codec.motion_block:
            train_motion_prior(codec, pairs, args.steps - done, args.seconds, args.batch, args.crop // LATENT_STRIDE,
                               args.lr, seed=args.seed + done, export_every=args.export_every, on_export=export,
                               temporal_lr_scale=args.temporal_lr_scale, on_log=log)
        else:
            train_prior(
                codec, latents, args.steps - done, args.seconds, args.batch, args.frames, args.crop // LATENT_STRIDE,
                args.lr, seed=args.seed + done, export_every=args.export_every, on_export=export,
                temporal_lr_scale=args.temporal_lr_scale, on_log=log,
            )
    except (OmnicodecError, ValueError) as exc:
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
