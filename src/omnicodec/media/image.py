"""Images to omnicodec files and back."""

from __future__ import annotations

import numpy as np
import torch

from ..coding import Bitstream, container
from ..datasets.image_io import read_image, write_image
from ..errors import CorruptFileError, OmnicodecError


def compress_image(model, input, header: dict, device: str) -> tuple[bytes, dict, list[str], int]:
    """``(file bytes, media description, conversion notes, pixels)``."""
    array, info = read_image(input)
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float().div(255.0).to(device)
    bitstream = model.compress(x)
    header = dict(header, media=info.media(), shapes=bitstream.shapes, side_info=bitstream.side_info)
    return container.pack(header, bitstream.streams), info.media(), list(info.notes), info.height * info.width


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
