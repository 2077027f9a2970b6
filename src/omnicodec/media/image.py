"""Images to omnicodec files and back."""

from __future__ import annotations

import numpy as np
import torch

from ..coding import Bitstream, container
from ..datasets.image_io import read_image, write_image
from ..errors import CorruptFileError, InputError, OmnicodecError


def compress_image(
    model, input, header: dict, device: str, quality: float | None = None, max_bpp: float | None = None,
    check_size=None,
) -> tuple[bytes, dict, list[str], int, float]:
    """``(file bytes, media description, notes, pixels, quality)``.

    ``quality`` is the rate of a variable-rate codec; ``max_bpp`` instead searches its quality range
    for the highest quality whose whole file stays within ``max_bpp`` bits per pixel.
    ``check_size(height, width, "encode")`` runs once the image's size is known, before its pixels are decoded.
    """
    array, info = read_image(input, check_size=None if check_size is None else lambda h, w: check_size(h, w, "encode"))
    notes, pixels = list(info.notes), info.height * info.width
    # 8-bit pixels: the codec turns them into floats tile by tile (a whole float image is 4x larger)
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device)
    variable = getattr(model, "quality_range", None) is not None

    def pack(bitstream: Bitstream) -> bytes:
        q = bitstream.side_info.get("quality", header.get("quality"))
        full = dict(header, quality=q, media=info.media(), shapes=bitstream.shapes, side_info=bitstream.side_info)
        return container.pack(full, bitstream.streams)

    if max_bpp is not None:
        if not variable:
            raise InputError(f"{model.codec_id} with these weights has one fixed rate; --bpp needs a variable-rate model")
        target = int(max_bpp * pixels / 8)
        bitstream, quality, trials = model.compress_to_size(x, lambda b: len(pack(b)), target)
        data = pack(bitstream)
        reached = 8 * len(data) / pixels
        if len(data) > target:
            raise InputError(
                f"cannot reach {max_bpp:g} bpp: the lowest quality ({quality:g}) gives {reached:.4f} bpp for this image"
            )
        how = f"quality {quality:.4g}, {reached:.4f} bpp, after {trials} trial encodes"
        if quality >= model.quality_range[1] and reached < max_bpp * 0.95:
            how += " (the highest quality stays below the target)"
        notes.append(f"size target {max_bpp:g} bpp: {how}")
        return data, info.media(), notes, pixels, quality
    bitstream = model.compress(x, quality) if variable else model.compress(x)
    quality = bitstream.side_info.get("quality", header.get("quality"))
    return pack(bitstream), info.media(), notes, pixels, quality


def decompress_image(model, parsed: container.Container, output) -> tuple[int, int]:
    """Decode a parsed image file into ``output``; returns (height, width)."""
    header = parsed.header
    bitstream = Bitstream(dict(parsed.chunks), header["shapes"], header["side_info"])
    try:
        x_hat = model.decompress(bitstream)
    except OmnicodecError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        raise CorruptFileError(f"file content does not match its codec: {exc}") from exc
    media = header["media"]
    if tuple(x_hat.shape[-2:]) != (media["height"], media["width"]):
        raise CorruptFileError("decoded image size differs from the header")
    array = to_uint8(x_hat[0])
    del x_hat  # the float image is 4x the 8-bit one: free it before Pillow copies the pixels
    write_image(output, array, "L" if media.get("output_mode") == "L" else "RGB")
    return media["height"], media["width"]


def to_uint8(x: torch.Tensor, rows: int = 256) -> np.ndarray:
    """A [3, H, W] float image in [0, 1] as an H×W×3 uint8 array, converted in bands of ``rows``
    rows so that no second full-size float image is allocated."""
    _, h, w = x.shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    for top in range(0, h, rows):
        band = x[:, top : top + rows].clamp(0, 1).mul_(255).round_().to(torch.uint8)
        out[top : top + rows] = band.permute(1, 2, 0).cpu().numpy()
    return out
