"""The ``omnicodec`` command line.

Errors a user can cause print one line (``omnicodec: error: ...``) and exit with status 2;
nothing is overwritten without ``--force`` and no partial output is left behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .errors import OmnicodecError

EXIT_USAGE = 2


def _cmd_compress(args: argparse.Namespace) -> None:
    from .api import compress_file

    result = compress_file(args.input, args.output, args.codec, args.quality, args.weights, args.force, args.device)
    print(result.summary())


def _cmd_decompress(args: argparse.Namespace) -> None:
    from .api import decompress_file

    result = decompress_file(args.input, args.output, args.weights, args.force, args.device)
    print(result.summary())


def _cmd_info(args: argparse.Namespace) -> None:
    from .api import read_header

    parsed = read_header(args.file)
    size = Path(args.file).stat().st_size
    print(json.dumps(parsed.header, indent=2, sort_keys=True))
    chunks = ", ".join(f"{name}: {len(data):,} bytes" for name, data in parsed.chunks.items())
    print(f"file: {size:,} bytes; chunks: {chunks or 'none'}")
    media = parsed.header.get("media", {})
    if isinstance(media, dict) and media.get("type") == "image":
        try:
            print(f"bpp (whole file): {8 * size / (int(media['height']) * int(media['width'])):.4f}")
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            pass


def _cmd_list(args: argparse.Namespace) -> None:
    from . import zoo
    from .codecs import available_codecs

    entries = zoo.shipped_entries()
    print("codecs:")
    for codec_id in available_codecs():
        shipped = [e for e in entries if e["codec_id"] == codec_id]
        qualities = ", ".join(str(e["quality"]) for e in shipped) or "none shipped"
        print(f"  {codec_id:24s} qualities: {qualities}")
    print("shipped weights:")
    for e in entries:
        kodak = e.get("measured", {}).get("kodak", {})
        measured = f"Kodak {kodak['bpp']:.3f} bpp / {kodak['psnr_rgb']:.2f} dB" if kodak else "not measured"
        default = " (default)" if e.get("default") else ""
        print(f"  {e['codec_id']} q{e['quality']}{default}: {e['parameters']:,} parameters, {measured}, sha256 {e['sha256'][:16]}")


def _cmd_train(args: argparse.Namespace) -> None:
    from .train.run import train_image_codec

    config = json.loads(args.config) if args.config else None
    last = train_image_codec(
        args.data, args.out, codec_id=args.codec, codec_config=config, lmbda=args.lmbda, steps=args.steps,
        batch_size=args.batch_size, crop=args.crop, lr=args.lr, warmup_steps=args.warmup, val_dir=args.val,
        checkpoint_every=args.checkpoint_every, resume=args.resume, init=args.init, precision=args.precision,
        accelerator=args.accelerator,
        num_workers=args.workers, seed=args.seed,
    )
    print(f"training finished; last checkpoint: {last}")


def _cmd_export(args: argparse.Namespace) -> None:
    from .train.export import export_checkpoint

    extra = {"default": True} if args.default else None
    entry = export_checkpoint(args.checkpoint, args.out, args.name, args.quality, args.dtype, args.force, extra)
    print(f"exported {entry} (and {Path(entry).with_suffix('.safetensors').name})")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="omnicodec", description="Learned compression of images with real bitstreams.")
    parser.add_argument("--version", action="version", version=f"omnicodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compress", help="compress an image into an omnicodec file")
    p.add_argument("input", help="image file (anything Pillow opens)")
    p.add_argument("output", help="compressed file to write (e.g. photo.omc)")
    p.add_argument("--codec", help="codec id (default: the shipped default for the media)")
    p.add_argument("--quality", type=int, help="shipped quality level (default: the codec's default)")
    p.add_argument("--weights", help="exported weights (.json or .safetensors) instead of shipped ones")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.set_defaults(func=_cmd_compress)

    p = sub.add_parser("decompress", help="decode an omnicodec file")
    p.add_argument("input", help="omnicodec file")
    p.add_argument("output", help="decoded file (.png, .bmp, .tif, .ppm or .webp, lossless)")
    p.add_argument("--weights", help="exported weights, if the file was not written with shipped ones")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.set_defaults(func=_cmd_decompress)

    p = sub.add_parser("info", help="print the header of an omnicodec file")
    p.add_argument("file")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("list", help="list codecs and shipped qualities")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("train", help="train an image codec on folders of images")
    p.add_argument("data", nargs="+", help="folders of training images")
    p.add_argument("--out", required=True, help="run folder (checkpoints and logs)")
    p.add_argument("--codec", default="image/hyperprior")
    p.add_argument("--config", help='codec config as JSON, e.g. \'{"N": 96, "M": 128}\'')
    p.add_argument("--lmbda", type=float, default=0.013, help="R + lambda*255^2*MSE (default 0.013)")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=0, help="linear warm-up steps before cosine decay")
    p.add_argument("--val", help="folder of validation images (full size)")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--resume", help="checkpoint to resume from (same run: step, optimizers, schedule)")
    p.add_argument("--init", help="checkpoint whose codec weights start a new run")
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed (default 32-true)")
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("export", help="freeze a training checkpoint into zoo weights")
    p.add_argument("checkpoint")
    p.add_argument("out", help="output folder")
    p.add_argument("--name", help="file stem (default: codec id and quality)")
    p.add_argument("--quality", type=int, required=True)
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    p.add_argument("--default", action="store_true", help="mark as the default model of its media")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    # compressai's GDN module calls torch.jit.script, which newer torch flags as deprecated;
    # that notice says nothing to a user of this command
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except OmnicodecError as exc:
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("omnicodec: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
