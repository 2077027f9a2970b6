"""A quick estimate of a video model's P-frame saving, from its entropy model's likelihoods (no files).

For each clip of ``../shared/data/video`` (its first ``--frames`` frames) and each quality, every
frame's latent is coded (in eval mode, as coding rounds it) by the intra codec and, for P-frames, by
the temporal codec on the previous decoded latent; the saving is 1 - (P-frames' bits) / (the same
frames' bits intra-coded), pooled over clips. With motion (``motion_block``), a P-frame's reference is
the latent of the previous frame, decoded in floating point, moved by the vectors the encoder's
search finds, and the vectors' stream (its real bytes) counts in the P-frame's bits. It checks a
training run in seconds; the figure that counts is ``benchmarks/video.py``'s, measured from real
files (the two agreed to 0.4 point or better for the shipped models).

    python benchmarks/video_p_saving.py W.json [W2.json ...] [--qualities 1,3,5,8]

Prints one line per weights file: ``video_p_saving: <weights> q1=<x> q3=<x> ... mean=<x>`` (percent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from omnicodec.codecs.video.motion import compensate, encode_vectors, motion_search
from omnicodec.datasets.folders import video_sequences
from omnicodec.datasets.video_io import read_sequence
from omnicodec.train.losses import bits_from_likelihoods
from omnicodec.train.video_prior import cache_latents, padded_frame
from omnicodec.zoo import load_file_entry

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@torch.no_grad()
def p_saving(codec, latents: list[torch.Tensor], quality: float, clips: list | None = None) -> float:
    """Percent of the intra bits that the P-frames of ``latents`` ([T, M, h, w] per clip) save
    (a model with motion also needs the ``clips``' frames)."""
    intra_bits = p_bits = 0.0
    for c, y in enumerate(latents):
        scaled, reference = codec.gains.scale(y, quality), None
        for t in range(len(scaled)):
            frame = scaled[t : t + 1]
            y_hat, intra, _ = codec.intra(frame)
            if not (codec.is_intra(t) or reference is None):
                prediction = reference
                if codec.motion_block:
                    x = padded_frame(clips[c][t])
                    decoded = codec.g_s(codec.gains.scale(reference, quality, inverse=True)).clamp(0, 1)
                    vectors = motion_search(x, decoded, codec.motion_block, codec.motion_range)
                    prediction = codec.gains.scale(codec.g_a(compensate(decoded, vectors, codec.motion_block)), quality)
                    p_bits += 8 * len(encode_vectors(vectors, codec.motion_range))
                y_hat, inter, _ = codec.inter(frame, prediction)
                p_bits += float(bits_from_likelihoods(inter))
                intra_bits += float(bits_from_likelihoods(intra))
            reference = y_hat
    return 100 * (1 - p_bits / intra_bits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="+", help="video/stem weights (.json)")
    parser.add_argument("--data", default=str(SHARED / "video"))
    parser.add_argument("--frames", type=int, default=30, help="frames per clip")
    parser.add_argument("--qualities", default="1,3,5,8")
    args = parser.parse_args()
    clips = [read_sequence(p, args.frames)[0] for p in video_sequences(args.data)]
    qualities = [float(q) for q in args.qualities.split(",")]
    for path in args.weights:
        codec = load_file_entry(path).codec.eval()
        if codec.residual:
            raise SystemExit(f"{path}: the estimate covers P-frames that code the latent itself (residual=False)")
        latents = cache_latents(codec, clips)
        savings = [p_saving(codec, latents, q, clips) for q in qualities]
        figures = " ".join(f"q{q:g}={s:.1f}" for q, s in zip(qualities, savings))
        print(f"video_p_saving: {path} {figures} mean={sum(savings) / len(savings):.1f}", flush=True)


if __name__ == "__main__":
    main()
