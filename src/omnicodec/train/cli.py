"""``omnicodec train``: a LightningCLI over any training module and data module.

    omnicodec train --config configs/image/hyperprior-small.yaml [--trainer.max_steps 1000]
    omnicodec train --config ... --resume runs/x/checkpoints/last.ckpt      # continue exactly
    omnicodec train --config ... --init runs/x/checkpoints/last.ckpt        # new run from its weights
    omnicodec train --config ... --init src/omnicodec/zoo/weights/image-hyperprior-q3.json  # from shipped weights
    omnicodec train --config ... --trainer.strategy ddp --trainer.devices 2 # Lightning's DDP

Configs under ``configs/`` name a ``model`` (``LitCodec`` or ``LitDistill``) and a ``data``
module by class path, and the trainer's loggers (CSV, TensorBoard) and callbacks (periodic
checkpoints, real-bitrate validation).
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
from lightning.pytorch.cli import LightningCLI

from .run import init_from


class OmnicodecCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--resume", default=None, help="checkpoint of this run to continue exactly")
        parser.add_argument(
            "--init", default=None, help="checkpoint (.ckpt) or exported weights (.json) whose weights start a new run"
        )
        parser.add_argument(
            "--init_strict", type=bool, default=True,
            help="with --init: refuse weights that lack some of the model's tensors (false: keep those as initialised)",
        )


def main(args: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    torch.set_float32_matmul_precision("high")
    cli = OmnicodecCLI(
        L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True, run=False,
        args=args, save_config_kwargs={"overwrite": True},
    )
    resume, init = cli.config.get("resume"), cli.config.get("init")
    if resume and init:
        raise SystemExit("omnicodec: error: use --resume (continue a run) or --init (start from its weights), not both")
    if init:
        missing = init_from(cli.model, init, skip_prefixes=("teacher.",), strict=cli.config.get("init_strict", True))
        if missing:
            print(f"omnicodec: {init} did not provide {len(missing)} tensors; they start as initialised: "
                  + ", ".join(missing[:8]) + (" …" if len(missing) > 8 else ""), flush=True)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=resume)
