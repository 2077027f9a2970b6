"""``omnicodec train``: a LightningCLI over any training module and data module.

    omnicodec train --config configs/image/hyperprior-small.yaml [--trainer.max_steps 1000]
    omnicodec train --config ... --resume runs/x/checkpoints/last.ckpt      # continue exactly
    omnicodec train --config ... --init runs/x/checkpoints/last.ckpt        # new run from its weights
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
        parser.add_argument("--init", default=None, help="checkpoint whose weights start a new run")


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
        init_from(cli.model, init, skip_prefixes=("teacher.",))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=resume)
