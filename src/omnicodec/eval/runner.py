"""``omnicodec eval``: measure a codec or a classical baseline over a dataset folder.

For every item and quality the item is really coded (learned codecs write an omnicodec
file through :func:`omnicodec.compress_file`; baselines produce their own bitstream) and
decoded, and the metrics are computed on the decoded 8-bit result. Rates come from the
real sizes; learned image codecs also report ``bpp-est``, the information content of the
symbols the range coder coded (the latent of the padded image, under the integer tables),
side by side. Per-quality means form the RD curve.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..constants import SPEECH_RATE
from ..errors import InputError
from ..media.files import compress_file, decompress_file
from .baselines import BASELINES, FFMPEG_BASELINES, IMAGE_BASELINES, baseline_media
from .metrics import frame_psnrs, frame_psnrs_y, load_recording, ms_ssim, ms_ssim_scales, psnr, speech_quality
from .results import RDResults

# --- one item -------------------------------------------------------------------------------


def _load_rgb(path: Path) -> np.ndarray:
    from ..datasets.image_io import read_image

    return read_image(path)[0]


def _image_row(reference: np.ndarray, decoded: np.ndarray, num_bytes: int) -> dict:
    h, w = reference.shape[:2]
    row = {"bpp": 8 * num_bytes / (h * w), "psnr-rgb": psnr(reference, decoded)}
    row["ms-ssim-rgb"] = ms_ssim(reference, decoded) if ms_ssim_scales(h, w) else math.nan
    return row


def _image_baseline_task(args: tuple[str, str, int], device: str = "cpu") -> dict:
    name, path, quality = args
    rgb = _load_rgb(Path(path))
    t0 = time.perf_counter()
    size, decoded = IMAGE_BASELINES[name].code(rgb, quality)
    row = _image_row(rgb, decoded, size)
    row.update(item=Path(path).name, quality=quality, seconds=time.perf_counter() - t0)
    return row


def _speech_baseline_task(args: tuple[str, str, object], device: str = "cpu") -> dict:
    name, path, setting = args
    reference = load_recording(path)
    size, decoded = FFMPEG_BASELINES[name].code_speech(reference, setting)
    row = speech_quality(reference, decoded)
    row.update(item=Path(path).name, quality=setting, kbps=8 * size / (reference.size / SPEECH_RATE) / 1000)
    return row


def _video_baseline_task(args: tuple[str, str, object, int | None], device: str = "cpu") -> dict:
    from ..datasets.video_io import read_sequence

    name, path, setting, max_frames = args
    frames, info = read_sequence(path, max_frames)
    size, decoded = FFMPEG_BASELINES[name].code_video(frames, setting, info.get("fps", (25, 1)))
    per_frame = frame_psnrs(frames, decoded)
    h, w = frames[0].shape[:2]
    return {
        "item": Path(path).name, "quality": setting, "bpp": 8 * size / (len(frames) * h * w),
        "psnr-rgb": float(np.mean(per_frame)), "psnr-y": float(np.mean(frame_psnrs_y(frames, decoded))),
        "frame-psnr": per_frame,
    }


# --- whole runs --------------------------------------------------------------------------------


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="item")


def _run_tasks(fn, tasks: list, jobs: int, desc: str, progress: bool) -> list[dict]:
    """``fn(task, "cpu")`` for every task, in order, in this process or a pool of ``jobs``."""
    if jobs <= 1:
        return [fn(t, "cpu") for t in _progress(tasks, len(tasks), desc, progress)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(_progress(pool.map(fn, tasks), len(tasks), desc, progress))


def _learned_image_row(task: tuple, device: str = "cpu") -> dict:
    """One item at one quality, from a real file. ``bpp-est`` is the information content of the symbols
    the coder coded (padding included, under the shipped integer tables), per pixel of the image; the
    file adds the coder's flush and check value per stream and the container framing."""
    from ..coding import information_meter

    quality, model, path, weights = task
    reference = _load_rgb(path)
    with tempfile.TemporaryDirectory() as tmp:
        coded, back = Path(tmp) / "x.omc", Path(tmp) / "x.png"
        t0 = time.perf_counter()
        with information_meter() as meter:
            result = compress_file(path, coded, device=device, **model)
        t1 = time.perf_counter()
        decompress_file(coded, back, weights=weights, device=device)
        t2 = time.perf_counter()
        row = _image_row(reference, _load_rgb(back), result.num_bytes)
    h, w = reference.shape[:2]
    row.update(
        item=path.name, quality=quality, **{"bpp-est": meter.bits / (h * w)},
        encoding_time=t1 - t0, decoding_time=t2 - t1,
    )
    return row


def _models(codec_id: str, qualities: list | None, weights: str | Path | None) -> list[tuple[float, dict]]:
    """``(quality, compress_file keywords)`` per model to measure: the exported ``weights`` (every
    requested quality of a variable-rate model, by default its integer levels), or the shipped
    weights of ``codec_id`` at the chosen qualities."""
    if weights is None:
        return [(q, {"codec": codec_id, "quality": q}) for q in _shipped_qualities(codec_id, qualities)]
    from ..zoo.format import read_entry

    path = Path(weights)
    entry = read_entry(path.with_suffix(".json") if path.suffix == ".safetensors" else path)
    if entry.get("codec_id") != codec_id:
        raise InputError(f"{weights} holds {entry.get('codec_id')} weights, not {codec_id}")
    span = entry.get("quality_range")
    if not span:
        return [(entry.get("quality", 0), {"weights": weights})]
    chosen = _levels([entry], qualities)
    if not chosen:
        raise InputError(f"{weights} serves qualities {span[0]:g} to {span[1]:g}, none of {qualities}")
    return [(q, {"weights": weights, "quality": q}) for q in chosen]


def _levels(entries: list[dict], qualities: list | None) -> list[float]:
    """The requested qualities these entries serve; by default every level (for a variable-rate
    entry, every integer level of its range)."""
    from .. import zoo

    if qualities is not None:
        return [q for q in qualities if isinstance(q, (int, float)) and any(zoo.serves(e, q) for e in entries)]
    levels: set = set()
    for e in entries:
        span = e.get("quality_range")
        levels |= set(range(int(span[0]), int(span[1]) + 1)) if span else {e["quality"]}
    return sorted(levels)


def _shipped_qualities(codec_id: str, qualities: list | None) -> list[float]:
    from .. import zoo

    entries = [e for e in zoo.shipped_entries() if e["codec_id"] == codec_id]
    if not entries:
        raise InputError(f"{codec_id} has no shipped weights; evaluate an exported model with its weights file")
    shipped = _levels(entries, None)
    chosen = _levels(entries, qualities)
    if not chosen:
        raise InputError(f"{codec_id} has no shipped weights at qualities {qualities} (shipped: {shipped})")
    return chosen


def _learned_video_row(task: tuple, device: str = "cpu") -> dict:
    from ..datasets.video_io import VideoWriter, read_sequence

    quality, model, path, weights, max_frames = task
    frames, info = read_sequence(path, max_frames)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in"  # exactly the frames that are measured
        writer = VideoWriter(source, info["width"], info["height"], info.get("fps", (25, 1)))
        for f in frames:
            writer.write(f)
        writer.commit()
        t0 = time.perf_counter()
        result = compress_file(source, Path(tmp) / "v.omc", device=device, **model)
        t1 = time.perf_counter()
        decompress_file(Path(tmp) / "v.omc", Path(tmp) / "out", weights=weights, device=device)
        t2 = time.perf_counter()
        decoded, _ = read_sequence(Path(tmp) / "out")
    per_frame = frame_psnrs(frames, decoded)
    return {
        "item": path.name, "quality": quality, "bpp": result.bpp, "psnr-rgb": float(np.mean(per_frame)),
        "psnr-y": float(np.mean(frame_psnrs_y(frames, decoded))), "frame-psnr": per_frame,
        "encode_fps": len(frames) / (t1 - t0), "decode_fps": len(frames) / (t2 - t1),
    }


def _learned_speech_row(task: tuple, device: str = "cpu") -> dict:
    import soundfile as sf


    quality, model, path, weights = task
    reference = load_recording(path)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.wav"  # the 16 kHz mono signal that is measured
        sf.write(source, reference, SPEECH_RATE, subtype="FLOAT")
        t0 = time.perf_counter()
        result = compress_file(source, Path(tmp) / "s.omc", device=device, **model)
        t1 = time.perf_counter()
        decompress_file(Path(tmp) / "s.omc", Path(tmp) / "out.wav", weights=weights, device=device)
        t2 = time.perf_counter()
        decoded, _ = sf.read(Path(tmp) / "out.wav", dtype="float32")
    row = speech_quality(reference, decoded)
    seconds = reference.size / SPEECH_RATE
    row.update(item=path.name, quality=quality, kbps=result.kbps,
               encode_rtf=(t1 - t0) / seconds, decode_rtf=(t2 - t1) / seconds)
    return row


def collect_rows(
    name: str,
    dataset: str | Path,
    qualities: list | None = None,
    jobs: int = 1,
    limit: int | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    weights: str | Path | None = None,
    mapper=None,
) -> tuple[list[dict], str, str]:
    """Per-item rows for a codec id or baseline name; returns (rows, media, description).

    ``weights``: an exported model (its JSON entry) of codec ``name`` instead of shipped weights.
    ``mapper(fn, tasks)``: runs ``fn(task, device)`` over the tasks and returns the rows in task order
    (the batch engine's ``Engine.map``, across devices and machines); by default this process, or a
    pool of ``jobs`` for baselines.
    """
    from ..datasets.folders import image_folder, speech_folder, video_sequences

    def run(fn, tasks: list, desc: str, pool: int) -> list[dict]:
        return mapper(fn, tasks) if mapper is not None else _run_tasks(fn, tasks, pool, desc, progress)

    if name in BASELINES:
        if weights is not None:
            raise InputError(f"{name} is a classical baseline; weights apply to learned codecs only")
        baseline = BASELINES[name]
        reason = baseline.available()
        if reason is not None:
            raise InputError(f"skipping {name}: {reason}")
        media = baseline_media(name)
        settings = [q for q in baseline.settings if qualities is None or str(q) in map(str, qualities)]
        if not settings:
            raise InputError(f"{name} has no settings among {qualities}; it offers {list(baseline.settings)}")
        if media == "image":
            items = image_folder(dataset)[:limit]
            tasks = [(name, str(p), q) for q in settings for p in items]
            return run(_image_baseline_task, tasks, name, jobs), media, baseline.description
        if media == "speech":
            items = speech_folder(dataset)[:limit]
            tasks = [(name, str(p), q) for q in settings for p in items]
            return run(_speech_baseline_task, tasks, name, jobs), media, baseline.description
        items = video_sequences(dataset)[:limit]
        tasks = [(name, str(p), q, max_frames) for q in settings for p in items]
        return run(_video_baseline_task, tasks, name, jobs), media, baseline.description

    from ..codecs import get_codec_class

    media = get_codec_class(name).media
    description = f"omnicodec {name}" + (f" with {Path(weights).name}" if weights is not None else "") + ", real files"
    if media == "image":
        items = image_folder(dataset)[:limit]
        tasks = [(q, model, path, weights) for q, model in _models(name, qualities, weights) for path in items]
        return run(_learned_image_row, tasks, name, 1), media, description
    if media == "video":
        items = video_sequences(dataset)[:limit]
        tasks = [(q, model, path, weights, max_frames) for q, model in _models(name, qualities, weights) for path in items]
        return run(_learned_video_row, tasks, name, 1), media, description
    items = speech_folder(dataset)[:limit]
    tasks = [(q, model, path, weights) for q, model in _models(name, qualities, weights) for path in items]
    return run(_learned_speech_row, tasks, name, 1), media, description


def aggregate(name: str, description: str, rows: list[dict]) -> RDResults:
    """Mean of every numeric metric per quality setting, ordered by rate."""
    groups: dict = defaultdict(list)
    for row in rows:
        groups[row["quality"]].append(row)
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and k != "quality"})
    points = []
    for quality, group in groups.items():
        point = {k: float(np.nanmean([r[k] for r in group])) for k in keys}
        # numeric settings (JPEG quality, kbps, CRF) are kept; named modes (Codec2) become
        # their position in the sweep
        point["quality"] = float(quality) if not isinstance(quality, str) else float(list(groups).index(quality))
        points.append(point)
    rate_key = "bpp" if "bpp" in keys else "kbps"
    points.sort(key=lambda p: p[rate_key])
    return RDResults(name, description, {k: [p[k] for p in points] for k in ["quality", *keys]})
