"""``compress_file`` / ``decompress_file``: what the CLI does, as Python functions.

The medium is chosen from the input (a video file or a folder of frames is video, anything
else an image) or from the requested codec, and from the file header when decoding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import zoo
from .coding import coder_identity, container
from .coding.range_coder import CODER_NAME
from .errors import (
    CorruptFileError,
    InputError,
    UnknownCodecError,
    UnsupportedVersionError,
    WeightsMismatchError,
)
from .fileio import atomic_write_bytes, check_not_same_file, check_output
from .memory import check_memory, resolve_limit

MAX_PIXELS = 1 << 28  # refuse declared image sizes beyond 268 megapixels (after padding to the codec's stride)
PAD = 64  # every image codec pads to a multiple of 64


def memory_check(model, limit: int):
    """``check(height, width, direction)``: refuses a size whose estimated peak memory for ``model``
    exceeds ``limit`` bytes (codecs without ``memory_estimate``, such as speech, are not checked)."""
    estimate = getattr(model, "memory_estimate", None)

    def check(height: int, width: int, direction: str) -> None:
        if estimate is not None:
            what = f"{'coding' if direction == 'encode' else 'decoding'} a {width}x{height} {model.media}"
            check_memory(what, estimate(height, width, direction), limit)

    return check


@dataclass
class CompressResult:
    input: str
    output: str
    codec_id: str
    quality: float
    num_bytes: int
    pixels: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    frames: int = 0
    media: str = "image"

    @property
    def bits(self) -> int:
        return 8 * self.num_bytes

    @property
    def bpp(self) -> float:
        """Bits per pixel (images, video); for speech ``pixels`` counts 16 kHz samples."""
        return self.bits / max(self.pixels, 1)

    @property
    def kbps(self) -> float:
        """Kilobits per second of speech (16 kHz samples)."""
        return self.bits / max(self.pixels / 16000, 1e-9) / 1000

    def summary(self) -> str:
        if self.media == "speech":
            rate = f"{self.pixels / 16000:.2f} s of audio, {self.num_bytes:,} bytes ({self.bits:,} bits), {self.kbps:.2f} kbit/s"
        else:
            frames = f"{self.frames} frames, " if self.frames else ""
            rate = f"{frames}{self.num_bytes:,} bytes ({self.bits:,} bits), {self.bpp:.4f} bpp"
        s = f"{self.input} -> {self.output}: {rate}, {self.seconds:.2f} s [{self.codec_id} q{self.quality:g}]"
        return s + "".join(f"\n  note: {n}" for n in self.notes)


@dataclass
class DecompressResult:
    input: str
    output: str
    codec_id: str
    quality: float
    height: int
    width: int
    seconds: float
    frames: int = 0
    samples: int = 0
    sample_rate: int = 0

    def summary(self) -> str:
        if self.sample_rate:
            what = f"{self.samples / self.sample_rate:.2f} s of {self.sample_rate} Hz mono audio"
        elif self.frames:
            what = f"{self.frames} frames of {self.width}x{self.height}"
        else:
            what = f"{self.width}x{self.height} image"
        return f"{self.input} -> {self.output}: {what}, {self.seconds:.2f} s [{self.codec_id} q{self.quality:g}]"


def check_device(device: str) -> str:
    """``device`` if torch can use it here; otherwise an :class:`InputError` naming the choices.

    Checked before anything is loaded, so an unknown name or a missing GPU is one clear error
    instead of a traceback from deep inside torch.
    """
    import torch

    text = str(device)
    try:
        parsed = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {text!r}; choose cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cpu":
        return text
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {text!r} is not available: torch finds no CUDA GPU here; use cpu")
        if parsed.index is not None and parsed.index >= count:
            raise InputError(f"device {text!r} is not available: there are {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
        return text
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"device {text!r} is not available on this machine; use cpu")
        return text
    raise InputError(f"device {text!r} is not supported; choose cpu, cuda, cuda:N or mps")


def load_codec(
    codec_id: str | None = None,
    quality: float | None = None,
    weights: str | Path | None = None,
    device: str = "cpu",
    media: str = "image",
):
    """The codec for compressing: exported ``weights``, or shipped ones by id and quality."""
    if weights is not None:
        codec = zoo.load_file_entry(weights, device, quality)
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
    quality: float | None = None,
    weights: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
    progress: bool = False,
    bpp: float | None = None,
    *,
    overwrite: bool = False,
    max_memory: str | int | None = None,
) -> CompressResult:
    """Compress an image, a video or a speech recording into an omnicodec file (written atomically).

    ``quality`` may be any real number in a variable-rate model's range; ``bpp`` (images, variable-rate
    models) instead finds the highest quality whose file stays within that many bits per pixel.
    An existing ``output`` is replaced only with ``overwrite=True`` (``force`` is the same switch).
    ``max_memory`` (bytes, or e.g. ``"2G"``; default: what the machine has available) bounds the
    estimated peak memory: a larger image or video frame is refused before it is read.
    """
    from .media.speech import is_speech_path
    from .media.video import is_video_path

    start = time.perf_counter()
    input, output = Path(input), Path(output)
    check_output(output, force or overwrite)
    device = check_device(device)
    check_not_same_file(input, output)
    if not input.exists():
        raise InputError(f"{input}: no such file")
    media = "video" if is_video_path(input) else "speech" if is_speech_path(input) else "image"
    if bpp is not None:
        if media != "image":
            raise InputError(f"a size target (bpp) applies to images; {input} looks like {media}")
        if quality is not None:
            raise InputError("give a quality or a size target (bpp), not both")
        if not (isinstance(bpp, (int, float)) and 0 < bpp < 1e3):
            raise InputError(f"the size target must be a positive number of bits per pixel, got {bpp!r}")
    limit = resolve_limit(max_memory)
    model = load_codec(codec, quality, weights, device, media)
    if model.media != media:
        raise InputError(f"{model.codec_id} codes {model.media}, but {input} looks like {media}")
    header = {
        "codec": model.codec_id,
        "quality": model.quality,
        "weights": model.weights_sha256[: zoo.SHA_PREFIX_LEN],
        "coder": coder_identity(),
    }
    if media == "speech":
        from .media.speech import compress_speech

        size, info, samples = compress_speech(model, input, output, header, device, progress)
        return CompressResult(str(input), str(output), model.codec_id, model.quality, size, samples,
                              time.perf_counter() - start, media="speech")
    if media == "video":
        from .media.video import compress_video

        size, info, pixels = compress_video(model, input, output, header, device, progress, memory_check(model, limit))
        return CompressResult(str(input), str(output), model.codec_id, model.quality, size, pixels,
                              time.perf_counter() - start, frames=info["frames"])
    from .media.image import compress_image

    variable = getattr(model, "quality_range", None) is not None
    data, _, notes, pixels, reached = compress_image(
        model, input, header, device, model.quality if variable and bpp is None else None, bpp,
        memory_check(model, limit),
    )
    atomic_write_bytes(output, data)
    return CompressResult(str(input), str(output), model.codec_id, reached, len(data), pixels,
                          time.perf_counter() - start, notes)


def read_header(path: str | Path) -> container.Container:
    """Read and verify a whole omnicodec file (no decoding)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    return container.unpack(path.read_bytes())


def _check_header(header: dict) -> str:
    """Validate the fields every file needs; returns the media type."""
    try:
        codec_id, media = header["codec"], header["media"]
        coder = header["coder"]["name"]
        kind = media["type"]
        if not isinstance(codec_id, str) or not isinstance(media, dict) or not isinstance(kind, str):
            raise TypeError("wrong field types")
        optional = {"side_info": dict, "shapes": dict, "quality": (int, float), "weights": str}
        for key, expected in optional.items():
            if key in header and (not isinstance(header[key], expected) or isinstance(header[key], bool)):
                raise TypeError(f"{key!r} has the wrong type")
    except (KeyError, TypeError) as exc:
        raise CorruptFileError(f"file header is incomplete or malformed ({exc})") from exc
    if coder != CODER_NAME:
        raise UnsupportedVersionError(f"file was written with coder {coder!r}; this omnicodec has {CODER_NAME!r}")
    if kind not in ("image", "video", "speech"):
        raise UnsupportedVersionError(f"file holds {kind!r} media, which this omnicodec cannot decode")
    return kind


def _check_image_header(header: dict) -> None:
    try:
        shapes, side = header["shapes"], header["side_info"]
        h, w = header["media"]["height"], header["media"]["width"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w)):
            raise TypeError("the image size is not a pair of integers")
        if not isinstance(shapes, dict) or not isinstance(side, dict):
            raise TypeError("wrong field types")
        for shape in shapes.values():
            if not (isinstance(shape, list) and 1 <= len(shape) <= 6 and all(isinstance(d, int) and d >= 0 for d in shape)):
                raise ValueError(f"bad stream shape {shape!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"file header is incomplete or malformed ({exc})") from exc
    if not (0 < h and 0 < w and -(-h // PAD) * PAD * (-(-w // PAD) * PAD) <= MAX_PIXELS):
        raise CorruptFileError(f"file declares an implausible image size {w}x{h}")
    if side.get("size") != [h, w]:
        raise CorruptFileError("file header disagrees with itself about the image size")
    # the codec checks that the stream shapes fit this size before decoding anything


def _header_quality(header: dict) -> float:
    q = header.get("quality", 0)
    return float(q) if isinstance(q, (int, float)) and q == q and abs(q) < 1e6 else 0.0


def _codec_for_file(header: dict, weights: str | Path | None, device: str):
    prefix = header["weights"] if isinstance(header.get("weights"), str) else ""
    try:
        if weights is not None:
            model = zoo.load_file_entry(weights, device)
        else:
            entry = zoo.find_by_sha(prefix) if prefix else None
            if entry is None and zoo.retired(prefix):
                raise WeightsMismatchError(
                    f"file was written with the {zoo.retired(prefix)} weights, which this omnicodec no longer "
                    "ships; decode it with that release, or pass --weights with those weights"
                )
            if entry is None:
                raise WeightsMismatchError(
                    f"file was written with {header['codec']} weights {prefix or '?'}…, which are not shipped "
                    "with this omnicodec; pass --weights with the exported model"
                )
            model = zoo.load_entry(entry, device)
    except UnknownCodecError as exc:
        raise UnsupportedVersionError(f"file uses codec {header['codec']!r}, unknown to this omnicodec") from exc
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
    progress: bool = False,
    sample_rate: int | None = None,
    *,
    overwrite: bool = False,
    max_memory: str | int | None = None,
) -> DecompressResult:
    """Decode an omnicodec file into an image, video or recording (written atomically, never partially).

    An existing ``output`` is replaced only with ``overwrite=True`` (``force`` is the same switch).
    Sizes the file declares are checked against an estimate of the peak memory before anything
    that large is allocated; ``max_memory`` (bytes, or e.g. ``"2G"``) is the limit, by default
    what the machine has available.
    """
    from .coding.container import ContainerReader

    start = time.perf_counter()
    force = force or overwrite
    input, output = Path(input), Path(output)
    device = check_device(device)
    limit = resolve_limit(max_memory)
    if not input.is_file():
        raise InputError(f"{input}: no such file" if not input.exists() else f"{input} is not a file")
    check_not_same_file(input, output)  # before anything is decoded or written
    reader = ContainerReader(input)
    try:
        kind = _check_header(reader.header)
        check_output(output, force, allow_dir=kind == "video")
        header = reader.header
        if kind == "speech":
            from .media.speech import check_speech_output, decompress_speech

            check_speech_output(output)
            model = _codec_for_file(header, weights, device)
            samples, rate = decompress_speech(model, reader, output, sample_rate, progress)
            return DecompressResult(str(input), str(output), model.codec_id, _header_quality(header), 0, 0,
                                    time.perf_counter() - start, samples=samples, sample_rate=rate)
        if kind == "video":
            from .media.video import decompress_video

            model = _codec_for_file(header, weights, device)
            frames, h, w = decompress_video(model, reader, output, progress, memory_check(model, limit))
            return DecompressResult(str(input), str(output), model.codec_id, _header_quality(header), h, w,
                                    time.perf_counter() - start, frames)
    finally:
        reader.close()
    from .datasets.image_io import check_image_output
    from .media.image import decompress_image

    check_image_output(output)
    parsed = read_header(input)  # images: every byte checked before decoding
    _check_image_header(parsed.header)
    model = _codec_for_file(parsed.header, weights, device)
    media = parsed.header["media"]
    memory_check(model, limit)(int(media["height"]), int(media["width"]), "decode")
    h, w = decompress_image(model, parsed, output)
    return DecompressResult(str(input), str(output), model.codec_id, _header_quality(parsed.header), h, w,
                            time.perf_counter() - start)
