"""``omnicodec train``: a LightningCLI over any training module and data module.

    omnicodec train --config configs/image/hyperprior-small.yaml [--trainer.max_steps 1000]
    omnicodec train --config ... --data.train_dirs '[my/photos, more/photos]'  # your own data
    omnicodec train --config ... --resume runs/x/checkpoints/last.ckpt      # continue exactly
    omnicodec train --config ... --init runs/x/checkpoints/last.ckpt        # new run from its weights
    omnicodec train --config ... --init src/omnicodec/zoo/weights/image-hyperprior-variable.json  # from shipped weights
    omnicodec train --config ... --trainer.strategy ddp --trainer.devices 2 # Lightning's DDP

Configs under ``configs/`` name a ``model`` (``LitCodec`` or ``LitDistill``) and a ``data``
module by class path, and the trainer's loggers (CSV, TensorBoard) and callbacks (periodic
checkpoints, real-bitrate validation).

On a CPU without native bfloat16 arithmetic (no AVX-512 BF16 or AMX: e.g. AVX2-only CPUs), a config's
``bf16-mixed`` precision runs in emulation, about ten times slower than float32 (the default image config:
0.02 against 0.21 steps/s); there the run uses ``32-true`` instead and says so, unless
``--trainer.precision`` is given on the command line.

A run that fails before its first training step (missing data, a bad option) removes the
folders it created (logs, checkpoints); a run that fails later keeps them, with its last
checkpoint.
"""

from __future__ import annotations

import logging
import shutil
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.cli import LightningCLI

from ..errors import InputError
from .checkpoint import init_from

SUMMARY = """\
usage: omnicodec train --config CONFIG [options]

Train a codec from a config (configs/image/, configs/speech/, configs/video/). Every value
in the config can be overridden on the command line.

common options:
  -c, --config CONFIG        training config, e.g. configs/image/hyperprior-small.yaml
  --trainer.max_steps N      training steps; the learning-rate schedule stretches to N
  --trainer.accelerator A    cpu, gpu or auto
  --trainer.devices N        devices (with --trainer.strategy ddp for more than one)
  --trainer.precision P      32-true, bf16-mixed or 16-mixed
  --data.train_dirs DIRS     your training folders, e.g. '[photos, more/photos]'
  --data.val_dir DIR         validation images (image configs)
  --data.batch_size N        batch size
  --model.lmbda L            rate-distortion trade-off (lambda)
  --model.lr LR              learning rate
  --resume CKPT              continue a run exactly from one of its checkpoints
  --init CKPT                start a new run from a checkpoint's weights
  --compile true             torch.compile the codec (minutes to compile, then ~17 % faster on a CPU)
  --print_config             print the resolved config and exit

Lightning's full list of options follows.
"""

EXAMPLE = "omnicodec train --config configs/image/hyperprior-tiny.yaml"


class _DropLitLoggerTip(logging.Filter):
    """Lightning advertises a cloud logger on every run; our runs log to CSV and TensorBoard."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _silence_lightning_tips() -> None:
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropLitLoggerTip) for f in log.filters):
        log.addFilter(_DropLitLoggerTip())


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
        parser.add_argument(
            "--compile", type=bool, default=False,
            help="torch.compile the codec's forward pass: minutes of compiling first, then faster steps "
                 "(the default image model on 2 CPU cores: 0.83 -> 0.97 steps/s)",
        )


def _output_dirs(trainer: L.Trainer) -> list[Path]:
    """Folders the run writes: its loggers' and checkpoint callbacks' folders."""
    dirs = [Path(lg.save_dir) for lg in trainer.loggers if getattr(lg, "save_dir", None)]
    dirs += [Path(cb.dirpath) for cb in trainer.checkpoint_callbacks if getattr(cb, "dirpath", None)]
    return dirs


def _missing_roots(dirs: list[Path]) -> list[Path]:
    """For each folder, its outermost ancestor that does not exist yet (what the run would create)."""
    roots: list[Path] = []
    for d in dirs:
        d = d.absolute()
        if d.exists():
            continue
        root = d
        while not root.parent.exists():
            root = root.parent
        if root not in roots:
            roots.append(root)
    return roots


BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 (AVX-512 BF16, AMX) and Arm (FEAT_BF16) in /proc/cpuinfo


def native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bfloat16 natively, from the flags the kernel lists; where they
    cannot be read (not Linux), assume it does and keep the config's precision."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return True
    flags = {f for line in text.splitlines() if line.split(":")[0].strip() in ("flags", "Features")
             for f in line.split(":", 1)[-1].split()}
    return bool(flags & BF16_FLAGS)


def _emulated_bf16(trainer: L.Trainer, args: list[str]) -> bool:
    """A bf16-mixed run on a CPU that would emulate it, with the precision not chosen on the command line."""
    from lightning.pytorch.accelerators import CPUAccelerator

    chosen = any(a == "--trainer.precision" or a.startswith("--trainer.precision=") for a in args)
    return (not chosen and str(trainer.precision) == "bf16-mixed" and isinstance(trainer.accelerator, CPUAccelerator)
            and not native_bf16())


def _save_final(trainer: L.Trainer) -> None:
    """Write ``last.ckpt`` of every checkpoint callback that keeps one at the step training ended on:
    Lightning saves only every N steps, so a run whose ``max_steps`` is not a multiple of N would
    otherwise keep the last interval's weights and lose the steps after it."""
    for cb in trainer.checkpoint_callbacks:
        if getattr(cb, "save_last", False) and getattr(cb, "dirpath", None) and trainer.global_step > 0:
            trainer.save_checkpoint(Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}", weights_only=False)


def _build(args: list[str]) -> OmnicodecCLI:
    with warnings.catch_warnings():
        # we pass our own argv on purpose (the program's argv starts with "train")
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        # jsonargparse's deprecation notes about how Lightning calls it; nothing a user can act on
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"lightning\.pytorch\.cli")
        return OmnicodecCLI(
            L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True, run=False,
            args=args, save_config_kwargs={"overwrite": True}, parser_kwargs={"prog": "omnicodec train"},
        )


def main(args: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if args is None else args)
    if not args:
        raise InputError(f"no training config given; e.g. {EXAMPLE} (options: omnicodec train --help)")
    if "-h" in args or "--help" in args:
        print(SUMMARY)
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    # Lightning's own use of a torch API that torch deprecated; nothing a user can act on
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    _silence_lightning_tips()
    torch.set_float32_matmul_precision("high")
    cli = _build(args)
    if _emulated_bf16(cli.trainer, args):
        print("omnicodec: this CPU has no native bfloat16 (it would run bf16-mixed about 10x slower); "
              "training in 32-true (choose with --trainer.precision)", flush=True)
        cli = _build([*args, "--trainer.precision", "32-true"])
    resume, init = cli.config.get("resume"), cli.config.get("init")
    if resume and init:
        raise InputError("use --resume (continue a run) or --init (start from its weights), not both")
    created = _missing_roots(_output_dirs(cli.trainer))
    try:
        if init:
            missing = init_from(cli.model, init, skip_prefixes=("teacher.",), strict=cli.config.get("init_strict", True))
            if missing:
                print(f"omnicodec: {init} did not provide {len(missing)} tensors; they start as initialised: "
                      + ", ".join(missing[:8]) + (" …" if len(missing) > 8 else ""), flush=True)
        if cli.config.get("compile"):
            cli.model.codec.compile()  # in place: parameter names, and so checkpoints, stay as they are
        cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=resume)
        _save_final(cli.trainer)
    except BaseException:
        if cli.trainer.global_step == 0:  # nothing trained: leave nothing behind
            for root in created:
                shutil.rmtree(root, ignore_errors=True)
        raise
