"""Reading video sequences as RGB frames: Y4M (4:2:0, 8-bit) and folders of PNG frames.

Y4M frames are converted from limited-range BT.601 Y'CbCr (the convention of the Xiph test
sequences) to 8-bit RGB. Frame data is read frame by frame; declared sizes are checked
against the file before anything large is allocated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError

MAX_FRAME_PIXELS = 1 << 26


def _parse_y4m_header(line: bytes, path: Path) -> dict:
    if not line.startswith(b"YUV4MPEG2"):
        raise InputError(f"{path}: not a Y4M file (no YUV4MPEG2 signature)")
    info = {"colour": "420", "fps": (25, 1)}
    for token in line.split()[1:]:
        key, value = chr(token[0]), token[1:].decode("ascii", "replace")
        if key == "W":
            info["width"] = int(value)
        elif key == "H":
            info["height"] = int(value)
        elif key == "F":
            num, _, den = value.partition(":")
            info["fps"] = (int(num), int(den or 1))
        elif key == "C":
            info["colour"] = value
    if "width" not in info or "height" not in info:
        raise InputError(f"{path}: Y4M header lacks the frame size")
    if not info["colour"].startswith("420"):
        raise InputError(f"{path}: only 4:2:0 8-bit Y4M is supported, this file is C{info['colour']}")
    w, h = info["width"], info["height"]
    if not (0 < w and 0 < h and w * h <= MAX_FRAME_PIXELS and w % 2 == 0 and h % 2 == 0):
        raise InputError(f"{path}: unsupported Y4M frame size {w}x{h}")
    return info


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Limited-range BT.601 4:2:0 planes to an H×W×3 uint8 RGB frame."""
    yf = (y.astype(np.float32) - 16.0) * (255.0 / 219.0)
    uf = np.repeat(np.repeat(u.astype(np.float32) - 128.0, 2, 0), 2, 1) * (255.0 / 224.0)
    vf = np.repeat(np.repeat(v.astype(np.float32) - 128.0, 2, 0), 2, 1) * (255.0 / 224.0)
    r = yf + 1.402 * vf
    g = yf - 0.344136 * uf - 0.714136 * vf
    b = yf + 1.772 * uf
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def read_y4m(path: str | Path) -> tuple[Iterator[np.ndarray], dict]:
    """``(frames, info)``: an iterator of RGB frames and the header (width, height, fps)."""
    path = Path(path)
    f = open(path, "rb")
    header = f.readline(4096)
    try:
        info = _parse_y4m_header(header.rstrip(b"\n"), path)
    except Exception:
        f.close()
        raise
    w, h = info["width"], info["height"]
    frame_bytes = w * h * 3 // 2

    def frames() -> Iterator[np.ndarray]:
        with f:
            index = 0
            while True:
                marker = f.readline(4096)
                if not marker:
                    return
                if not marker.startswith(b"FRAME"):
                    raise InputError(f"{path}: frame {index} does not start with FRAME")
                data = f.read(frame_bytes)
                if len(data) < frame_bytes:
                    raise InputError(f"{path}: frame {index} is truncated")
                plane = np.frombuffer(data, dtype=np.uint8)
                y = plane[: w * h].reshape(h, w)
                u = plane[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
                v = plane[w * h * 5 // 4 :].reshape(h // 2, w // 2)
                yield yuv420_to_rgb(y, u, v)
                index += 1

    return frames(), info


def read_png_frames(folder: str | Path) -> tuple[Iterator[np.ndarray], dict]:
    """Frames of a folder of PNGs in name order (all the same size)."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise InputError(f"{folder} holds no PNG frames")
    with Image.open(files[0]) as im:
        w, h = im.size
    info = {"width": w, "height": h, "fps": (25, 1), "frames": len(files)}

    def frames() -> Iterator[np.ndarray]:
        for p in files:
            with Image.open(p) as im:
                frame = np.asarray(im.convert("RGB"))
            if frame.shape[:2] != (h, w):
                raise InputError(f"{p}: frame size {frame.shape[1]}x{frame.shape[0]} differs from {w}x{h}")
            yield frame

    return frames(), info


def read_sequence(path: str | Path, max_frames: int | None = None) -> tuple[list[np.ndarray], dict]:
    """All frames (up to ``max_frames``) of a Y4M file or PNG-frame folder."""
    path = Path(path)
    frames, info = read_y4m(path) if path.is_file() else read_png_frames(path)
    out = []
    for frame in frames:
        out.append(frame)
        if max_frames is not None and len(out) >= max_frames:
            break
    info["frames"] = len(out)
    return out, info
