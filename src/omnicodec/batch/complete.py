"""Whether an output already on disk is complete and valid, so that a rerun may skip it.

Verified, not just present: an omnicodec file must read end to end (every chunk's and the file's
CRC32) and its header must name the requested codec, weights and quality; a decoded file must be
readable and hold what the coded file's header declares (image size, frame count and size,
samples), and, where its format records it (PNG, WAV/FLAC/OGG, Y4M), name that coded file as
its source: a file of the right size that does not (the user's own, an older release's decoding) is
never skipped as done; ``--force`` replaces it. ``ours`` says whether the file is one omnicodec
writes at all: anything else is never replaced, even with ``--force``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..coding.container import MAGIC, ContainerReader
from ..constants import SPEECH_RATE
from ..errors import OmnicodecError
from ..media.driver import SOURCE_TAG, source_id


@dataclass
class State:
    complete: bool
    ours: bool
    reason: str = ""


def _read_all(path: Path) -> tuple[dict, dict[str, int]]:
    """The header of an omnicodec file and its chunks' sizes (the speech ``end`` chunk's value),
    after checking every CRC32; raises an :class:`OmnicodecError` if the file is damaged."""
    with ContainerReader(path) as reader:
        header, sizes = reader.header, {}
        for name, payload in reader.chunks():
            sizes[name] = int.from_bytes(payload, "little") if name == "end" else len(payload)
    return header, sizes


def coded_state(path: str | Path, expected: dict) -> State:
    """``expected``: the ``codec``, ``weights`` (sha256 prefix) and ``quality`` the file must name, and
    optionally ``side_info``: values its header's ``side_info`` must hold (an encoder option's)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return State(False, False, "not a regular file")
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            return State(False, False, "not an omnicodec file")
    try:
        header, _ = _read_all(path)
    except OmnicodecError as exc:
        return State(False, True, f"damaged ({exc})")
    found = {key: header.get(key) for key in expected}
    if isinstance(expected.get("side_info"), dict):
        side = found["side_info"] if isinstance(found["side_info"], dict) else {}
        found["side_info"] = {key: side.get(key) for key in expected["side_info"]}
    if found != expected:
        return State(False, True, f"written with {found}, not {expected}")
    return State(True, True)


# Each check returns whether the output holds what the coded file declares, and the source it records
# (SOURCE_TAG: the coded file's source_id): "" where the format can record one and this file does not,
# None where the format cannot (BMP, WebP, TIFF, PPM: the size alone decides there).


def _noted(text: str | bytes | None) -> str:
    """The source a ``SOURCE_TAG=...`` note names ("" for anything else)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    key, sep, value = (text or "").partition("=")
    return value if sep and key == SOURCE_TAG else ""


def _image_matches(path: Path, media: dict) -> tuple[bool, str | None]:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        size = image.size == (int(media["width"]), int(media["height"]))
        return size, str(image.info.get(SOURCE_TAG, "")) if image.format == "PNG" else None


def _y4m_matches(path: Path, media: dict, frames: int) -> tuple[bool, str | None]:
    with open(path, "rb") as f:
        line = f.readline(4096)
    fields = line.split()
    if not line.endswith(b"\n") or fields[:1] != [b"YUV4MPEG2"]:
        return False, ""
    w, h = int(media["width"]), int(media["height"])
    if b"W%d" % w not in fields or b"H%d" % h not in fields:
        return False, ""
    noted = next((_noted(f[1:]) for f in fields[1:] if f.startswith(b"X") and _noted(f[1:])), "")
    return path.stat().st_size - len(line) == frames * (len(b"FRAME\n") + w * h * 3 // 2), noted


def _audio_matches(path: Path, samples: int, rate: int) -> tuple[bool, str | None]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        expected = round(samples * rate / SPEECH_RATE)
        return (f.samplerate == rate and abs(f.frames - expected) <= (0 if rate == SPEECH_RATE else 1),
                _noted(f.comment))


def decoded_state(path: str | Path, coded: str | Path, sample_rate: int | None = None) -> State:
    """Whether ``path`` is a complete decoding of the omnicodec file ``coded``."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return State(False, False, "not a regular file")
    header, sizes = _read_all(Path(coded))
    media, kind = header["media"], header["media"]["type"]
    try:
        if kind == "image":
            ok, noted = _image_matches(path, media)
        elif kind == "video":
            ok, noted = _y4m_matches(path, media, sum(name.startswith("frame-") for name in sizes))
        else:
            ok, noted = _audio_matches(path, sizes.get("end", -1), sample_rate or SPEECH_RATE)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        ok = False
    if not ok:
        return State(False, False, f"not a complete decoding of {coded}")
    if noted is None or noted == source_id(coded):  # the format records no source: its size decides
        return State(True, True)
    # the right size, but not recorded as a decoding of this file: never skipped as done
    return State(False, True, f"not recorded as a decoding of {coded}")
