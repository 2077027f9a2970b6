"""``compress_file`` / ``decompress_file``: what the CLI does, as Python functions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import zoo
from .coding import Bitstream, coder_identity, container
from .coding.range_coder import CODER_NAME
from .datasets.image_io import check_image_output, read_image, write_image
from .errors import (
    CorruptFileError,
    InputError,
    OmnicodecError,
    UnknownCodecError,
    UnsupportedVersionError,
    WeightsMismatchError,
)
from .fileio import atomic_write_bytes, check_output

MAX_PIXELS = 1 << 28  # refuse declared image sizes beyond 268 megapixels


@dataclass
class CompressResult:
    input: str
    output: str
    codec_id: str
    quality: int
    num_bytes: int
    pixels: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def bits(self) -> int:
        return 8 * self.num_bytes

    @property
    def bpp(self) -> float:
        return self.bits / self.pixels

    def summary(self) -> str:
        s = (
            f"{self.input} -> {self.output}: {self.num_bytes:,} bytes ({self.bits:,} bits), "
            f"{self.bpp:.4f} bpp, {self.seconds:.2f} s [{self.codec_id} q{self.quality}]"
        )
        return s + "".join(f"\n  note: {n}" for n in self.notes)


@dataclass
class DecompressResult:
    input: str
    output: str
    codec_id: str
    quality: int
    height: int
    width: int
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.input} -> {self.output}: {self.width}x{self.height} image, {self.seconds:.2f} s "
            f"[{self.codec_id} q{self.quality}]"
        )


def load_codec(
    codec_id: str | None = None,
    quality: int | None = None,
    weights: str | Path | None = None,
    device: str = "cpu",
    media: str = "image",
):
    """The codec for compressing: exported ``weights``, or shipped ones by id and quality."""
    if weights is not None:
        codec = zoo.load_file_entry(weights, device)
        if codec_id is not None and codec.codec_id != codec_id:
            raise InputError(f"--weights hold a {codec.codec_id} model, not {codec_id}")
        return codec
    if codec_id is None:
        codec_id = zoo.default_entry(media)["codec_id"]
    return zoo.load(codec_id, quality, device)


def compress_file(
    input: str | Path,
    output: str | Path,
    codec: str | None = None,
    quality: int | None = None,
    weights: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
) -> CompressResult:
    """Compress an image file into an omnicodec file (written atomically)."""
    start = time.perf_counter()
    input, output = Path(input), Path(output)
    check_output(output, force)
    if input.exists() and output.exists() and input.resolve() == output.resolve():
        raise InputError("input and output are the same file")
    array, info = read_image(input)
    model = load_codec(codec, quality, weights, device)
    if model.media != "image":
        raise InputError(f"{model.codec_id} codes {model.media}, not images")
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float().div(255.0).to(device)
    bitstream = model.compress(x)
    header = {
        "codec": model.codec_id,
        "quality": model.quality,
        "weights": model.weights_sha256[: zoo.SHA_PREFIX_LEN],
        "coder": coder_identity(),
        "media": info.media(),
        "shapes": bitstream.shapes,
        "side_info": bitstream.side_info,
    }
    data = container.pack(header, bitstream.streams)
    atomic_write_bytes(output, data)
    return CompressResult(
        str(input), str(output), model.codec_id, model.quality, len(data), info.height * info.width,
        time.perf_counter() - start, list(info.notes),
    )


def read_header(path: str | Path) -> container.Container:
    """Read and verify an omnicodec file (no decoding)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    return container.unpack(path.read_bytes())


def _check_header(header: dict) -> None:
    try:
        codec_id, media = header["codec"], header["media"]
        coder = header["coder"]["name"]
        shapes, side = header["shapes"], header["side_info"]
        if not isinstance(codec_id, str) or not isinstance(shapes, dict) or not isinstance(side, dict):
            raise TypeError("wrong field types")
        h, w = int(media["height"]), int(media["width"])
        for shape in shapes.values():
            if not (isinstance(shape, list) and 1 <= len(shape) <= 6 and all(isinstance(d, int) and d >= 0 for d in shape)):
                raise ValueError(f"bad stream shape {shape!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"file header is incomplete or malformed ({exc})") from exc
    if coder != CODER_NAME:
        raise UnsupportedVersionError(f"file was written with coder {coder!r}; this omnicodec has {CODER_NAME!r}")
    if not (0 < h and 0 < w and h * w <= MAX_PIXELS):
        raise CorruptFileError(f"file declares an implausible image size {w}x{h}")
    if side.get("size") != [h, w]:
        raise CorruptFileError("file header disagrees with itself about the image size")
    # the codec checks that the stream shapes fit this size before decoding anything


def _codec_for_file(header: dict, weights: str | Path | None, device: str):
    prefix = header["weights"] if isinstance(header.get("weights"), str) else ""
    if weights is not None:
        model = zoo.load_file_entry(weights, device)
    else:
        entry = zoo.find_by_sha(prefix) if prefix else None
        if entry is None:
            raise WeightsMismatchError(
                f"file was written with {header['codec']} weights {prefix or '?'}…, which are not shipped "
                "with this omnicodec; pass --weights with the exported model"
            )
        model = zoo.load_entry(entry, device)
    if model.codec_id != header["codec"] or not model.weights_sha256.startswith(prefix) or not prefix:
        raise WeightsMismatchError(
            f"file needs {header['codec']} weights {prefix}…, but the loaded model is "
            f"{model.codec_id} {model.weights_sha256[: zoo.SHA_PREFIX_LEN]}…"
        )
    return model


def decompress_file(
    input: str | Path,
    output: str | Path,
    weights: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
) -> DecompressResult:
    """Decode an omnicodec file into an image file (written atomically, never partially)."""
    start = time.perf_counter()
    output = Path(output)
    check_output(output, force)
    check_image_output(output)
    parsed = read_header(input)
    header = parsed.header
    _check_header(header)
    try:
        model = _codec_for_file(header, weights, device)
    except UnknownCodecError as exc:
        raise UnsupportedVersionError(f"file uses codec {header['codec']!r}, unknown to this omnicodec") from exc
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
    return DecompressResult(
        str(input), str(output), model.codec_id, int(header.get("quality", 0)), media["height"], media["width"],
        time.perf_counter() - start,
    )
