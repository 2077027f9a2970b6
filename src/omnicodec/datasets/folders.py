"""Local dataset folders: Kodak/CLIC/Tecnick-style images, VCTK-style speech, video sequences.

Nothing is downloaded: readers take a local path, list its files in a stable order, and
say what they expected when the folder does not look right. A folder may carry a
``SHA256SUMS`` file (``sha256sum`` format); :func:`verify_sha256` checks it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..constants import AUDIO_SUFFIXES
from ..errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def _folder(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist; expected {what}")
    if not path.is_dir():
        raise InputError(f"{path} is not a folder; expected {what}")
    return path


def image_folder(path: str | Path, recursive: bool = False) -> list[Path]:
    """Images of a Kodak-, CLIC- or Tecnick-style folder (e.g. ``kodim01.png`` … ``kodim24.png``)."""
    what = "a folder of images (.png/.jpg…) such as Kodak's kodim01.png … kodim24.png"
    folder = _folder(path, what)
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no images; expected {what}")
    return files


def speech_folder(path: str | Path) -> list[Path]:
    """Audio files of a VCTK-style folder (``p225_003.wav`` …), searched recursively."""
    what = "a folder of speech recordings (.wav/.flac/.ogg), e.g. VCTK's p225_003.wav"
    folder = _folder(path, what)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no audio files; expected {what}")
    return files


def video_sequences(path: str | Path) -> list[Path]:
    """Sequences in a folder: ``.y4m`` files, or sub-folders (or the folder itself) of PNG frames."""
    what = "a .y4m file, a folder of PNG frames, or a folder of such sequences"
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".y4m":
            raise InputError(f"{path} is not a .y4m file; expected {what}")
        return [path]
    folder = _folder(path, what)
    if any(p.suffix.lower() == ".png" for p in folder.iterdir()):
        return [folder]
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".y4m")
    found += sorted(p for p in folder.iterdir() if p.is_dir() and any(q.suffix.lower() == ".png" for q in p.iterdir()))
    if not found:
        raise InputError(f"{folder} holds no video sequences; expected {what}")
    return found


def verify_sha256(folder: str | Path, manifest: str | Path | None = None) -> int:
    """Check the files listed in ``SHA256SUMS`` (or ``manifest``); returns how many were checked."""
    folder = Path(folder)
    manifest = Path(manifest) if manifest else folder / "SHA256SUMS"
    if not manifest.is_file():
        raise InputError(f"no checksum manifest at {manifest}")
    bad, checked = [], 0
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        try:
            digest, name = line.split(maxsplit=1)
        except ValueError:
            raise InputError(f"{manifest}: malformed line {line!r}") from None
        target = folder / name.lstrip("*")
        if not target.is_file():
            bad.append(f"{name} (missing)")
            continue
        h = hashlib.sha256()
        with open(target, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        checked += 1
        if h.hexdigest() != digest.lower():
            bad.append(f"{name} (sha256 differs)")
    if bad:
        raise InputError(f"{len(bad)} file(s) fail {manifest.name}: {', '.join(bad[:5])}")
    return checked
