"""Images for the file driver: the input as one piece of 8-bit pixels, and a sink that writes the
decoded image (PNG, JPEG, …) atomically; plus the size-target search, which needs the whole file's size."""

from __future__ import annotations

import numpy as np
import torch

from ..constants import IMAGE_STRIDE
from ..datasets.image_io import check_image_output, read_image, write_image
from ..errors import CorruptFileError, InputError
from ..fileio import atomic_write_bytes
from . import driver
from .driver import SOURCE_TAG

MAX_PIXELS = 1 << 28  # refuse declared image sizes beyond 268 megapixels (after padding to the stride)


def open_image(path, check_size=None):
    """``(pieces, media, notes, pixels)`` of an image file; ``check_size(height, width, "encode")`` runs once its
    size is known, before its pixels are decoded. The one piece is [1, 3, H, W] uint8 (the codec turns it into
    floats tile by tile: a whole float image is 4x larger)."""
    array, info = read_image(path, check_size=None if check_size is None else lambda h, w: check_size(h, w, "encode"))
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    return [x], info.media(), list(info.notes), info.height * info.width


def check_media(media: dict) -> tuple[int, int]:
    """``(height, width)`` of a file's image description, refused when implausible."""
    try:
        h, w = media["height"], media["width"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w)):
            raise TypeError("the image size is not a pair of integers")
    except (KeyError, TypeError) as exc:
        raise CorruptFileError(f"file header is incomplete or malformed ({exc})") from exc
    if not (0 < h and 0 < w and -(-h // IMAGE_STRIDE) * IMAGE_STRIDE * (-(-w // IMAGE_STRIDE) * IMAGE_STRIDE) <= MAX_PIXELS):
        raise CorruptFileError(f"file declares an implausible image size {w}x{h}")
    return h, w


class ImageSink:
    """Holds the decoded image until :meth:`commit` writes it (8-bit, in bands) atomically."""

    def __init__(self, output, media: dict, source: str | None = None) -> None:
        check_image_output(output)
        self.output, self.media, self.source = output, media, source
        self.height, self.width = check_media(media)
        self.image: torch.Tensor | None = None

    def write(self, x_hat: torch.Tensor) -> None:
        if self.image is not None:
            raise CorruptFileError("the file holds more than one image")
        if tuple(x_hat.shape[-2:]) != (self.height, self.width):
            raise CorruptFileError("decoded image size differs from the header")
        self.image = x_hat

    def commit(self) -> None:
        if self.image is None:
            raise CorruptFileError("the file holds no image")
        array = to_uint8(self.image[0])
        self.image = None  # the float image is 4x the 8-bit one: free it before Pillow copies the pixels
        write_image(self.output, array, "L" if self.media.get("output_mode") == "L" else "RGB",
                    None if self.source is None else (SOURCE_TAG, self.source))

    def abort(self) -> None:
        self.image = None


def encode_to_size(codec, x: torch.Tensor, media: dict, header: dict, output, max_bpp: float, pixels: int):
    """Write the highest quality of a variable-rate codec whose whole file stays within ``max_bpp`` bits
    per pixel; returns (file bytes, quality, note)."""
    if codec.quality_range is None:
        raise InputError(f"{codec.codec_id} with these weights has one fixed rate; --bpp needs a variable-rate model")
    target = int(max_bpp * pixels / 8)

    def file_of(bitstream) -> bytes:
        return driver.pack_coded(dict(header, quality=bitstream.side_info["quality"]), bitstream.streams,
                                 bitstream.side_info)

    bitstream, quality, trials = codec.compress_to_size(x, lambda b: len(file_of(b)), target)
    data = file_of(bitstream)
    size, reached = len(data), 8 * len(data) / pixels
    if size > target:
        raise InputError(f"cannot reach {max_bpp:g} bpp: the lowest quality ({quality:g}) gives {reached:.4f} bpp for this image")
    atomic_write_bytes(output, data)
    how = f"quality {quality:.4g}, {reached:.4f} bpp, after {trials} trial encodes"
    if quality >= codec.quality_range[1] and reached < max_bpp * 0.95:
        how += " (the highest quality stays below the target)"
    return size, quality, f"size target {max_bpp:g} bpp: {how}"


def to_uint8(x: torch.Tensor, rows: int = 256) -> np.ndarray:
    """A [3, H, W] float image in [0, 1] as an H×W×3 uint8 array, converted in bands of ``rows``
    rows so that no second full-size float image is allocated."""
    _, h, w = x.shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    for top in range(0, h, rows):
        band = x[:, top : top + rows].clamp(0, 1).mul_(255).round_().to(torch.uint8)
        out[top : top + rows] = band.permute(1, 2, 0).cpu().numpy()
    return out
