"""Evaluate exported weights (a ``.json`` entry) from real files on one device.

Every item is compressed into an omnicodec file with those weights and decoded from it, and
the metrics are computed on the decoded 8-bit (or 16 kHz) result: rates come from the real
file sizes. Returns CompressAI-schema results with one point (the entry's quality), so a
model before and after training compare point against point, and curves across qualities
compare with :mod:`.bdrate`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import EvaluationError
from .metrics import frame_psnrs, psnr, speech_quality
from .results import RDResults


def _image_rows(weights: Path, items: list[Path], device: str) -> list[dict]:
    from ..api import compress_file, decompress_file
    from ..datasets.image_io import read_image

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in items:
            reference = read_image(path)[0]
            coded, back = Path(tmp) / "x.omc", Path(tmp) / "x.png"
            result = compress_file(path, coded, weights=weights, force=True, device=device)
            decompress_file(coded, back, weights=weights, force=True, device=device)
            h, w = reference.shape[:2]
            rows.append({"bpp": 8 * result.num_bytes / (h * w), "psnr-rgb": psnr(reference, read_image(back)[0])})
    return rows


def _speech_rows(weights: Path, items: list[Path], device: str, metrics: bool) -> list[dict]:
    import soundfile as sf

    from ..api import compress_file, decompress_file
    from .runner import _load_speech

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in items:
            reference = _load_speech(path)
            source = Path(tmp) / "in.wav"
            sf.write(source, reference, 16000, subtype="FLOAT")
            result = compress_file(source, Path(tmp) / "s.omc", weights=weights, force=True, device=device)
            decompress_file(Path(tmp) / "s.omc", Path(tmp) / "out.wav", weights=weights, force=True, device=device)
            decoded, _ = sf.read(Path(tmp) / "out.wav", dtype="float32")
            decoded = np.pad(decoded[: reference.size], (0, max(reference.size - decoded.size, 0)))
            noise = float(np.sum((decoded - reference) ** 2))
            row = {"kbps": result.kbps, "snr": 10 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-12))}
            if metrics:
                row.update(speech_quality(reference, decoded))
            rows.append(row)
    return rows


def _video_rows(weights: Path, items: list[Path], device: str) -> list[dict]:
    from ..api import compress_file, decompress_file
    from ..datasets.video_io import read_sequence

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in items:
            frames, _ = read_sequence(path)
            result = compress_file(path, Path(tmp) / "v.omc", weights=weights, force=True, device=device)
            decompress_file(Path(tmp) / "v.omc", Path(tmp) / "out", weights=weights, force=True, device=device)
            decoded, _ = read_sequence(Path(tmp) / "out")
            rows.append({"bpp": result.bpp, "psnr-rgb": float(np.mean(frame_psnrs(frames, decoded)))})
    return rows


def evaluate_weights(
    weights: str | Path, dataset: str | Path, device: str = "cpu", limit: int | None = None, speech_metrics: bool = True
) -> RDResults:
    """Mean real-file results of ``weights`` over ``dataset`` (images, recordings or video sequences).

    ``speech_metrics=False`` skips PESQ/STOI (they need the [eval] extras) and keeps the SNR."""
    from ..datasets.folders import image_folder, speech_folder, video_sequences
    from ..zoo import read_entry

    weights = Path(weights).with_suffix(".json")
    entry = read_entry(weights)
    media = entry["codec_id"].split("/")[0]
    if media == "image":
        rows = _image_rows(weights, image_folder(dataset)[:limit], device)
    elif media == "speech":
        rows = _speech_rows(weights, speech_folder(dataset)[:limit], device, speech_metrics)
    elif media == "video":
        rows = _video_rows(weights, video_sequences(dataset)[:limit], device)
    else:
        raise EvaluationError(f"cannot evaluate {entry['codec_id']}: unknown media {media!r}")
    keys = sorted({k for r in rows for k in r})
    results = {k: [float(np.mean([r[k] for r in rows]))] for k in keys}
    results["quality"] = [float(entry["quality"])]
    results["items"] = [float(len(rows))]
    description = f"omnicodec {entry['codec_id']} weights {entry['sha256'][:16]}, real files, {Path(dataset).name}, {device}"
    return RDResults(entry["codec_id"], description, results)


__all__ = ["evaluate_weights"]
