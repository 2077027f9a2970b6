"""The ``omnicodec`` command line.

Errors a user can cause print one line (``omnicodec: error: ...``) and exit with status 2;
nothing is overwritten without ``--force`` and no partial output is left behind.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from .constants import SPEECH_RATE
from .errors import InputError, OmnicodecError, OutputExistsError

EXIT_USAGE = 2


def _engine(args: argparse.Namespace):
    """The batch engine the command's ``--accelerator``, ``--devices``, ``--num-nodes`` and ``--strategy`` ask for."""
    from .batch import Engine

    devices = args.devices or "1"
    nodes = 1 if args.num_nodes is None else args.num_nodes
    return Engine(args.accelerator or "cpu", int(devices) if devices.isdigit() else devices, nodes,
                  args.strategy or "auto", progress=True)


def _folder_device(args: argparse.Namespace) -> None:
    if args.device != "cpu":
        raise InputError("--device applies to one file; a folder runs on --accelerator and --devices")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be a positive number, got {args.batch_size}")


def _no_batch(args: argparse.Namespace) -> None:
    if args.batch_size is not None:
        raise InputError("--batch-size applies to a folder; one file is coded alone")


def _report(summary, engine) -> int:
    """Print a folder run's failures and summary (once, on the first rank); status 2 if any file failed."""
    if not engine.is_global_zero:
        return 0
    for failure in summary.failures:
        print(f"omnicodec: failed: {failure.input}: {failure.message}", file=sys.stderr)
    print(summary.line())
    return EXIT_USAGE if summary.failures else 0


def _cmd_compress(args: argparse.Namespace) -> int | None:
    from .api import compress_file

    if Path(args.input).is_dir() and Path(args.output).suffix.lower() != ".omc":  # else: a video of PNG frames
        from .batch import compress_folder

        if args.bpp is not None:
            raise InputError("a size target (--bpp) applies to one file; give --quality for a folder")
        _folder_device(args)
        engine = _engine(args)
        summary = compress_folder(args.input, args.output, args.codec, args.quality, args.weights, args.force,
                                  args.max_memory, engine, args.batch_size or 1, args.period)
        return _report(summary, engine)
    _no_batch(args)

    result = compress_file(
        args.input, args.output, args.codec, args.quality, args.weights, args.force, args.device, progress=True,
        bpp=args.bpp, max_memory=args.max_memory, intra_period=args.period,
    )
    print(result.summary())


def _cmd_decompress(args: argparse.Namespace) -> int | None:
    from .api import decompress_file

    if Path(args.input).is_dir():
        from .batch import decompress_folder

        _folder_device(args)
        engine = _engine(args)
        summary = decompress_folder(args.input, args.output, args.suffix, args.weights, args.force,
                                    args.sample_rate, args.max_memory, engine, args.batch_size or 1)
        return _report(summary, engine)
    _no_batch(args)
    if args.suffix is not None:
        raise InputError("--suffix applies to a folder; name the output file instead")

    result = decompress_file(
        args.input, args.output, args.weights, args.force, args.device, progress=True, sample_rate=args.sample_rate,
        max_memory=args.max_memory,
    )
    print(result.summary())


def _cmd_info(args: argparse.Namespace) -> None:
    from .api import read_header

    parsed = read_header(args.file)
    size = Path(args.file).stat().st_size
    print(json.dumps(parsed.header, indent=2, sort_keys=True))
    # a name is the file's to choose: shown escaped unless printable, so it cannot forge a line or move the cursor
    sizes = {name if str(name).isprintable() else ascii(name): len(data) for name, data in parsed.chunks.items()}
    if len(sizes) <= 8:
        chunks = ", ".join(f"{name}: {n:,} bytes" for name, n in sizes.items()) or "none"
    else:
        chunks = f"{len(sizes)} chunks of {min(sizes.values()):,} to {max(sizes.values()):,} bytes"
    print(f"file: {size:,} bytes; chunks: {chunks}")
    media = parsed.header.get("media", {})
    try:
        if media.get("type") == "image":
            print(f"bpp (whole file): {8 * size / (int(media['height']) * int(media['width'])):.4f}")
        elif media.get("type") == "video":
            frames = sum(name.startswith("frame-") for name in sizes)
            print(f"{frames} frames; bpp (whole file): {8 * size / (frames * int(media['height']) * int(media['width'])):.4f}")
        elif media.get("type") == "speech" and "end" in parsed.chunks:
            seconds = int.from_bytes(parsed.chunks["end"], "little") / SPEECH_RATE
            rate = f"kbit/s (whole file): {8 * size / seconds / 1000:.2f}" if seconds else "no samples, no bit rate"
            print(f"{seconds:.2f} s of audio; {rate}")
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError, ZeroDivisionError):
        pass  # a header this loose was checked by nothing else; print what we could


def _cmd_list(args: argparse.Namespace) -> None:
    from . import zoo
    from .codecs import available_codecs

    entries = zoo.shipped_entries()
    print("codecs:")
    for codec_id in available_codecs():
        shipped = [e for e in entries if e["codec_id"] == codec_id]
        qualities = ", ".join(zoo.quality_label(e) for e in shipped) or "none shipped"
        print(f"  {codec_id:24s} qualities: {qualities}")
    print("shipped weights:")
    for e in entries:
        measured, name, levels = "not measured", "", []
        for dataset, m in e.get("measured", {}).items():  # the first complete measurement
            if isinstance(m, dict) and _point(m) is not None:
                name = {"kodak": "Kodak", "vctk": "VCTK"}.get(dataset, dataset)
                measured, levels = f"{name} {_point(m)}", m.get("levels", [])
                break
        default = " (default)" if e.get("default") else ""
        label = f"q{zoo.quality_label(e)}" + (f", default q{e['quality']:g}" if e.get("quality_range") else "")
        print(f"  {e['codec_id']} {label}{default}: {e['parameters']:,} parameters, {measured}, sha256 {e['sha256'][:16]}")
        for level in levels:  # a variable-rate entry: its measured curve, level by level
            print(f"      q{level['quality']:g}: {name} {_point(level)}")


def _point(m: dict) -> str | None:
    """One measured point as text: bpp / PSNR for images and video, kbit/s / PESQ-WB / STOI for speech."""
    if "bpp" in m and "psnr_rgb" in m:
        return f"{m['bpp']:.3f} bpp / {m['psnr_rgb']:.2f} dB"
    if "kbps" in m and "pesq_wb" in m and "stoi" in m:
        return f"{m['kbps']:.2f} kbit/s / PESQ-WB {m['pesq_wb']:.2f} / STOI {m['stoi']:.3f}"
    return None


def _cmd_export(args: argparse.Namespace) -> None:
    from .train.export import export_checkpoint

    extra = {"default": True} if args.default else None
    entry = export_checkpoint(args.checkpoint, args.out, args.name, args.quality, args.dtype, args.force, extra)
    print(f"exported {entry} (and {Path(entry).with_suffix('.safetensors').name})")


def _is_number(text: str) -> bool:
    try:
        return float(text) == float(text) and abs(float(text)) != float("inf")
    except ValueError:
        return False


def parse_qualities(text: str | None) -> list | None:
    """``"1-6"``, ``"10,20,40"`` or a mix; non-numeric entries (Codec2 modes) are kept as text."""
    if not text:
        return None
    out: list = []
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            out += list(range(int(lo), int(hi) + 1))
        elif part.lstrip("-").isdigit():
            out.append(int(part))
        elif _is_number(part):
            out.append(float(part))
        elif part:
            out.append(part)
    return out


def _load_anchors(paths: list[str] | None):
    from .eval.results import RDResults, load_folder

    anchors = []
    for p in paths or []:
        anchors += load_folder(p) if Path(p).is_dir() else [RDResults.load(p)]
    return anchors


def _cmd_eval(args: argparse.Namespace) -> None:
    from .datasets import verify_sha256
    from .eval.report import bdrate_table, format_bdrate_table, write_report
    from .eval.runner import aggregate, collect_rows

    if args.verify:
        print(f"sha256: {verify_sha256(args.dataset)} files verified")
    anchors = _load_anchors(args.anchors)
    engine = None
    if any(v is not None for v in (args.accelerator, args.devices, args.num_nodes, args.strategy)):
        engine = _engine(args)
        engine.progress = not args.quiet
    rows, media, description = collect_rows(
        args.name, args.dataset, parse_qualities(args.qualities), args.jobs, args.limit, args.max_frames,
        progress=not args.quiet, weights=args.weights, mapper=engine.map if engine is not None else None,
    )
    if engine is not None and not engine.is_global_zero:
        return
    # an exported model's results are named after its weights file, not over the shipped model's
    results = aggregate(Path(args.weights).stem if args.weights else args.name, description, rows)
    metric = args.metric or {"image": "psnr-rgb", "video": "psnr-rgb", "speech": "pesq-wb"}[media]
    paths = write_report(results, rows, args.output, anchors, metric, args.method)
    columns = ("quality", "bpp", "bpp-est", "kbps", "psnr-rgb", "ms-ssim-rgb", "pesq-wb", "stoi", "visqol")
    keys = [k for k in columns if k in results.results]
    print("  ".join(f"{k:>11s}" for k in keys))
    for i in range(results.num_points):
        print("  ".join(f"{results.results[k][i]:11.4f}" for k in keys))
    if anchors and metric in results.results:
        rate = "bpp" if "bpp" in results.results else "kbps"
        print(format_bdrate_table(results.name, bdrate_table(results, anchors, metric, rate, args.method), metric, args.method))
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _cmd_bdrate(args: argparse.Namespace) -> None:
    from .eval.bdrate import bd_psnr, bd_rate, falls_with_rate
    from .eval.results import RDResults

    test, anchor = RDResults.load(args.test), RDResults.load(args.anchor)
    rate = args.rate or ("bpp" if "bpp" in test.results else "kbps")
    if rate == args.metric:
        raise InputError(f"the rate and the quality metric are both {rate!r}; choose another --rate or --metric")
    r_t, q_t = test.curve(args.metric, rate)
    r_a, q_a = anchor.curve(args.metric, rate)
    pct = bd_rate(r_a, q_a, r_t, q_t, args.method)
    delta = bd_psnr(r_a, q_a, r_t, q_t, args.method)
    print(f"test:   {test.name} ({len(r_t)} points)  anchor: {anchor.name} ({len(r_a)} points)")
    for results, used in ((test, r_t), (anchor, r_a)):
        if used and len(used) < results.num_points:  # NaN: a metric that could not be measured there
            print(f"note: {results.name}: {results.num_points - len(used)} of {results.num_points} points have no "
                  f"finite {rate} or {args.metric} and are left out")
    for results, (r, q) in ((test, (r_t, q_t)), (anchor, (r_a, q_a))):
        if falls := falls_with_rate(r, q):
            print(f"note: {results.name}: {args.metric} falls as {rate} rises at {falls} of {len(r) - 1} steps; "
                  "BD figures assume a curve that rises")
    print(f"BD-rate {pct:+.3f} % at equal {args.metric} ({args.method}); BD-{args.metric} {delta:+.4f}")
    name = args.metric.removesuffix("-rgb").removesuffix("-wb").replace("-", "_")  # psnr-rgb: psnr_pct, as always
    print(f"bdrate: {name}_pct={pct:.4f}")


def _engine_options(p, default: str) -> None:
    """Where a folder or dataset runs: Lightning's Trainer arguments."""
    p.add_argument("--accelerator", help=f"cpu, gpu, cuda, mps or auto ({default}; default: cpu)")
    p.add_argument("--devices", help="devices per node: a number, a list such as 0,1, or auto (default: 1)")
    p.add_argument("--num-nodes", type=int, help="machines the run spans, e.g. under SLURM or torchrun (default: 1)")
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp for several devices (default: auto)")


def _output_options(p) -> None:
    """The options compress and decompress share."""
    p.add_argument("--force", action="store_true", help="overwrite an existing output (a folder: recode every file)")
    p.add_argument("--device", default="cpu", help="one file: cpu, cuda, cuda:N or mps (default: cpu); "
                   "a folder runs on --accelerator and --devices")
    _engine_options(p, "a folder")
    p.add_argument("--batch-size", type=int, metavar="N", help="a folder: code up to N images of one size together "
                   "(their transforms as one batch: faster on a GPU; default: 1, each alone)")
    p.add_argument("--max-memory", metavar="SIZE", help="refuse sizes whose estimated peak memory exceeds SIZE, "
                   "e.g. 1500M or 2G (default: what the machine has available)")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error (``omnicodec: error: ...``), status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"omnicodec: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="omnicodec", description="Learned compression with real bitstreams.")
    parser.add_argument("--version", action="version", version=f"omnicodec {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do; omnicodec COMMAND --help lists its options")

    p = sub.add_parser("compress", help="compress an image, a speech recording or a video into an omnicodec file")
    p.add_argument("input", help="a folder (with an output folder: every file below it), or an image (anything "
                   "Pillow opens); video: .y4m, a folder of PNG frames (with an output NAME.omc), .mp4 (ffmpeg); "
                   "speech: .wav, .flac, .ogg")
    p.add_argument("output", help="compressed file to write (e.g. photo.omc), or the output folder")
    p.add_argument("--codec", help="codec id (default: the shipped default for the media)")
    p.add_argument("--quality", type=float,
                   help="quality: a level, or any real number in a variable-rate model's range, e.g. 4.5 "
                        "(default: the model's default)")
    p.add_argument("--bpp", type=float,
                   help="size target in bits per pixel (images): the highest quality whose file fits; "
                        "instead of --quality")
    p.add_argument("--intra-period", type=int, metavar="N", dest="period",
                   help="video: an intra frame every N frames (default: the model's, 32 for the shipped one); "
                        "shorter periods seek faster and cost rate")
    p.add_argument("--weights", help="exported weights (.json or .safetensors) instead of shipped ones")
    _output_options(p)
    p.set_defaults(func=_cmd_compress)

    p = sub.add_parser("decompress", help="decode an omnicodec file")
    p.add_argument("input", help="omnicodec file, or a folder of them (decoded into the output folder)")
    p.add_argument("output", help="image: .png, .bmp, .tif, .ppm, .webp (lossless); video: .y4m, .mp4 or a folder name; "
                   "speech: .wav, .flac, .ogg")
    p.add_argument("--weights", help="exported weights, if the file was not written with shipped ones")
    p.add_argument("--sample-rate", type=int, help=f"speech: output sample rate (default {SPEECH_RATE})")
    p.add_argument("--suffix", help="a folder: the decoded files' suffix, e.g. .png (default: .png for images, "
                   ".y4m for video, .wav for speech)")
    _output_options(p)
    p.set_defaults(func=_cmd_decompress)

    p = sub.add_parser("info", help="print the header of an omnicodec file")
    p.add_argument("file", help="omnicodec file to inspect (nothing is decoded)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("list", help="list codecs and shipped qualities")
    p.set_defaults(func=_cmd_list)

    sub.add_parser(
        "train", add_help=False,
        help="train a codec from a config: omnicodec train --config configs/... (options: omnicodec train --help)",
    )

    p = sub.add_parser("eval", help="measure a codec or a classical baseline on a dataset folder")
    p.add_argument("name", help="codec id (e.g. image/hyperprior) or baseline: jpeg, webp, avif, jxl, opus, codec2, x264, x265")
    p.add_argument("dataset", help="folder of images / speech files / video sequences (local; nothing is downloaded)")
    p.add_argument("-o", "--output", default="results", help="output folder (default: results)")
    p.add_argument("--qualities", help="e.g. 1-6 or 10,20,40 (default: every shipped quality or baseline setting)")
    p.add_argument("--weights", help="exported weights (.json) of codec NAME to measure instead of shipped ones; "
                   "results are named after the file")
    p.add_argument("--anchors", nargs="*", help="results JSON files or folders to plot and BD-rate against")
    p.add_argument("--metric", help="quality metric for plots and BD-rate (default psnr-rgb, pesq-wb for speech; "
                   "also ms-ssim-rgb, stoi, visqol)")
    p.add_argument("--method", choices=["pchip", "cubic"], default="pchip",
                   help="curve interpolation for BD-rate (default: pchip)")
    p.add_argument("--jobs", type=int, default=1, help="parallel processes for baselines (without the engine options)")
    _engine_options(p, "the items")
    p.add_argument("--limit", type=int, help="only the first N items")
    p.add_argument("--max-frames", type=int, help="only the first N frames of each video sequence")
    p.add_argument("--verify", action="store_true", help="check the folder's SHA256SUMS first")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("bdrate", help="Bjøntegaard delta of TEST against ANCHOR (CompressAI results JSON)")
    p.add_argument("test", help="results JSON of the codec under test")
    p.add_argument("anchor", help="results JSON of the anchor it is compared with")
    p.add_argument("--metric", default="psnr-rgb",
                   help="quality key in both files: psnr-rgb (default), ms-ssim-rgb, pesq-wb, stoi, visqol")
    p.add_argument("--rate", help="rate key (default bpp, or kbps)")
    p.add_argument("--method", choices=["pchip", "cubic"], default="pchip",
                   help="curve interpolation (default: pchip)")
    p.set_defaults(func=_cmd_bdrate)

    p = sub.add_parser("export", help="freeze a training checkpoint into zoo weights")
    p.add_argument("checkpoint", help="Lightning checkpoint (.ckpt) written by omnicodec train")
    p.add_argument("out", help="output folder (created if missing)")
    p.add_argument("--name", help="file stem (default: codec id and quality)")
    p.add_argument("--quality", type=float, default=1,
                   help="quality level recorded in the weights of a fixed-rate model (default 1; a variable-rate "
                        "model records its own range and default)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                   help="precision of the stored weights (default: float16, half the size)")
    p.add_argument("--default", action="store_true", help="mark as the default model of its media")
    p.add_argument("--force", action="store_true", help="overwrite existing weights files of the same name")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # LightningCLI parses its own arguments
        from .train.cli import main as train_main

        try:
            train_main(argv[1:])
        except OmnicodecError as exc:
            _error(exc)
            return EXIT_USAGE
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = _stop_on_sigterm()
    try:
        status = args.func(args)
    except OutputExistsError as exc:
        message = f"{exc.path} exists; use --force to overwrite it" if exc.path is not None else str(exc)
        _error(message)
        return EXIT_USAGE
    except OmnicodecError as exc:
        _error(exc)
        return EXIT_USAGE
    except OSError as exc:  # a missing or unwritable path, a full disk: what the system said, about which file
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return EXIT_USAGE
    except Terminated:
        print("omnicodec: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("omnicodec: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return status or 0


MAX_ERROR_CHARS = 500


def _error(message) -> None:
    """One line on stderr, whatever the message holds (a library's multi-line text is joined, a very
    long one cut, control characters dropped)."""
    text = " ".join(str(message).split())
    text = "".join(c for c in text if c.isprintable())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    print(f"omnicodec: error: {text}", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``docker stop``, a batch scheduler), raised where the work is, so that what was
    being written is removed exactly as on Ctrl-C."""


def _stop_on_sigterm():
    """Turn SIGTERM into :class:`Terminated` for the command's duration; the handler it replaced (None
    where handlers cannot be set: not the main thread)."""

    def stop(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:
        return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
