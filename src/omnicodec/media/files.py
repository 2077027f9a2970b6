"""Files in and out: compress a medium's file into an omnicodec file and decode one back, checked and
written atomically (the public names are re-exported by :mod:`omnicodec.api`).

The medium is chosen from the input (a video file or a folder of frames is video, anything
else an image) or from the requested codec, and from the file header when decoding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import zoo
from ..coding import container
from ..coding.range_coder import CODER_NAME
from ..constants import SPEECH_RATE
from ..errors import (
    CorruptFileError,
    InputError,
    UnknownCodecError,
    UnsupportedVersionError,
    WeightsMismatchError,
)
from ..fileio import check_not_same_file, check_output
from ..memory import check_memory, resolve_limit


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
        """Kilobits per second of speech (16 kHz samples); NaN for a recording without samples."""
        return self.bits / (self.pixels / SPEECH_RATE) / 1000 if self.pixels else float("nan")

    def summary(self) -> str:
        if self.media == "speech":
            seconds = self.pixels / SPEECH_RATE
            rate = f"{seconds:.2f} s of audio, {self.num_bytes:,} bytes ({self.bits:,} bits)"
            rate += f", {self.kbps:.2f} kbit/s" if self.pixels else " (no samples: no bit rate)"
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
) -> zoo.LoadedCodec:
    """The codec for compressing: exported ``weights``, or shipped ones by id and quality."""
    if weights is not None:
        loaded = zoo.load_file_entry(weights, device, quality)
        if codec_id is not None and loaded.codec_id != codec_id:
            raise InputError(f"--weights hold a {loaded.codec_id} model, not {codec_id}")
        return loaded
    if codec_id is None:
        codec_id = zoo.default_entry(media)["codec_id"]
    return zoo.load(codec_id, quality, device)


def media_of(path: Path) -> str:
    """The medium of an input file: video, speech or image."""
    from .speech import is_speech_path
    from .video import is_video_path

    return "video" if is_video_path(path) else "speech" if is_speech_path(path) else "image"


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
    intra_period: int | None = None,
) -> CompressResult:
    """Compress an image, a video or a speech recording into an omnicodec file (written atomically).

    ``quality`` may be any real number in a variable-rate model's range; ``bpp`` (images, variable-rate
    models) instead finds the highest quality whose file stays within that many bits per pixel.
    ``intra_period`` (video) puts an intra frame every that many frames instead of the model's default;
    the file states it, so decoding needs nothing more.
    An existing ``output`` is replaced only with ``overwrite=True`` (``force`` is the same switch).
    ``max_memory`` (bytes, or e.g. ``"2G"``; default: what the machine has available) bounds the
    estimated peak memory: a larger image or video frame is refused before it is read.
    """
    from . import driver

    start = time.perf_counter()
    input, output = Path(input), Path(output)
    device = check_device(device)
    media = _check_input(input, output, force or overwrite)
    if bpp is not None:
        if media != "image":
            raise InputError(f"a size target (bpp) applies to images; {input} looks like {media}")
        if quality is not None:
            raise InputError("give a quality or a size target (bpp), not both")
        if not (isinstance(bpp, (int, float)) and 0 < bpp < 1e3):
            raise InputError(f"the size target must be a positive number of bits per pixel, got {bpp!r}")
    limit = resolve_limit(max_memory)
    loaded = load_codec(codec, quality, weights, device, media)
    model = loaded.codec
    if model.media != media:
        raise InputError(f"{model.codec_id} codes {model.media}, but {input} looks like {media}")
    options = check_encoder_options(model, intra_period=intra_period)
    check_size, notes, total = memory_check(model, limit), [], None
    if media == "image":
        from .image import encode_to_size, open_image

        pieces, info, notes, pixels = open_image(input, check_size)
        unit, total = "image", 1
    elif media == "video":
        from .video import open_frames

        pieces, info, total = open_frames(input, check_size)
        unit = "frame"
    else:
        from .speech import open_audio

        pieces, info = open_audio(input)
        unit = "chunk"
    header = driver.file_header(model.codec_id, loaded.quality, loaded.weights_sha256, info, {})
    rate = loaded.quality if loaded.quality_range is not None else None
    if bpp is not None:
        size, reached, note = encode_to_size(model, pieces[0], info, header, output, bpp, pixels)
        return CompressResult(str(input), str(output), model.codec_id, reached, size, pixels,
                              time.perf_counter() - start, notes + [note])
    done = driver.encode(model, pieces, info, header, output, rate, progress and media != "image", unit, total,
                         options)
    if media == "speech":
        return CompressResult(str(input), str(output), model.codec_id, loaded.quality, done.size,
                              done.stats["samples"], time.perf_counter() - start, media="speech")
    if media == "video":
        return CompressResult(str(input), str(output), model.codec_id, loaded.quality, done.size,
                              done.units * info["width"] * info["height"], time.perf_counter() - start,
                              frames=done.units)
    reached = done.side_info.get("quality", loaded.quality)
    return CompressResult(str(input), str(output), model.codec_id, reached, done.size, pixels,
                          time.perf_counter() - start, notes)


def check_encoder_options(model, **given) -> dict:
    """The per-file options given (not ``None``), checked against what ``model`` takes before any input
    is read."""
    options, accepted = {k: v for k, v in given.items() if v is not None}, model.encoder_options()
    for name, value in options.items():
        label = name.replace("_", " ")
        if name not in accepted:
            raise InputError(f"{model.codec_id} takes no {label} (it codes {model.media})")
        lo, hi = accepted[name]
        if type(value) is not int or not lo <= value <= hi:
            raise InputError(f"the {label} must be a whole number from {lo} to {hi}, got {value!r}")
    return options


def _check_input(input: Path, output: Path, overwrite: bool) -> str:
    """The medium of ``input``, once ``output`` may be written and is not the input itself."""
    check_output(output, overwrite)
    check_not_same_file(input, output)
    if not input.exists():
        raise InputError(f"{input}: no such file")
    return media_of(input)


def compress_images(
    inputs: list[str | Path],
    outputs: list[str | Path],
    codec: str | None = None,
    quality: float | None = None,
    weights: str | Path | None = None,
    device: str = "cpu",
    *,
    overwrite: bool = False,
    max_memory: str | int | None = None,
) -> list[CompressResult]:
    """Compress images of one size together: on a GPU their analysis transform runs as one batch (what a
    GPU is fast at), their entropy coding one by one; each output is written atomically, as
    :func:`compress_file` writes it.

    On the CPU every file is byte-identical to :func:`compress_file`'s (the transforms run image by
    image there); a GPU computes the batch with other kernels, and a latent rounded the other way gives
    another, equally valid file. ``max_memory`` bounds the estimated peak of the whole batch. Images of
    different sizes are refused.
    """
    from . import driver
    from .image import open_image

    start = time.perf_counter()
    pairs = [(Path(i), Path(o)) for i, o in zip(inputs, outputs, strict=True)]
    if not pairs:
        return []
    device = check_device(device)
    for input, output in pairs:
        if _check_input(input, output, overwrite) != "image":
            raise InputError(f"{input} is not an image; only images are coded together")
    limit = resolve_limit(max_memory)
    loaded = load_codec(codec, quality, weights, device, "image")
    model = loaded.codec
    if model.media != "image":
        raise InputError(f"{model.codec_id} codes {model.media}, not images")
    check_size = memory_check(model, max(1, limit // len(pairs)))  # the batch's estimate within the limit
    opened = [open_image(input, check_size) for input, _ in pairs]
    shapes = {tuple(pieces[0].shape) for pieces, *_ in opened}
    if len(shapes) != 1:
        raise InputError(f"images coded together must have one size; these have {len(shapes)}")
    headers = [driver.file_header(model.codec_id, loaded.quality, loaded.weights_sha256, info, {})
               for _, info, _, _ in opened]
    rate = loaded.quality if loaded.quality_range is not None else None
    done = driver.encode_batch(model, [pieces[0] for pieces, *_ in opened], headers, [output for _, output in pairs],
                               rate)
    seconds = (time.perf_counter() - start) / len(pairs)
    return [
        CompressResult(str(input), str(output), model.codec_id, d.side_info.get("quality", loaded.quality), d.size,
                       pixels, seconds, notes)
        for (input, output), d, (_, _, notes, pixels) in zip(pairs, done, opened)
    ]


def decompress_images(
    inputs: list[str | Path],
    outputs: list[str | Path],
    weights: str | Path | None = None,
    device: str = "cpu",
    *,
    overwrite: bool = False,
    max_memory: str | int | None = None,
) -> list[DecompressResult]:
    """Decode image files written with one model together: on a GPU, images of one size and quality go
    through the synthesis transform as one batch. Each output is written atomically and only once every file decoded;
    ``max_memory`` bounds the estimated peak of the whole batch."""
    from ..coding.container import ContainerReader
    from ..datasets.image_io import check_image_output
    from . import driver
    from .image import ImageSink, check_media

    start = time.perf_counter()
    pairs = [(Path(i), Path(o)) for i, o in zip(inputs, outputs, strict=True)]
    if not pairs:
        return []
    device = check_device(device)
    limit = resolve_limit(max_memory)
    readers, sinks, sizes, model, weights_of = [], [], [], None, None
    try:
        for input, output in pairs:
            if not input.is_file():
                raise InputError(f"{input}: no such file" if not input.exists() else f"{input} is not a file")
            check_not_same_file(input, output)
            readers.append(ContainerReader(input))
            header = readers[-1].header
            if _check_header(header) != "image":
                raise InputError(f"{input} does not hold an image; only images are decoded together")
            check_output(output, overwrite)
            check_image_output(output)
            h, w = check_media(header["media"])
            _check_size_agrees(header, h, w)
            if model is None:
                loaded = _codec_for_file(header, weights, device)
                model, weights_of = loaded.codec, (header["codec"], header.get("weights"))
            elif (header["codec"], header.get("weights")) != weights_of:
                raise InputError(f"{input} was written with another model than {pairs[0][0]}; decode them apart")
            memory_check(model, max(1, limit // len(pairs)))(h, w, "decode")
            sinks.append(ImageSink(output, header["media"], driver.source_id(input)))
            sizes.append((h, w, _header_quality(header)))
        driver.decode_batch(model, readers, sinks)
    finally:
        for reader in readers:
            reader.close()
    seconds = (time.perf_counter() - start) / len(pairs)
    return [DecompressResult(str(i), str(o), model.codec_id, q, h, w, seconds) for (i, o), (h, w, q) in zip(pairs, sizes)]


def read_header(path: str | Path) -> container.Container:
    """Read and verify a whole omnicodec file (no decoding)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    return container.unpack(path.read_bytes())


def read_media_type(path: str | Path) -> str:
    """The media type (image, video, speech) an omnicodec file declares, from its checked header."""
    from ..coding.container import ContainerReader

    with ContainerReader(path) as reader:
        return _check_header(reader.header)


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


def _check_size_agrees(header: dict, height: int, width: int) -> None:
    """The media size (what memory is checked against) and the codec's size (what it decodes) agree."""
    side = header.get("side_info", {})
    if not isinstance(side, dict) or side.get("size") != [height, width]:
        raise CorruptFileError("file header disagrees with itself about the image size")


def _header_quality(header: dict) -> float:
    q = header.get("quality", 0)
    return float(q) if isinstance(q, (int, float)) and q == q and abs(q) < 1e6 else 0.0


def _codec_for_file(header: dict, weights: str | Path | None, device: str) -> zoo.LoadedCodec:
    prefix = header["weights"] if isinstance(header.get("weights"), str) else ""
    try:
        if weights is not None:
            loaded = zoo.load_file_entry(weights, device)
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
            loaded = zoo.load_entry(entry, device)
    except UnknownCodecError as exc:
        raise UnsupportedVersionError(f"file uses codec {header['codec']!r}, unknown to this omnicodec") from exc
    if loaded.codec_id != header["codec"] or not loaded.weights_sha256.startswith(prefix) or not prefix:
        raise WeightsMismatchError(
            f"file needs {header['codec']} weights {prefix}…, but the loaded model is "
            f"{loaded.codec_id} {loaded.weights_sha256[: zoo.SHA_PREFIX_LEN]}…"
        )
    return loaded


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
    what the machine has available. The file is read once, unit by unit; every chunk is checked
    against its CRC32 before it is decoded, and the whole file's CRC32 before the output is written.
    """
    from ..coding.container import ContainerReader
    from . import driver

    start = time.perf_counter()
    force = force or overwrite
    input, output = Path(input), Path(output)
    device = check_device(device)
    limit = resolve_limit(max_memory)
    if not input.is_file():
        raise InputError(f"{input}: no such file" if not input.exists() else f"{input} is not a file")
    check_not_same_file(input, output)  # before anything is decoded or written
    with ContainerReader(input) as reader:
        header = reader.header
        kind = _check_header(header)
        check_output(output, force, allow_dir=kind == "video")
        media = header["media"]
        h = w = 0
        if kind == "image":
            from ..datasets.image_io import check_image_output
            from .image import ImageSink, check_media

            check_image_output(output)
            h, w = check_media(media)
            _check_size_agrees(header, h, w)
        elif kind == "video":
            from .video import FrameSink, check_media

            h, w, _ = check_media(media)
            _check_size_agrees(header, h, w)
        else:
            from .speech import AudioSink, check_speech_output

            check_speech_output(output)
        loaded = _codec_for_file(header, weights, device)
        model = loaded.codec
        if model.media != kind:  # a header edited by hand (its CRC redone) would decode to garbage
            raise CorruptFileError(f"the file declares {kind} media, but its codec {model.codec_id} codes {model.media}")
        source = driver.source_id(input)  # the output records which file it is a decoding of
        if kind != "speech":
            memory_check(model, limit)(h, w, "decode")
        if kind == "image":
            sink, unit, total = ImageSink(output, media, source), "image", 1
        elif kind == "video":
            sink, unit, total = FrameSink(output, media, source), "frame", None
        else:
            sink, unit, total = AudioSink(output, sample_rate, source), "chunk", None
        driver.decode(model, reader, sink, progress and kind != "image", unit, total)
    quality, seconds = _header_quality(header), time.perf_counter() - start
    if kind == "speech":
        return DecompressResult(str(input), str(output), model.codec_id, quality, 0, 0, seconds,
                                samples=sink.samples, sample_rate=sink.rate)
    frames = sink.frames if kind == "video" else 0
    return DecompressResult(str(input), str(output), model.codec_id, quality, h, w, seconds, frames)
