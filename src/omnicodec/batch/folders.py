"""Compress a folder into a folder of omnicodec files, or decode one back, on the :class:`Engine`.

The layout below the folder is kept: ``DIR/a/b.png`` becomes ``OUTDIR/a/b.omc`` and decodes to
``OUTDIR/a/b.png`` (or the chosen suffix). Each file goes through :func:`~omnicodec.compress_file` /
:func:`~omnicodec.decompress_file`, which write atomically, so a killed run leaves no partial
output. A rerun skips outputs that are complete and valid (:mod:`.complete`); ``force`` recodes
them, but a file omnicodec would not have written is never replaced. A file that fails (damaged
input, unsupported content) is reported and the others go on.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..constants import AUDIO_SUFFIXES
from ..errors import InputError, OmnicodecError
from ..media.files import (
    check_encoder_options,
    compress_file,
    compress_images,
    decompress_file,
    decompress_images,
    load_codec,
    media_of,
    read_media_type,
)
from ..memory import resolve_limit
from .complete import coded_state, decoded_state
from .engine import Engine

DECODED_SUFFIX = {"image": ".png", "video": ".y4m", "speech": ".wav"}


@dataclass
class FileResult:
    input: str
    output: str
    status: str  # "done", "skipped" or "failed"
    message: str = ""
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass
class Summary:
    results: list[FileResult]
    seconds: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def line(self) -> str:
        done = [r for r in self.results if r.status == "done"]
        rate = len(done) / max(self.seconds, 1e-9)
        return (
            f"batch: {len(done)} done, {self.count('skipped')} skipped, {self.count('failed')} failed; "
            f"{sum(r.bytes_in for r in done):,} bytes in, {sum(r.bytes_out for r in done):,} bytes out; "
            f"{rate:.2f} files/s in {self.seconds:.1f} s"
        )


def _codable_suffixes() -> set[str]:
    from ..datasets.folders import IMAGE_SUFFIXES
    from ..datasets.video_io import VIDEO_FILE_SUFFIXES

    return set(IMAGE_SUFFIXES) | set(AUDIO_SUFFIXES) | set(VIDEO_FILE_SUFFIXES)


def _files(src: Path, dst: Path, suffixes: set[str], max_memory=None, quality: float | None = None) -> list[Path]:
    """Files below ``src`` with one of ``suffixes``, in a stable order; hidden ones (temporary files) left out.
    What applies to the whole run is checked first, so that a bad request is one error, not one per file."""
    if not src.is_dir():
        raise InputError(f"{src} is not a folder")
    if dst.exists() and not dst.is_dir():
        raise InputError(f"{dst} is a file, not an output folder")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, (int, float))
                                or not math.isfinite(quality)):
        raise InputError(f"the quality must be a number, got {quality!r}")
    resolve_limit(max_memory)  # a malformed size is refused here
    a, b = Path(os.path.realpath(src)), Path(os.path.realpath(dst))
    if a == b or a.is_relative_to(b) or b.is_relative_to(a):
        raise InputError(f"the output folder {dst} must lie outside the input folder {src}, and not hold it")
    return sorted(
        p for p in src.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not any(part.startswith(".") for part in p.relative_to(src).parts)
    )


def _run(fn, groups: list[list[tuple]], engine: Engine | None) -> Summary:
    """``fn`` over groups of items (one item, or images coded as one batch); results in item order."""
    engine = engine or Engine()
    start = time.perf_counter()
    results = [r for group in engine.map(fn, groups) for r in group]
    return Summary(sorted(results, key=lambda r: r.input), time.perf_counter() - start)


def _groups(items: list[tuple], key, batch_size: int) -> list[list[tuple]]:
    """Items whose ``key(item)`` is the same (not None) in groups of at most ``batch_size``; the rest alone."""
    if batch_size < 1:
        raise InputError(f"the batch size must be a positive number, got {batch_size}")
    if batch_size == 1:
        return [[item] for item in items]
    alike: dict = {}
    groups = []
    for item in items:
        k = key(item)
        if k is None:
            groups.append([item])
        else:
            alike.setdefault(k, []).append(item)
    for members in alike.values():
        groups += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
    return groups


def _image_size(path: str) -> tuple[int, int] | None:
    """An image file's size from its header (cheap), or None for anything else."""
    from PIL import Image


    if media_of(Path(path)) != "image":
        return None
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError):
        return None


def _together(check, single, batched, group: list[tuple]) -> list:
    """The results of a group: ``check(item)`` says which items need no coding (their result) and which do
    (None); those go through ``batched`` (one result each) when there are several, else through ``single``.
    When the batch fails, each item is checked again (the batch may have written some) and coded alone, so
    that a failure is reported against its own file."""
    results: list = []

    def to_code(items: list[tuple]) -> list[tuple]:
        todo = []
        for item in items:
            verdict = check(item)
            if verdict is None:
                todo.append(item)
            else:
                results.append(verdict)
        return todo

    todo = to_code(group)
    if len(todo) > 1:
        try:
            return results + batched(todo)
        except (OmnicodecError, OSError):
            todo = to_code(todo)
    return results + [single(item) for item in todo]


def _failed(pair: tuple[str, str], exc: BaseException | str) -> FileResult:
    return FileResult(pair[0], pair[1], "failed", str(exc))


def _existing(state, output: Path, force: bool) -> str | None:
    """``"skip"``, ``"replace"`` or a reason to refuse, for an existing ``output`` in ``state``."""
    if state.complete and not force:
        return "skip"
    if not state.ours:
        return f"{output} exists and is {state.reason}; it is not replaced"
    if not force:
        return f"{output} exists and is {state.reason}; --force replaces it"
    return "replace"


def _present(output: Path, state, force: bool, pair: tuple[str, str]) -> bool | FileResult:
    """What to do about ``output`` before coding into it: ``False`` (absent), ``True`` (replace it), or the
    item's result (complete: skipped; not ours to replace: failed). ``state()`` judges the existing file.
    Creates the output's folder."""
    replace = False
    if output.exists() or output.is_symlink():
        verdict = _existing(state(), output, force)
        if verdict == "skip":
            return FileResult(*pair, "skipped")
        if verdict != "replace":
            return _failed(pair, verdict)
        replace = True
    output.parent.mkdir(parents=True, exist_ok=True)
    return replace


class _Compress:
    """One input to one omnicodec file, skipped when a complete file of the same request is there; a group
    of same-sized images through the transforms together."""

    def __init__(self, codec, quality, weights, force: bool, max_memory, intra_period: int | None = None) -> None:
        self.codec, self.quality, self.weights, self.force, self.max_memory = codec, quality, weights, force, max_memory
        self.video_options = {} if intra_period is None else {"intra_period": intra_period}  # for video files only
        self._expected: dict[str, dict] = {}

    def __call__(self, group: list[tuple[str, str, str]], device: str) -> list[FileResult]:
        def batched(items) -> list[FileResult]:

            done = compress_images([i[0] for i in items], [i[1] for i in items], self.codec, self.quality,
                                   self.weights, device, overwrite=self.force, max_memory=self.max_memory)
            return [FileResult(i[0], i[1], "done", bytes_in=Path(i[0]).stat().st_size, bytes_out=d.num_bytes)
                    for i, d in zip(items, done)]

        return _together(self.check, lambda item: self.one(item, device), batched, group)

    def check(self, item: tuple[str, str, str]) -> FileResult | None:
        """The item's result if it needs no coding (complete: skipped; not ours: failed); None to code it."""

        pair, taken_by = item[:2], item[2]
        source, output = Path(pair[0]), Path(pair[1])
        try:
            if taken_by:
                raise InputError(f"{taken_by} writes the same output {output}; rename one of them")
            replace = _present(output, lambda: coded_state(output, self.expected(media_of(source))), self.force, pair)
            return replace if isinstance(replace, FileResult) else None
        except (OmnicodecError, OSError) as exc:
            return _failed(pair, exc)

    def expected(self, media: str) -> dict:
        """What the header of a file of this request names, per medium (the default codec differs)."""
        if media not in self._expected:
            from ..zoo.format import SHA_PREFIX_LEN

            loaded = load_codec(self.codec, self.quality, self.weights, "cpu", media)
            self._expected[media] = {"codec": loaded.codec_id, "quality": loaded.quality,
                                     "weights": loaded.weights_sha256[:SHA_PREFIX_LEN]}
            if media == "video":  # the options a file was coded with, as its header states them
                check_encoder_options(loaded.codec, **self.video_options)
                options = {**loaded.codec.encoder_defaults(), **self.video_options}
                if options:
                    self._expected[media]["side_info"] = options
        return self._expected[media]

    def one(self, item: tuple[str, str, str], device: str) -> FileResult:

        pair = item[:2]
        source, output = Path(pair[0]), Path(pair[1])
        try:
            options = self.video_options if media_of(source) == "video" else {}
            result = compress_file(source, output, self.codec, self.quality, self.weights, device=device,
                                   overwrite=self.force, max_memory=self.max_memory, **options)
            return FileResult(*pair, "done", bytes_in=source.stat().st_size, bytes_out=result.num_bytes)
        except (OmnicodecError, OSError) as exc:
            return _failed(pair, exc)


def compress_folder(src, dst, codec: str | None = None, quality: float | None = None, weights=None,
                    force: bool = False, max_memory=None, engine: Engine | None = None,
                    batch_size: int = 1, intra_period: int | None = None) -> Summary:
    """Compress every image, video and speech file below ``src`` to ``dst`` (same layout, ``.omc``).
    ``batch_size`` > 1 codes up to that many images of one size together (see :func:`~omnicodec.api.compress_images`);
    ``intra_period`` codes the video files with an intra frame every that many frames (a rerun skips a file
    only if it states the same period: the one asked for, or the model's own when none is)."""
    src, dst = Path(src), Path(dst)
    items, taken = [], {}
    paths = _files(src, dst, _codable_suffixes(), max_memory, quality)
    job = _Compress(codec, quality, weights, force, max_memory, intra_period)
    if intra_period is not None:  # checked once, before any file is touched
        if not any(media_of(p) == "video" for p in paths):
            raise InputError(f"--intra-period applies to video files, and {src} holds none")
        job.expected("video")
    for path in paths:
        output = str(dst / path.relative_to(src).with_suffix(".omc"))
        items.append((str(path), output, taken.get(output, "")))  # a second input for one output fails
        taken.setdefault(output, str(path))
    groups = _groups(items, lambda item: None if item[2] else _image_size(item[0]), batch_size)
    return _run(job, groups, engine)


class _Decompress:
    """One omnicodec file back to a file of its medium, skipped when a complete decoding is there; a group
    of images of one size and model through the synthesis together."""

    def __init__(self, suffix: str | None, weights, force: bool, sample_rate: int | None, max_memory,
                 clashes: dict[str, str] | None = None) -> None:
        self.suffix, self.weights, self.force = suffix, weights, force
        self.sample_rate, self.max_memory, self.clashes = sample_rate, max_memory, clashes or {}

    def output(self, pair: tuple[str, str]) -> tuple[str, str]:
        """``(input, output)`` with the output's suffix from the file's medium."""

        kind = read_media_type(pair[0])
        output = Path(pair[1] + (self.suffix or DECODED_SUFFIX[kind]))
        if kind == "video" and output.suffix.lower() != ".y4m":
            raise InputError("decoding a folder writes video as .y4m")
        return pair[0], str(output)

    def check(self, pair: tuple[str, str]) -> FileResult | None:
        """The item's result if it needs no decoding (complete: skipped; not ours, unreadable: failed); None to decode it."""
        try:
            pair = self.output(pair)
            if pair[0] in self.clashes:
                raise InputError(f"{self.clashes[pair[0]]} decodes to the same output {pair[1]}; rename one of them")
            replace = _present(Path(pair[1]), lambda: decoded_state(Path(pair[1]), Path(pair[0]), self.sample_rate),
                               self.force, pair)
            return replace if isinstance(replace, FileResult) else None
        except (OmnicodecError, OSError) as exc:
            return _failed(pair, exc)

    def one(self, pair: tuple[str, str], device: str) -> FileResult:

        try:
            pair = self.output(pair)
            decompress_file(pair[0], pair[1], self.weights, device=device, sample_rate=self.sample_rate,
                            overwrite=self.force, max_memory=self.max_memory)
            return FileResult(*pair, "done", bytes_in=Path(pair[0]).stat().st_size, bytes_out=Path(pair[1]).stat().st_size)
        except (OmnicodecError, OSError) as exc:
            return _failed(pair, exc)

    def __call__(self, group: list[tuple[str, str]], device: str) -> list[FileResult]:
        def batched(items) -> list[FileResult]:

            pairs = [self.output(item) for item in items]
            decompress_images([p[0] for p in pairs], [p[1] for p in pairs], self.weights, device,
                              overwrite=self.force, max_memory=self.max_memory)
            return [FileResult(*p, "done", bytes_in=Path(p[0]).stat().st_size, bytes_out=Path(p[1]).stat().st_size)
                    for p in pairs]

        return _together(self.check, lambda item: self.one(item, device), batched, group)


def _coded_image(path: str) -> tuple | None:
    """What files decoded together share (model, size, quality), from an image file's header; None otherwise."""
    from ..coding.container import ContainerReader

    try:
        with ContainerReader(path) as reader:
            header = reader.header
        media = header["media"]
        if media.get("type") != "image":
            return None
        return header["codec"], header.get("weights"), media["height"], media["width"], header.get("quality")
    except (OmnicodecError, OSError, KeyError, TypeError, AttributeError):
        return None


def decompress_folder(src, dst, suffix: str | None = None, weights=None, force: bool = False,
                      sample_rate: int | None = None, max_memory=None, engine: Engine | None = None,
                      batch_size: int = 1) -> Summary:
    """Decode every ``.omc`` below ``src`` to ``dst`` (same layout; by default ``.png`` for images,
    ``.y4m`` for video, ``.wav`` for speech, from each file's header). ``batch_size`` > 1 decodes up to that
    many images of one size and model together (see :func:`~omnicodec.api.decompress_images`)."""
    src, dst = Path(src), Path(dst)
    if suffix is not None:
        if not re.fullmatch(r"\.?[A-Za-z0-9]{1,16}", suffix):  # a name's ending, never a path
            raise InputError(f"the suffix must be a file extension such as .png, got {suffix!r}")
        suffix = suffix if suffix.startswith(".") else "." + suffix
    if sample_rate is not None and sample_rate <= 0:
        raise InputError(f"the sample rate must be positive, got {sample_rate}")
    pairs, taken, clashes = [], {}, {}
    for path in _files(src, dst, {".omc"}, max_memory):
        stem = str(dst / path.relative_to(src).with_suffix(""))  # a.omc and a.OMC: one stem, so one output
        if stem in taken:
            clashes[str(path)] = taken[stem]  # a second input for one output fails
        taken.setdefault(stem, str(path))
        pairs.append((str(path), stem))
    groups = _groups(pairs, lambda pair: _coded_image(pair[0]), batch_size)
    return _run(_Decompress(suffix, weights, force, sample_rate or None, max_memory, clashes), groups, engine)
