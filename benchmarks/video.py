"""The video codec through real files: rate-distortion on ``../shared/data/video`` and speed on CIF.

With the shipped ``video/stem`` weights (or ``--weights``), every clip of ``../shared/data/video``
(its first ``--frames`` frames) is compressed to a file with ``omnicodec``'s own file path and
decoded from it, at each quality (default: every integer quality of the model's range):

- the RD curve (bpp of the whole file, Y-PSNR and RGB-PSNR averaged over frames, then clips) and
  its BD-rate (RGB-PSNR, pchip) against x264 (medium, zerolatency, ``-threads 1``) from
  ``results/video/x264.json``;
- the same clips intra-only (the same weights at intra period 1) against the image model the
  video model was made from (``converted_from``, rebuilt from the video weights once retired; with the
  video model's entropy skip threshold where the shipped image entry's differs; every frame
  coded as a PNG image file): the gap
  is the image model's BD-PSNR over the intra-only video curve at equal coded payload (the
  frames' and images' streams, without the per-file headers an image file pays once per frame);
  0 when intra frames are coded as images, positive when worse;
- the P-frame saving: 1 - (bits of the P-frames) / (bits of the same frames intra-coded at the
  same quality), pooled over clips, averaged over qualities, with both runs' PSNR of those frames.

Then encode and decode speed at the default quality on the first ``--speed-frames`` frames of
Foreman CIF from ``../shared/data/video_train`` (synthetic CIF frames when it is absent).

    python benchmarks/video.py [--weights W.json] [--qualities 1,3,5,7] [--frames 30]

The last line reads exactly ``video: points=<n> bdrate_vs_x264_pct=<x> intra_psnr_gap_db=<x>
p_frame_saving_pct=<x> cif_encode_fps=<x> cif_decode_fps=<x>``; with a GPU, the CUDA speed is
printed on a line before.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from omnicodec import compress_file, decompress_file, zoo
from omnicodec.codecs import create_codec
from omnicodec.coding import container
from omnicodec.datasets.folders import video_sequences
from omnicodec.datasets.video_io import VideoWriter, read_sequence
from omnicodec.eval.bdrate import bd_psnr, bd_rate
from omnicodec.eval.metrics import frame_psnrs, frame_psnrs_y
from omnicodec.eval.results import RDResults

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
FOREMAN = SHARED / "video_train" / "foreman_cif_h264intra"


def code_clip(frames: list[np.ndarray], weights: Path, quality: float, tmp: Path) -> dict:
    """One clip through a video file: bpp, mean PSNRs and each frame's bits and PSNR."""
    h, w = frames[0].shape[:2]
    source = tmp / "in"
    if not source.exists():
        writer = VideoWriter(source, w, h)
        for f in frames:
            writer.write(f)
        writer.commit()
    coded, back = tmp / "v.omc", tmp / f"out-{time.monotonic_ns()}"
    result = compress_file(source, coded, weights=weights, quality=quality, overwrite=True)
    chunks = container.unpack(coded.read_bytes()).chunks
    decompress_file(coded, back, weights=weights)
    decoded, _ = read_sequence(back)
    rgb = frame_psnrs(frames, decoded)
    bits = [8 * len(chunks[f"frame-{t}"]) for t in range(len(frames))]
    return {"bpp": result.bpp, "psnr-rgb": float(np.mean(rgb)), "psnr-y": float(np.mean(frame_psnrs_y(frames, decoded))),
            "payload_bpp": sum(bits) / (len(frames) * h * w), "frame_bits": bits, "frame_psnr": rgb}


def code_images(frames: list[np.ndarray], weights: Path, quality: float, tmp: Path) -> dict:
    """Every frame through an image file of the image model: bpp (of the files, and of their coded
    payload alone) and mean RGB-PSNR."""
    bits, payload, psnrs = 0, 0, []
    for t, frame in enumerate(frames):
        src, coded, back = tmp / f"f{t}.png", tmp / f"f{t}.omc", tmp / f"f{t}-out.png"
        Image.fromarray(frame).save(src)
        compress_file(src, coded, weights=weights, quality=quality, overwrite=True)
        decompress_file(coded, back, weights=weights, overwrite=True)
        bits += 8 * coded.stat().st_size
        payload += 8 * len(container.unpack(coded.read_bytes()).chunks["image"])
        psnrs.append(frame_psnrs([frame], [np.asarray(Image.open(back).convert("RGB"))])[0])
    h, w = frames[0].shape[:2]
    return {"bpp": bits / (len(frames) * h * w), "payload_bpp": payload / (len(frames) * h * w),
            "psnr-rgb": float(np.mean(psnrs))}


def curve(rows: list[dict], qualities: list[float], keys=("bpp", "payload_bpp", "psnr-rgb", "psnr-y")) -> dict[str, list[float]]:
    """Per quality, the mean over clips of each key."""
    n = len(rows) // len(qualities)
    return {k: [float(np.mean([r[k] for r in rows[i * n : (i + 1) * n]])) for i in range(len(qualities))]
            for k in keys if k in rows[0]}


def intra_only_weights(entry_path: Path, tmp: Path) -> Path:
    """The same weights at intra period 1 (every frame an intra frame)."""
    codec = copy.deepcopy(zoo.load_file_entry(entry_path).codec)
    codec.intra_period = 1
    return zoo.save_weights(codec, tmp, "intra-only", codec.default_quality, zoo.read_entry(entry_path)["dtype"])


def image_weights(entry: dict, tmp: Path) -> Path:
    """The image model the video model was made from: the shipped one it names (``converted_from``), or,
    once those weights are retired, the same model rebuilt from the video model's own frame transforms,
    gains and intra codec (which are exactly that image model's)."""
    source = entry.get("converted_from", "")
    for e in zoo.shipped_entries():
        if e["codec_id"] == "image/hyperprior" and source and e["sha256"] == source:
            tau, image_tau = entry["config"].get("skip_threshold", 0.0), e["config"].get("skip_threshold", 0.0)
            if tau == image_tau:
                return Path(e["_path"])
            # entropy skip is a coding setting: compare with the image model skipping as the video's intra codec does
            print(f"the image model ({source[:8]}…) skips below {image_tau}, the video model below {tau}: "
                  f"compared at {tau}")
            image = zoo.load_file_entry(e["_path"]).codec
            config = {k: v for k, v in image.config().items() if k != "skip_threshold"}
            same = create_codec("image/hyperprior", {**config, **({"skip_threshold": tau} if tau else {})})
            same.load_state_dict(image.state_dict())
            return zoo.save_weights(same.eval().freeze(), tmp, "image-as-video", e["quality"], e["dtype"])
    if not source:
        raise SystemExit(f"{entry['_path']} names no image model it was made from (converted_from)")
    image = zoo.load_file_entry(entry["_path"]).codec.to_image()
    print(f"the image model it was made from ({source[:8]}…) is not shipped: rebuilt from the video model's frame codec")
    return zoo.save_weights(image.eval().freeze(), tmp, "image-from-video", image.default_quality, entry["dtype"])


def speed(codec, clip: list[np.ndarray], device: str) -> tuple[float, float]:
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
        h, w = clip[0].shape[:2]
        writer = VideoWriter(Path(tmp) / "out.y4m", w, h)
        reference = None
        start = time.perf_counter()
        for t, bitstream in enumerate(streams):
            frame, reference = codec.decompress_frame(bitstream, t, reference, h, w)
            writer.write((frame[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy())
        if device == "cuda":
            torch.cuda.synchronize()
        decode = time.perf_counter() - start
        writer.commit()
    return len(clip) / encode, len(clip) / decode


def cif_frames(n: int) -> tuple[list[np.ndarray], str]:
    if FOREMAN.exists():
        return read_sequence(FOREMAN, n)[0], "Foreman CIF"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (288 + 2 * n, 352, 3)).astype(np.uint8)
    return [base[2 * t : 2 * t + 288] for t in range(n)], "synthetic CIF"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="video/stem weights (.json); default: the shipped ones")
    parser.add_argument("--data", default=str(SHARED / "video"))
    parser.add_argument("--frames", type=int, default=30, help="frames per clip")
    parser.add_argument("--qualities", help="e.g. 1,3,5,7 (default: every integer quality of the range)")
    parser.add_argument("--x264", default=str(ROOT / "results" / "video" / "x264.json"))
    parser.add_argument("--speed-frames", type=int, default=10)
    parser.add_argument("--save", help="write the RD curve (CompressAI-schema JSON) to this file")
    args = parser.parse_args()
    path = Path(args.weights) if args.weights else Path(zoo.find_entry("video/stem")["_path"])
    entry = zoo.read_entry(path)
    low, high = entry["quality_range"]
    qualities = [float(q) for q in args.qualities.split(",")] if args.qualities else list(np.arange(low, high + 1.0))
    clips = [(p.name, read_sequence(p, args.frames)[0]) for p in video_sequences(args.data)]
    print(f"{path.name}: video/stem {entry['config']}, clips {', '.join(f'{n} ({len(c)})' for n, c in clips)}")

    main_rows, intra_rows, image_rows, saving, p_psnr, i_psnr = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        intra_path, image_path = intra_only_weights(path, tmp / "w"), image_weights(entry, tmp / "image")
        period = entry["config"]["intra_period"]
        for q in qualities:
            p_bits = i_bits = 0
            for name, frames in clips:
                work = tmp / f"{name}-{q}"
                (work / "img").mkdir(parents=True)
                main, intra = code_clip(frames, path, q, work), code_clip(frames, intra_path, q, work)
                image_rows.append(code_images(frames, image_path, q, work / "img"))
                main_rows.append(main)
                intra_rows.append(intra)
                p_frames = [t for t in range(len(frames)) if t % period]
                p_bits += sum(main["frame_bits"][t] for t in p_frames)
                i_bits += sum(intra["frame_bits"][t] for t in p_frames)
                p_psnr += [main["frame_psnr"][t] for t in p_frames]
                i_psnr += [intra["frame_psnr"][t] for t in p_frames]
                print(f"q {q:g} {name}: {main['bpp']:.4f} bpp {main['psnr-y']:.2f} dB Y {main['psnr-rgb']:.2f} dB RGB; "
                      f"intra-only {intra['bpp']:.4f} bpp {intra['psnr-rgb']:.2f} dB; "
                      f"image model {image_rows[-1]['bpp']:.4f} bpp {image_rows[-1]['psnr-rgb']:.2f} dB", flush=True)
            saving.append(1 - p_bits / i_bits)
            print(f"q {q:g}: P-frames {100 * saving[-1]:.1f} % fewer bits than the same frames intra-coded", flush=True)

    ours, intra_only, image = curve(main_rows, qualities), curve(intra_rows, qualities), curve(image_rows, qualities)
    x264 = RDResults(**json.loads(Path(args.x264).read_text())).curve("psnr-rgb")
    bd_x264 = bd_rate(*x264, ours["bpp"], ours["psnr-rgb"])
    gap = bd_psnr(intra_only["payload_bpp"], intra_only["psnr-rgb"], image["payload_bpp"], image["psnr-rgb"])
    print("quality  bpp     Y-PSNR  RGB-PSNR | intra-only bpp payload RGB-PSNR | image bpp payload RGB-PSNR")
    for i, q in enumerate(qualities):
        print(f"{q:7g}  {ours['bpp'][i]:.4f}  {ours['psnr-y'][i]:.2f}   {ours['psnr-rgb'][i]:.2f}    | "
              f"{intra_only['bpp'][i]:.4f} {intra_only['payload_bpp'][i]:.4f} {intra_only['psnr-rgb'][i]:.2f} | "
              f"{image['bpp'][i]:.4f} {image['payload_bpp'][i]:.4f} {image['psnr-rgb'][i]:.2f}")
    print(f"P-frames: {100 * np.mean(saving):.1f} % fewer bits than intra at equal quality "
          f"(their RGB-PSNR {np.mean(p_psnr):.2f} dB, intra-coded {np.mean(i_psnr):.2f} dB)")
    if args.save:
        description = f"video/stem {path.name}, intra period {period}, first {args.frames} frames, from real files"
        RDResults("video-stem", description, {"quality": qualities, **ours}).save_json(args.save)

    clip, what = cif_frames(args.speed_frames)
    codec = zoo.load_file_entry(path).codec
    print(f"speed: {what}, {len(clip)} frames, {torch.get_num_threads()} CPU threads")
    if torch.cuda.is_available():
        enc, dec = speed(codec, clip, "cuda")
        print(f"cuda: encode {enc:.2f} frames/s, decode {dec:.2f} frames/s")
    enc, dec = speed(codec, clip, "cpu")
    print(f"video: points={len(qualities)} bdrate_vs_x264_pct={bd_x264:.2f} intra_psnr_gap_db={gap:.3f} "
          f"p_frame_saving_pct={100 * np.mean(saving):.1f} cif_encode_fps={enc:.2f} cif_decode_fps={dec:.2f}")


if __name__ == "__main__":
    main()
