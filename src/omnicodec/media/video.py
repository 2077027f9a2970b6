"""Video to omnicodec files and back, frame by frame.

A video file holds one chunk per frame (``frame-0``, ``frame-1``, …): the frame's ``z`` stream
length (uint32), its ``z`` stream, then its ``y`` stream. Encoding reads and codes one frame at
a time and decoding writes one frame at a time, so memory does not grow with the length of
the clip; each chunk is checked against its own CRC before it is decoded, and a damaged
chunk is reported with its frame index.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from ..coding import Bitstream
from ..coding.container import ContainerReader, ContainerWriter
from ..datasets.video_io import VideoWriter, open_video
from ..errors import CorruptFileError, InputError, OmnicodecError

_LEN = struct.Struct("<I")
MAX_FRAME_PIXELS = 1 << 26  # after padding to multiples of 64


def _progress(iterable, enabled: bool, desc: str, total: int | None = None):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit="frame", total=total, leave=False)


def _frame_count(path, info: dict) -> int | None:
    """Frames in the input for the progress bar, where known without reading them (PNG folders;
    Y4M files without per-frame parameters, from the file size); None otherwise."""
    if info.get("frames"):
        return int(info["frames"])
    path = Path(path)
    if path.suffix.lower() != ".y4m" or not path.is_file():
        return None
    with open(path, "rb") as f:
        header = len(f.readline(4096))
    frame = len(b"FRAME\n") + info["width"] * info["height"] * 3 // 2
    return (path.stat().st_size - header) // frame or None


def _payload(bitstream: Bitstream) -> bytes:
    z, y = bitstream.streams["z"], bitstream.streams["y"]
    return _LEN.pack(len(z)) + z + y


def _bitstream(payload: bytes, t: int, shapes: dict, side_info: dict) -> Bitstream:
    if len(payload) < _LEN.size:
        raise CorruptFileError(f"frame {t} is corrupt: its chunk is too short")
    (z_len,) = _LEN.unpack_from(payload)
    if _LEN.size + z_len > len(payload):
        raise CorruptFileError(f"frame {t} is corrupt: its z stream overruns the chunk")
    z, y = payload[_LEN.size : _LEN.size + z_len], payload[_LEN.size + z_len :]
    return Bitstream({"z": z, "y": y}, {k: list(v) for k, v in shapes.items()}, dict(side_info))


def compress_video(model, input, output, header: dict, device: str, progress: bool, check_size=None) -> tuple[int, dict, int]:
    """Code every frame of ``input`` into ``output``; returns (file bytes, media, pixels).

    ``check_size(height, width, "encode")`` runs on the frame size before any frame is coded.
    """
    frames, info = open_video(input)
    w, h = info["width"], info["height"]
    if check_size is not None:
        check_size(h, w, "encode")
    media = {"type": "video", "width": w, "height": h, "fps": list(info.get("fps", (25, 1))),
             "intra_period": model.intra_period, "colour_space": "RGB", "bit_depth": 8}
    side_info = {"size": [h, w]}
    if model.entropy_params is not None:  # one scheme for all frames, kept in the header
        side_info["entropy_params"] = model.entropy_params
    quality = header.get("quality") if getattr(model, "quality_range", None) is not None else None
    if quality is not None:  # a variable-rate model: one quality for all frames, kept in the header
        side_info["quality"] = quality
    header = dict(header, media=media, side_info=side_info)
    count, reference = 0, None
    with ContainerWriter(output, header) as writer:
        for t, frame in enumerate(_progress(frames, progress, "encoding", _frame_count(input, info) if progress else None)):
            x = torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float().div(255).to(device)
            bitstream, reference = model.compress_frame(x, t, reference, quality)
            writer.add(f"frame-{t}", _payload(bitstream))
            count += 1
        if count == 0:
            raise InputError(f"{input}: the video has no frames")
    media["frames"] = count
    return writer.size, media, count * w * h


def decompress_video(model, reader: ContainerReader, output, progress: bool, check_size=None) -> tuple[int, int, int]:
    """Decode a video file chunk by chunk into ``output``; returns (frames, height, width).

    ``check_size(height, width, "decode")`` runs on the declared frame size before anything is decoded.
    """
    media = reader.header["media"]
    try:
        w, h = int(media["width"]), int(media["height"])
        fps = tuple(int(v) for v in media.get("fps", (25, 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"video header is malformed ({exc})") from exc
    padded = -(-w // 64) * 64 * (-(-h // 64) * 64)  # frames are coded padded to multiples of 64
    if not (0 < w and 0 < h and padded <= MAX_FRAME_PIXELS) or len(fps) != 2 or min(fps) <= 0:
        raise CorruptFileError(f"video header declares an implausible size {w}x{h} or rate {fps}")
    if check_size is not None:
        check_size(h, w, "decode")
    shapes = model.stream_shapes(h, w)
    side = reader.header.get("side_info", {})
    frame_info = {k: side[k] for k in ("entropy_params", "quality") if k in side}
    writer = VideoWriter(output, w, h, fps)
    t, reference = 0, None
    bar = None
    if progress:
        from tqdm import tqdm

        total = media.get("frames")
        bar = tqdm(desc="decoding", unit="frame", total=total if isinstance(total, int) and total > 0 else None, leave=False)
    try:
        chunks = reader.chunks()
        while True:
            try:
                name, payload = next(chunks)
            except StopIteration:
                break
            except CorruptFileError as exc:
                if getattr(exc, "chunk", "").startswith("frame-"):
                    err = CorruptFileError(f"frame {t} is corrupt (its chunk fails its CRC32); frames before it decode")
                    err.frame_index = t
                    raise err from exc
                raise
            if name != f"frame-{t}":
                raise CorruptFileError(f"expected the chunk of frame {t}, found {name!r}")
            try:
                bitstream = _bitstream(payload, t, shapes, frame_info)
                frame, reference = model.decompress_frame(bitstream, t, reference, h, w)
            except OmnicodecError as exc:
                err = CorruptFileError(f"frame {t} does not decode: {exc}")
                err.frame_index = t
                raise err from exc
            writer.write((frame[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy())
            t += 1
            if bar is not None:
                bar.update(1)
        if t == 0:
            raise CorruptFileError("the file holds no frames")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return t, h, w


def is_video_path(path) -> bool:
    from ..datasets.video_io import VIDEO_FILE_SUFFIXES

    path = Path(path)
    return path.is_dir() or path.suffix.lower() in VIDEO_FILE_SUFFIXES
