"""Video for the file driver: frames in (Y4M, PNG folders, anything ffmpeg reads) one at a time,
and a sink that writes decoded frames one at a time (Y4M, MP4, PNG folder), atomically.

A video file holds one unit per frame (``frame-0``, ``frame-1``, …), so memory does not grow with
the length of the clip and a damaged chunk is reported with its frame index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..constants import IMAGE_STRIDE
from ..datasets.video_io import VIDEO_FILE_SUFFIXES, VideoWriter, open_video
from ..errors import CorruptFileError, InputError
from .driver import SOURCE_TAG

MAX_FRAME_PIXELS = 1 << 26  # after padding to the stride


def is_video_path(path) -> bool:
    path = Path(path)
    return path.is_dir() or path.suffix.lower() in VIDEO_FILE_SUFFIXES


def frame_count(path, info: dict) -> int | None:
    """Frames in the input where known without reading them (PNG folders; Y4M files without per-frame
    parameters, from the file size); None otherwise."""
    if info.get("frames"):
        return int(info["frames"])
    path = Path(path)
    if path.suffix.lower() != ".y4m" or not path.is_file():
        return None
    with open(path, "rb") as f:
        header = len(f.readline(4096))
    frame = len(b"FRAME\n") + info["width"] * info["height"] * 3 // 2
    return (path.stat().st_size - header) // frame or None


def open_frames(path, check_size=None):
    """``(pieces, media, frames or None)``: the frames of a video as [1, 3, H, W] uint8 tensors, read one
    at a time; ``check_size(height, width, "encode")`` runs on the frame size before any frame is read."""
    frames, info = open_video(path)
    w, h = info["width"], info["height"]
    if check_size is not None:
        check_size(h, w, "encode")
    media = {"type": "video", "width": w, "height": h, "fps": list(info.get("fps", (25, 1))),
             "colour_space": "RGB", "bit_depth": 8}

    def pieces():
        count = 0
        for frame in frames:
            count += 1
            yield torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None]
        if count == 0:
            raise InputError(f"{path}: the video has no frames")

    return pieces(), media, frame_count(path, info)


def check_media(media: dict) -> tuple[int, int, tuple[int, int]]:
    """``(height, width, fps)`` of a file's video description, refused when implausible."""
    try:
        w, h = int(media["width"]), int(media["height"])
        fps = tuple(int(v) for v in media.get("fps", (25, 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"video header is malformed ({exc})") from exc
    padded = -(-w // IMAGE_STRIDE) * IMAGE_STRIDE * (-(-h // IMAGE_STRIDE) * IMAGE_STRIDE)  # frames are coded padded
    if not (0 < w and 0 < h and padded <= MAX_FRAME_PIXELS) or len(fps) != 2 or min(fps) <= 0:
        raise CorruptFileError(f"video header declares an implausible size {w}x{h} or rate {fps}")
    return h, w, fps


class FrameSink:
    """Writes decoded frames [1, 3, H, W] in [0, 1] as 8-bit RGB to a :class:`VideoWriter`."""

    def __init__(self, output, media: dict, source: str | None = None) -> None:
        self.height, self.width, fps = check_media(media)
        note = None if source is None else f"{SOURCE_TAG}={source}"  # a Y4M file's X parameter
        self.writer = VideoWriter(output, self.width, self.height, fps, note)

    @property
    def frames(self) -> int:
        return self.writer.count

    def write(self, frame: torch.Tensor) -> None:
        self.writer.write((frame[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy())

    def commit(self) -> None:
        self.writer.commit()

    def abort(self) -> None:
        self.writer.abort()
