"""Images to omnicodec files and back."""

from __future__ import annotations

import numpy as np
import torch

from ..coding import Bitstream, container
from ..datasets.image_io import read_image, write_image
from ..errors import CorruptFileError, InputError, OmnicodecError


def compress_image(
    model, input, header: dict, device: str, quality: float | None = None, max_bpp: float | None = None
) -> tuple[bytes, dict, list[str], int, float]:
    """``(file bytes, media description, notes, pixels, quality)``.

    ``quality`` is the rate of a variable-rate codec; ``max_bpp`` instead searches its quality range
    for the highest quality whose whole file stays within ``max_bpp`` bits per pixel.
    """
    array, info = read_image(input)
    notes, pixels = list(info.notes), info.height * info.width
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float().div(255.0).to(device)
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
    array = (x_hat[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    if array.shape[:2] != (media["height"], media["width"]):
        raise CorruptFileError("decoded image size differs from the header")
    write_image(output, np.ascontiguousarray(array), "L" if media.get("output_mode") == "L" else "RGB")
    return media["height"], media["width"]
