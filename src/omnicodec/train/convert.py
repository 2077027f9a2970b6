"""Start a new model from trained weights of another kind, as exported weights that ``--init`` takes.

    python -m omnicodec.train.convert to-variable W.json OUT_DIR [--lambdas 0.0018,...,0.18]
    python -m omnicodec.train.convert image-to-video W.json OUT_DIR [--intra-period 8] [--prior-kernel 3] [--inter-prior P]
    python -m omnicodec.train.convert add-context W.json OUT_DIR [--context checkerboard]
    python -m omnicodec.train.convert widen W.json OUT_DIR --latent-channels 192

- ``to-variable``: a fixed-rate image model trained at one λ becomes a variable-rate one with a
  level per λ of the grid (CompressAI's MSE grid by default). Its networks are kept; each level's
  gain starts at ``sqrt(λ_level / λ_trained)`` on every channel (the step size that halves the
  distortion when λ doubles, at high rate), so the trained level codes exactly as before and the
  others start close to where training will take them.
- ``image-to-video``: a ``video/stem`` codec whose frame transforms, gains and intra codec are the
  image model's (:meth:`~omnicodec.codecs.video.stem.STEMVideoCodec.from_image`); only the temporal
  part must learn (``python -m omnicodec.train.video_prior`` trains it on cached latents,
  ``configs/video/stem-from-image.yaml`` in the whole codec). From an image model with a
  context, the P-frames' codec starts as a copy of the intra codec (``--inter-prior
  residual-checkerboard``, the default there) that ignores the previous frame until trained.
- ``add-context``: an image model without a context gains one (``context: checkerboard``); every
  network is kept and the context's corrections start at zero, so it codes exactly as before until
  ``python -m omnicodec.train.image_prior`` trains the context.
- ``widen``: an image/hyperprior model's latent gains channels (``M``), which lifts the cap the
  latent's width puts on the highest qualities; it codes as before until trained (see :mod:`.widen`).

All four write float32 weights (tables frozen) named after the source, for ``omnicodec train --init``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..codecs import Codec, create_codec
from ..codecs.image.hyperprior import CONTEXTS
from ..errors import OmnicodecError, WeightsError
from .losses import COMPRESSAI_MSE_LAMBDAS
from .widen import widen_latent

DEFAULT_LAMBDAS = [COMPRESSAI_MSE_LAMBDAS[q] for q in sorted(COMPRESSAI_MSE_LAMBDAS)]


def to_variable(codec: Codec, trained_lambda: float, lambdas: list[float] = DEFAULT_LAMBDAS) -> Codec:
    """A variable-rate copy of a fixed-rate ``codec`` trained at ``trained_lambda``."""
    if codec.quality_range is not None:
        raise WeightsError(f"{codec.codec_id} is already variable-rate")
    if len(lambdas) < 2 or min(lambdas) <= 0 or not trained_lambda > 0:
        raise WeightsError("give at least two positive lambdas and the positive lambda the model was trained at")
    nearest = min(range(len(lambdas)), key=lambda i: abs(math.log(lambdas[i] / trained_lambda)))
    config = {**codec.config(), "levels": len(lambdas), "default_quality": nearest + 1}
    variable = create_codec(codec.codec_id, config)
    missing, unexpected = variable.load_state_dict(codec.state_dict(), strict=False)
    if unexpected or any(not k.startswith("gains.") for k in missing):
        raise WeightsError(f"{codec.codec_id} cannot take gain units (missing {missing[:3]}, unexpected {unexpected[:3]})")
    variable.gains.set_level_scales([math.sqrt(lam / trained_lambda) for lam in lambdas])
    return variable


def add_context(codec: Codec, context: str = "checkerboard") -> Codec:
    """A copy of an ``image/hyperprior`` ``codec`` without a context, with ``context`` (untrained: it
    codes exactly as ``codec``)."""
    if codec.codec_id != "image/hyperprior" or codec.config().get("context", "none") != "none":
        raise WeightsError(f"{codec.codec_id} {codec.config()} is not an image/hyperprior model without a context")
    out = create_codec(codec.codec_id, {**codec.config(), "context": context})
    missing, unexpected = out.load_state_dict(codec.state_dict(), strict=False)
    if unexpected or any(not k.startswith("latent.y_codec.") for k in missing):
        raise WeightsError(f"cannot add a context (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return out


def _kept(entry: dict, keys: tuple[str, ...]) -> dict:
    """What a converted model's entry keeps of its source's: ``keys`` it has, and the source's sha256."""
    return {**{key: entry[key] for key in keys if entry.get(key) is not None}, "converted_from": entry["sha256"]}


def main(argv: list[str] | None = None) -> int:
    from ..codecs.video.stem import INTER_PRIORS, STEMVideoCodec
    from ..zoo import load_file_entry, read_entry, save_weights

    parser = argparse.ArgumentParser(prog="python -m omnicodec.train.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("to-variable", help="a fixed-rate image model becomes variable-rate")
    p.add_argument("weights", help="exported weights (.json) of a fixed-rate image model")
    p.add_argument("out", help="output folder")
    p.add_argument("--lambdas", help="comma-separated λ per level (default: CompressAI's MSE grid, 8 levels)")
    p.add_argument("--trained-lambda", type=float, help="λ the model was trained at (default: its entry's lambda)")
    p = sub.add_parser("image-to-video", help="a video/stem codec on an image model's transforms")
    p.add_argument("weights", help="exported weights (.json) of an image/hyperprior model")
    p.add_argument("out", help="output folder")
    p.add_argument("--intra-period", type=int, default=8, help="an intra frame every N frames (default 8)")
    p.add_argument("--prior-kernel", type=int, default=3, help="the temporal prior's convolutions: 3 (default) or 5")
    p.add_argument("--inter-prior", choices=INTER_PRIORS, help="the P-frames' checkerboard (default: "
                   "residual-checkerboard from an image model with a context, else checkerboard)")
    p = sub.add_parser("add-context", help="an image model without a context gains one")
    p.add_argument("weights", help="exported weights (.json) of an image/hyperprior model")
    p.add_argument("out", help="output folder")
    p.add_argument("--context", default="checkerboard", choices=[c for c in CONTEXTS if c != "none"],
                   help="the context to add (default checkerboard)")
    p = sub.add_parser("widen", help="an image/hyperprior model's latent gains channels")
    p.add_argument("weights", help="exported weights (.json) of an image/hyperprior model")
    p.add_argument("out", help="output folder")
    p.add_argument("--latent-channels", type=int, required=True, help="the latent's new width M (more than now)")
    for p in sub.choices.values():
        p.add_argument("--force", action="store_true", help="overwrite existing weights of the same name")
    args = parser.parse_args(argv)
    try:
        entry = read_entry(args.weights)
        codec = load_file_entry(args.weights).codec
        stem = Path(args.weights).stem
        if args.command == "to-variable":
            trained = args.trained_lambda or entry.get("lambda")
            if trained is None:
                raise WeightsError(f"{args.weights} does not say its lambda; pass --trained-lambda")
            lambdas = [float(v) for v in args.lambdas.split(",")] if args.lambdas else DEFAULT_LAMBDAS
            out = to_variable(codec, float(trained), lambdas)
            extra = {"lambda_levels": lambdas, "converted_from": entry["sha256"]}
            name = f"{stem}-variable"
        elif args.command == "add-context":
            out = add_context(codec, args.context)
            extra = _kept(entry, ("lambda", "lambda_levels", "training"))
            name = f"{stem}-{args.context}"
        elif args.command == "widen":
            out = widen_latent(codec, args.latent_channels)
            extra = _kept(entry, ("lambda", "lambda_levels", "training"))
            name = f"{stem}-m{args.latent_channels}"
        else:
            out = STEMVideoCodec.from_image(codec, intra_period=args.intra_period, prior_kernel=args.prior_kernel,
                                            inter_prior=args.inter_prior)
            extra = _kept(entry, ("lambda", "lambda_levels"))
            name = f"video-stem-from-{stem}"
        quality = out.default_quality if out.gains is not None else entry.get("quality", 1)
        path = save_weights(out, args.out, name, quality, "float32",
                            extra, overwrite=args.force)
    except (OmnicodecError, ValueError) as exc:
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} (and {path.with_suffix('.safetensors').name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
