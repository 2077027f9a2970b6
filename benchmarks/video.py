"""Encode and decode speed of the video codec on CIF (352×288) frames, through real files.

Uses shipped ``video/stem`` weights when there are any, else a freshly initialised codec of
the given config (speed does not depend on training). Frames: the first ``--frames`` of
Foreman CIF from ``../shared/data/video_train`` when present, else synthetic frames.

    python benchmarks/video.py [--frames 10] [--config '{"N": 64, "M": 96}']

The last line reads exactly ``video: cif_encode_fps=<x> cif_decode_fps=<x>`` (CPU); with a GPU,
the CUDA figures are printed on the line before.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from omnicodec import zoo
from omnicodec.codecs import create_codec
from omnicodec.datasets.video_io import VideoWriter, read_sequence

FOREMAN = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "video_train" / "foreman_cif_h264intra"


def frames(n: int) -> tuple[list[np.ndarray], str]:
    if FOREMAN.exists():
        seq, _ = read_sequence(FOREMAN, n)
        return seq, "Foreman CIF"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (288 + 2 * n, 352, 3)).astype(np.uint8)
    return [base[2 * t : 2 * t + 288] for t in range(n)], "synthetic CIF"


def measure(codec, clip: list[np.ndarray], device: str) -> tuple[float, float]:
    codec = codec.to(device)
    with tempfile.TemporaryDirectory() as tmp:
        reference, streams = None, []
        start = time.perf_counter()
        for t, frame in enumerate(clip):
            x = torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float().div(255).to(device)
            bitstream, reference = codec.compress_frame(x, t, reference)
            streams.append(bitstream)
        if device == "cuda":
            torch.cuda.synchronize()
        encode = time.perf_counter() - start
        writer = VideoWriter(Path(tmp) / "out.y4m", 352, 288)
        reference = None
        start = time.perf_counter()
        for t, bitstream in enumerate(streams):
            frame, reference = codec.decompress_frame(bitstream, t, reference, 288, 352)
            writer.write((frame[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy())
        if device == "cuda":
            torch.cuda.synchronize()
        decode = time.perf_counter() - start
        writer.commit()
    return len(clip) / encode, len(clip) / decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--config", default='{"N": 64, "M": 96}', help="config when no weights are shipped")
    args = parser.parse_args()
    clip, what = frames(args.frames)
    shipped = [e for e in zoo.shipped_entries() if e["codec_id"] == "video/stem"]
    if shipped:
        codec, source = zoo.load("video/stem").codec, "shipped weights"
    else:
        torch.manual_seed(0)
        codec, source = create_codec("video/stem", json.loads(args.config)).eval().freeze(), "untrained weights"
    params = sum(p.numel() for p in codec.parameters())
    print(f"{what}, {len(clip)} frames, video/stem {codec.config()} ({params / 1e6:.2f} M parameters, {source}), "
          f"{torch.get_num_threads()} CPU threads")
    if torch.cuda.is_available():
        enc, dec = measure(codec, clip, "cuda")
        print(f"cuda: encode {enc:.2f} frames/s, decode {dec:.2f} frames/s")
    enc, dec = measure(codec, clip, "cpu")
    print(f"video: cif_encode_fps={enc:.2f} cif_decode_fps={dec:.2f}")


if __name__ == "__main__":
    main()
