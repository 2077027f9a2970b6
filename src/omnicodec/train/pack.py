"""Pack training and test data into one small folder that travels with the working tree.

A GPU burst receives a copy of the repository of at most 64 MiB; the data folders beside it
do not travel. :func:`pack_data` writes, within ``max_mib``:

- ``eval/kodak/*.png``: the Kodak test images, copied as they are (lossless);
- ``eval/speech/*.flac``: a few test recordings as 16 kHz mono FLAC (lossless at that rate);
- ``eval/video/<sequence>/frame_*.png``: the first frames of one test sequence, copied;
- ``speech/*.flac``: training speech as 16 kHz mono FLAC, up to ``speech_mib``;
- ``video/<sequence>/*.jpg``: training frames as JPEG (quality 92), up to ``video_mib``;
- ``images/*.jpg``: square crops (``crop`` pixels, from images rescaled by a random factor in
  [0.5, 1]) as JPEG (quality 95), filling what is left;
- ``manifest.json``: what is where, the settings and the byte counts.

Everything is written to a temporary folder beside the target and renamed into place, so an
interrupted pack leaves no half-written folder; an existing pack is replaced only with
``force`` and only if it is one (it holds our manifest).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..constants import SPEECH_RATE
from ..errors import InputError, OutputExistsError

MIB = 1 << 20
PACK_MIB = 40.0  # the largest pack, the size the burst was planned with
WHEELS_MIB = 6.0  # room kept for the wheels when they are not downloaded yet (they came to 3.2 MiB)
MANIFEST = "manifest.json"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def tree_bytes(repo: str | Path, extra: list[str | Path] = ()) -> int:
    """Bytes that travel to the device: git's tracked and untracked-not-ignored files, plus ``extra`` paths."""
    repo = Path(repo)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, check=True,
            capture_output=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InputError(f"{repo} is not a git checkout; cannot measure the tree that travels ({exc})") from exc
    total = 0
    for name in filter(None, listed):
        path = repo / name.decode()
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total + sum(_size(Path(p)) for p in extra if Path(p).exists())


def pack_room(repo: str | Path, tree_mib: float, wheels: str | Path) -> float:
    """MiB the pack may take so that ``repo``'s travelling files + pack + wheels stay under ``tree_mib`` (the
    weights the repository ships grow it), at most :data:`PACK_MIB`."""
    wheels = Path(wheels)
    reserve = 0.0 if wheels.is_dir() and any(wheels.glob("*.whl")) else WHEELS_MIB
    return min(PACK_MIB, tree_mib - tree_bytes(repo, [wheels]) / MIB - reserve - 0.5)


def _save_jpeg(array: np.ndarray, path: Path, quality: int) -> int:
    from PIL import Image

    Image.fromarray(array).save(path, quality=quality, subsampling=0)
    return path.stat().st_size


def _crop(path: Path, crop: int, rng: random.Random) -> np.ndarray | None:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = rng.uniform(0.5, 1.0)
        w, h = im.size
        if min(w, h) * scale < crop:
            scale = crop / min(w, h)
        if scale > 1.0:
            return None  # too small for one crop without upsampling
        if scale < 1.0:
            im = im.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), Image.LANCZOS)
        w, h = im.size
        left, top = rng.randrange(w - crop + 1), rng.randrange(h - crop + 1)
        return np.asarray(im.crop((left, top, left + crop, top + crop)))


def _write_flac(samples: np.ndarray, path: Path) -> int:
    import soundfile as sf

    sf.write(path, np.clip(samples, -1, 1), SPEECH_RATE, format="FLAC", subtype="PCM_16")
    return path.stat().st_size


def pack_shares(max_mib: float) -> dict:
    """What a pack of ``max_mib`` holds besides the training crops: the whole Kodak set (15 MiB), 4 MiB of
    training speech and 5 MiB of training video in a full pack; in a smaller one (the shipped weights
    leave the travelling tree less room) every second Kodak image and half the speech and video, and
    under 18 MiB a third of the Kodak images and less speech and video, so the image model still gets
    room for its crops (at 16 MiB: about 100 crops of 320² instead of 45)."""
    if max_mib >= 0.9 * PACK_MIB:
        return {"eval_images": None, "speech_mib": 4.0, "video_mib": 5.0}
    if max_mib >= 18.0:
        return {"eval_images": 12, "speech_mib": 2.0, "video_mib": 2.5}
    return {"eval_images": 8, "speech_mib": 1.5, "video_mib": 2.0}


def pack_data(
    data: str | Path,
    out: str | Path,
    max_mib: float = PACK_MIB,
    crop: int = 320,
    speech_mib: float = 4.0,
    video_mib: float = 5.0,
    eval_speech: int = 8,
    eval_video_frames: int = 30,
    eval_images: int | None = None,
    seed: int = 0,
    force: bool = False,
    progress=print,
) -> dict:
    """Pack ``data`` (a folder laid out like ``../shared/data``) into ``out``; returns the manifest.
    ``eval_images``: that many Kodak test images, evenly spread over the set (``None``: all)."""
    from ..datasets.audio import load_mono
    from ..datasets.folders import image_folder, speech_folder, video_sequences
    from ..datasets.video_io import read_sequence
    from .data import list_images

    data, out = Path(data), Path(out)
    if out.exists():
        if not (out / MANIFEST).is_file():
            raise OutputExistsError(f"{out} exists and is not a data pack; choose another folder")
        if not force:
            raise OutputExistsError(f"{out} holds a data pack already; pass --force to replace it")
    sources = {
        "kodak": data / "kodak", "eval_speech": data / "speech", "eval_video": data / "video",
        "speech": data / "speech_train", "video": data / "video_train",
        "images": [data / "train_images", data / "train_photos"],
    }
    budget = int(max_mib * MIB)
    rng = random.Random(seed)
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        if not (tmp / MANIFEST).is_file() and any(tmp.iterdir()):
            raise OutputExistsError(f"{tmp} exists and was not written by the packer; remove it yourself")
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / MANIFEST).write_text("{}\n")  # marks the folder as ours while it is written
    try:
        counts: dict[str, dict] = {}

        kodak = image_folder(sources["kodak"])
        if eval_images is not None and eval_images < len(kodak):
            kodak = [kodak[i * len(kodak) // eval_images] for i in range(eval_images)]
        (tmp / "eval" / "kodak").mkdir(parents=True)
        for p in kodak:
            shutil.copyfile(p, tmp / "eval" / "kodak" / p.name)
        counts["eval/kodak"] = {"files": len(kodak), "bytes": _size(tmp / "eval" / "kodak")}

        (tmp / "eval" / "speech").mkdir()
        test_speech = speech_folder(sources["eval_speech"])[:eval_speech]
        for p in test_speech:
            _write_flac(load_mono(p), tmp / "eval" / "speech" / f"{p.stem}.flac")
        counts["eval/speech"] = {"files": len(test_speech), "bytes": _size(tmp / "eval" / "speech")}

        sequence = video_sequences(sources["eval_video"])[0]
        target = tmp / "eval" / "video" / sequence.stem
        target.mkdir(parents=True)
        frames, _ = read_sequence(sequence, eval_video_frames)
        from PIL import Image

        for k, frame in enumerate(frames, 1):
            Image.fromarray(frame).save(target / f"frame_{k:03d}.png")
        counts["eval/video"] = {"sequence": sequence.name, "frames": len(frames), "bytes": _size(tmp / "eval" / "video")}
        progress(f"test data: {len(kodak)} Kodak images, {len(test_speech)} recordings, {len(frames)} frames")

        (tmp / "speech").mkdir()
        files = speech_folder(sources["speech"])
        rng.shuffle(files)
        used, seconds, n = 0, 0.0, 0
        for p in files:
            if used >= speech_mib * MIB:
                break
            audio = load_mono(p)
            used += _write_flac(audio, tmp / "speech" / f"{n:04d}.flac")
            seconds, n = seconds + audio.size / SPEECH_RATE, n + 1
        counts["speech"] = {"files": n, "seconds": round(seconds, 1), "bytes": used}
        progress(f"speech: {n} recordings, {seconds:.0f} s, {used / MIB:.1f} MiB")

        (tmp / "video").mkdir()
        sequences = video_sequences(sources["video"])
        per_sequence = video_mib * MIB / len(sequences)
        counts["video"] = {"sequences": {}, "bytes": 0}
        for seq in sequences:
            folder = tmp / "video" / seq.stem
            folder.mkdir()
            frames, _ = read_sequence(seq)
            used = k = 0
            for k, frame in enumerate(frames):
                if used >= per_sequence:
                    break
                used += _save_jpeg(frame, folder / f"{k:04d}.jpg", 92)
            counts["video"]["sequences"][seq.name] = len(list(folder.iterdir()))
            counts["video"]["bytes"] += used
        progress(f"video: {len(sequences)} sequences, {counts['video']['bytes'] / MIB:.1f} MiB")

        (tmp / "images").mkdir()
        files = list_images(sources["images"])
        left = budget - _size(tmp)
        if left < 64 * 1024:
            raise InputError(f"{max_mib} MiB leave no room for training crops after the test data; raise max_mib")
        used = n = made_in_pass = passes = 0
        order: list[Path] = []
        while used < left - 200 * 1024:  # stop one crop short of the budget
            if not order:
                if passes and not made_in_pass:  # a whole pass over the files gave no crop
                    raise InputError(f"no training image is at least {crop} pixels on its shorter side; "
                                     "lower the crop size or add larger images")
                order = files[:]
                rng.shuffle(order)
                passes, made_in_pass = passes + 1, 0
            array = _crop(order.pop(), crop, rng)
            if array is not None:
                used += _save_jpeg(array, tmp / "images" / f"{n:05d}.jpg", 95)
                n += 1
                made_in_pass += 1
        counts["images"] = {"files": n, "crop": crop, "bytes": used}
        progress(f"images: {n} crops of {crop}², {used / MIB:.1f} MiB")

        manifest = {
            "format": "omnicodec-pack", "version": 1, "source": str(data), "seed": seed, "contents": counts,
            "bytes": _size(tmp),
        }
        if manifest["bytes"] > budget:
            raise InputError(f"the pack came to {manifest['bytes'] / MIB:.1f} MiB, over {max_mib} MiB")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return manifest


__all__ = ["MANIFEST", "pack_data", "tree_bytes"]
