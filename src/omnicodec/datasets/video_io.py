"""Reading and writing video as RGB frames: Y4M (4:2:0, 8-bit), folders of PNG frames, and
MP4 (or any container ffmpeg reads) through ``ffmpeg`` when it is installed.

Y4M frames are converted from and to limited-range BT.601 Y'CbCr (the convention of the Xiph
test sequences); odd sizes use rounded-up chroma planes. Frames are read and written one at
a time; declared sizes are checked against the file before anything large is allocated.
Writers are atomic: a temporary file (or folder) is renamed into place when complete
(:mod:`omnicodec.fileio`); a frame folder is marked with a manifest, and only such a folder
(or an empty one) is ever replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..constants import AUDIO_SUFFIXES
from ..errors import InputError, OutputExistsError
from ..fileio import AtomicFile, check_frame_folder, commit_dir, make_temp_dir, write_frame_manifest

MAX_FRAME_PIXELS = 1 << 26
Y4M_8BIT_420 = ("420", "420jpeg", "420paldv", "420mpeg2")  # C420p10 and the like are deeper


def _parse_y4m_header(line: bytes, path: Path) -> dict:
    if not line.startswith(b"YUV4MPEG2"):
        raise InputError(f"{path}: not a Y4M file (no YUV4MPEG2 signature)")
    info = {"colour": "420", "fps": (25, 1)}
    try:
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
    except ValueError as exc:
        raise InputError(f"{path}: malformed Y4M header ({exc})") from exc
    if "width" not in info or "height" not in info:
        raise InputError(f"{path}: Y4M header lacks the frame size")
    if info["colour"] not in Y4M_8BIT_420:
        raise InputError(f"{path}: only 4:2:0 8-bit Y4M is supported, this file is C{info['colour']}")
    if info["fps"][0] <= 0 or info["fps"][1] <= 0:
        raise InputError(f"{path}: Y4M header declares an invalid frame rate {info['fps'][0]}:{info['fps'][1]}")
    w, h = info["width"], info["height"]
    if not (0 < w and 0 < h and w * h <= MAX_FRAME_PIXELS):
        raise InputError(f"{path}: unsupported Y4M frame size {w}x{h}")
    return info


def _chroma_size(h: int, w: int) -> tuple[int, int]:
    return (h + 1) // 2, (w + 1) // 2


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Limited-range BT.601 4:2:0 planes to an H×W×3 uint8 RGB frame."""
    h, w = y.shape
    yf = (y.astype(np.float32) - 16.0) * (255.0 / 219.0)
    uf = np.repeat(np.repeat(u.astype(np.float32) - 128.0, 2, 0), 2, 1)[:h, :w] * (255.0 / 224.0)
    vf = np.repeat(np.repeat(v.astype(np.float32) - 128.0, 2, 0), 2, 1)[:h, :w] * (255.0 / 224.0)
    r = yf + 1.402 * vf
    g = yf - 0.344136 * uf - 0.714136 * vf
    b = yf + 1.772 * uf
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An H×W×3 uint8 RGB frame to limited-range BT.601 4:2:0 planes (chroma averaged 2×2)."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    h, w = y.shape
    ph, pw = h % 2, w % 2

    def down(c: np.ndarray) -> np.ndarray:
        c = np.pad(c, ((0, ph), (0, pw)), mode="edge")
        return c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3))

    def to8(c: np.ndarray) -> np.ndarray:
        return np.clip(np.round(c), 0, 255).astype(np.uint8)

    return to8(y), to8(down(u)), to8(down(v))


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
    ch, cw = _chroma_size(h, w)
    frame_bytes = w * h + 2 * ch * cw

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
                u = plane[w * h : w * h + ch * cw].reshape(ch, cw)
                v = plane[w * h + ch * cw :].reshape(ch, cw)
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


def read_ffmpeg(path: str | Path) -> tuple[Iterator[np.ndarray], dict]:
    """Frames of any file ffmpeg decodes (MP4, MKV…), as RGB, streamed through a pipe."""
    import json
    import shutil
    import subprocess

    path = Path(path)
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise InputError(f"{path}: reading {path.suffix} video needs ffmpeg, which is not installed; use .y4m or PNG frames")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,r_frame_rate",
         "-of", "json", str(path)], capture_output=True, text=True,
    )
    try:
        stream = json.loads(probe.stdout)["streams"][0]
        w, h = int(stream["width"]), int(stream["height"])
        num, _, den = stream.get("r_frame_rate", "25/1").partition("/")
        fps = (int(num), int(den or 1))
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"{path}: not a video ffmpeg can read") from exc
    if not (0 < w * h <= MAX_FRAME_PIXELS):
        raise InputError(f"{path}: unsupported frame size {w}x{h}")
    info = {"width": w, "height": h, "fps": fps}

    def frames() -> Iterator[np.ndarray]:
        proc = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                data = proc.stdout.read(w * h * 3)
                if len(data) < w * h * 3:
                    break
                yield np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()

    return frames(), info


VIDEO_FILE_SUFFIXES = (".y4m", ".mp4", ".mkv", ".mov", ".avi", ".webm")


def open_video(path: str | Path) -> tuple[Iterator[np.ndarray], dict]:
    """RGB frames of a Y4M file, a folder of PNG frames, or (with ffmpeg) any other video file."""
    path = Path(path)
    if path.is_dir():
        return read_png_frames(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".y4m":
        return read_y4m(path)
    return read_ffmpeg(path)


def read_sequence(path: str | Path, max_frames: int | None = None) -> tuple[list[np.ndarray], dict]:
    """All frames (up to ``max_frames``) of a Y4M file, PNG-frame folder or ffmpeg-readable file."""
    frames, info = open_video(path)
    out = []
    for frame in frames:
        out.append(frame)
        if max_frames is not None and len(out) >= max_frames:
            break
    if hasattr(frames, "close"):
        frames.close()
    info["frames"] = len(out)
    return out, info


def _other_media(suffix: str) -> bool:
    """Whether ``suffix`` names a file of another kind (an image, audio, an omnicodec file): a folder of
    frames named so would surprise whoever asked for it."""
    suffix = suffix.lower()
    return bool(suffix) and (suffix in AUDIO_SUFFIXES or suffix == ".omc" or suffix in Image.registered_extensions())


class VideoWriter:
    """Write RGB frames to ``.y4m``, ``.mp4`` (x264 via ffmpeg, CRF 12: near-lossless, not
    exact) or, for a path without a video suffix, a folder of ``frame_00001.png`` … files.

    Everything goes to a temporary file or folder first; :meth:`commit` renames it into place
    and :meth:`abort` removes it, so a failed decode leaves nothing behind.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: tuple[int, int] = (25, 1),
                 note: str | None = None) -> None:
        # an absolute, normalised path: "." or "dir/.." name a folder, not an empty file name
        self.path = Path(os.path.abspath(path))
        self.width, self.height, self.fps = int(width), int(height), tuple(fps)
        self.kind = {".y4m": "y4m", ".mp4": "mp4"}.get(self.path.suffix.lower(), "png")
        if self.kind == "png" and (self.path.suffix.lower() in VIDEO_FILE_SUFFIXES or _other_media(self.path.suffix)):
            raise InputError(f"cannot write {self.path.suffix} video; use .y4m, .mp4 or a folder name for PNG frames")
        self.count = 0
        if self.kind == "png":
            check_frame_folder(self.path)  # never replace a folder we did not write
            self._tmp = make_temp_dir(self.path)
        elif self.path.is_dir():
            raise OutputExistsError(f"{self.path} is a folder; a {self.path.suffix} video is a file")
        else:
            self._out = AtomicFile(self.path, suffix=self.path.suffix, by_name=self.kind == "mp4")
            if self.kind == "y4m":
                extra = f" X{note}" if note else ""  # an X parameter: readers skip what they do not know
                self._out.file.write(f"YUV4MPEG2 W{width} H{height} F{fps[0]}:{fps[1]} Ip A1:1 C420jpeg{extra}\n".encode())
            else:
                self._proc = self._start_ffmpeg()

    def _start_ffmpeg(self):
        import shutil
        import subprocess

        if shutil.which("ffmpeg") is None or self.width % 2 or self.height % 2:
            self._out.abort()
            reason = "needs ffmpeg, which is not installed" if shutil.which("ffmpeg") is None else (
                f"needs an even frame size (4:2:0), not {self.width}x{self.height}"
            )
            raise InputError(f"writing .mp4 {reason}; use .y4m or a folder of PNG frames")
        return subprocess.Popen(
            ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}",
             "-r", f"{self.fps[0]}/{self.fps[1]}", "-i", "-", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p",
             "-f", "mp4", str(self._out.tmp)],
            stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.shape != (self.height, self.width, 3):
            raise InputError(f"frame of shape {frame.shape} does not fit a {self.width}x{self.height} video")
        self.count += 1
        if self.kind == "png":
            Image.fromarray(frame).save(self._tmp / f"frame_{self.count:05d}.png")
        elif self.kind == "y4m":
            y, u, v = rgb_to_yuv420(frame)
            self._out.file.write(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())
        else:
            self._proc.stdin.write(frame.tobytes())

    def commit(self) -> None:
        if self.kind == "png":
            files = [f"frame_{i:05d}.png" for i in range(1, self.count + 1)]
            info = {"frames": self.count, "width": self.width, "height": self.height, "fps": list(self.fps)}
            write_frame_manifest(self._tmp, files, info)
            commit_dir(self._tmp, self.path)
            return
        if self.kind == "mp4":
            self._proc.stdin.close()
            if self._proc.wait() != 0:
                self._out.abort()
                raise InputError("ffmpeg failed to write the MP4 file")
        self._out.commit()

    def abort(self) -> None:
        import shutil

        if self.kind == "png":
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        if self.kind == "mp4":
            self._proc.stdin.close()
            self._proc.kill()
            self._proc.wait()
        self._out.abort()
