"""Images to omnicodec files and back."""

from __future__ import annotations

import numpy as np
import torch

from ..coding import Bitstream, container
from ..datasets.image_io import read_image, write_image
from ..errors import CorruptFileError, OmnicodecError


def compress_image(model, input, header: dict, device: str, check_size=None) -> tuple[bytes, dict, list[str], int]:
    """``(file bytes, media description, conversion notes, pixels)``.

    ``check_size(height, width, "encode")`` runs once the image's size is known, before its pixels are decoded.
    """
    array, info = read_image(input, check_size=None if check_size is None else lambda h, w: check_size(h, w, "encode"))
    # 8-bit pixels: the codec turns them into floats tile by tile (a whole float image is 4x larger)
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device)
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
