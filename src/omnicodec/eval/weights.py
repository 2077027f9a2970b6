"""Evaluate exported weights (a ``.json`` entry) from real files on one device.

Every item is compressed into an omnicodec file with those weights and decoded from it, and
the metrics are computed on the decoded 8-bit (or 16 kHz) result: rates come from the real
file sizes. Returns CompressAI-schema results with one point per quality: the entry's quality
for a fixed-rate model, the chosen qualities (by default levels 1, 3, 5 and the highest) for a
variable-rate one. So a model before and after training compare point against point, and
curves compare with :mod:`.bdrate`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..constants import SPEECH_RATE
from ..errors import EvaluationError
from ..media.files import compress_file, decompress_file
from .metrics import frame_psnrs, load_recording, psnr, speech_quality
from .results import RDResults


def _image_rows(weights: Path, items: list[Path], device: str, quality: float | None) -> list[dict]:
    from ..datasets.image_io import read_image

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in items:
            reference = read_image(path)[0]
            coded, back = Path(tmp) / "x.omc", Path(tmp) / "x.png"
            result = compress_file(path, coded, weights=weights, force=True, device=device, quality=quality)
            decompress_file(coded, back, weights=weights, force=True, device=device)
            h, w = reference.shape[:2]
            rows.append({"bpp": 8 * result.num_bytes / (h * w), "psnr-rgb": psnr(reference, read_image(back)[0])})
    return rows


def _speech_rows(weights: Path, items: list[Path], device: str, quality: float | None, metrics: bool) -> list[dict]:
    import soundfile as sf


    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in items:
            reference = load_recording(path)
            source = Path(tmp) / "in.wav"
            sf.write(source, reference, SPEECH_RATE, subtype="FLOAT")
            result = compress_file(source, Path(tmp) / "s.omc", weights=weights, force=True, device=device, quality=quality)
            decompress_file(Path(tmp) / "s.omc", Path(tmp) / "out.wav", weights=weights, force=True, device=device)
            decoded, _ = sf.read(Path(tmp) / "out.wav", dtype="float32")
            decoded = np.pad(decoded[: reference.size], (0, max(reference.size - decoded.size, 0)))
            noise = float(np.sum((decoded - reference) ** 2))
            row = {"kbps": result.kbps, "snr": 10 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-12))}
            if metrics:
                row.update(speech_quality(reference, decoded))
            rows.append(row)
    return rows


def _video_rows(weights: Path, items: list[Path], device: str, quality: float | None) -> list[dict]:
    from ..datasets.video_io import read_sequence

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in items:
            frames, _ = read_sequence(path)
            result = compress_file(path, Path(tmp) / "v.omc", weights=weights, force=True, device=device, quality=quality)
            decompress_file(Path(tmp) / "v.omc", Path(tmp) / "out", weights=weights, force=True, device=device)
            decoded, _ = read_sequence(Path(tmp) / "out")
            rows.append({"bpp": result.bpp, "psnr-rgb": float(np.mean(frame_psnrs(frames, decoded)))})
    return rows


def default_qualities(entry: dict) -> list[float | None]:
    """What :func:`evaluate_weights` measures by default: ``[None]`` (the one rate) for a fixed-rate
    entry; levels 1, 3, 5 and the highest (those within the range) for a variable-rate one."""
    span = entry.get("quality_range")
    if not span:
        return [None]
    lo, hi = int(span[0]), int(span[1])
    return sorted({float(q) for q in (lo, 3, 5, hi) if lo <= q <= hi})


def evaluate_weights(
    weights: str | Path, dataset: str | Path, device: str = "cpu", limit: int | None = None, speech_metrics: bool = True,
    qualities: list[float] | None = None,
) -> RDResults:
    """Mean real-file results of ``weights`` over ``dataset`` (images, recordings or video sequences),
    one point per quality (``qualities``: for a variable-rate model; default :func:`default_qualities`).

    ``speech_metrics=False`` skips PESQ/STOI (they need the [eval] extras) and keeps the SNR."""
    from ..datasets.folders import image_folder, speech_folder, video_sequences
    from ..zoo import read_entry

    weights = Path(weights).with_suffix(".json")
    entry = read_entry(weights)
    media = entry["codec_id"].split("/")[0]
    points = []
    for quality in qualities if qualities is not None and entry.get("quality_range") else default_qualities(entry):
        if media == "image":
            rows = _image_rows(weights, image_folder(dataset)[:limit], device, quality)
        elif media == "speech":
            rows = _speech_rows(weights, speech_folder(dataset)[:limit], device, quality, speech_metrics)
        elif media == "video":
            rows = _video_rows(weights, video_sequences(dataset)[:limit], device, quality)
        else:
            raise EvaluationError(f"cannot evaluate {entry['codec_id']}: unknown media {media!r}")
        point = {k: float(np.mean([r[k] for r in rows])) for k in sorted({k for r in rows for k in r})}
        point.update(quality=float(entry["quality"] if quality is None else quality), items=float(len(rows)))
        points.append(point)
    results = {k: [p[k] for p in points] for k in points[0]}
    description = f"omnicodec {entry['codec_id']} weights {entry['sha256'][:16]}, real files, {Path(dataset).name}, {device}"
    return RDResults(entry["codec_id"], description, results)


__all__ = ["evaluate_weights"]
