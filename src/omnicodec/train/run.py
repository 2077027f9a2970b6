"""Run training jobs: a Trainer around a LightningModule and :class:`ImageFolderDataModule`."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from ..errors import WeightsError
from .checkpoint import load_checkpoint
from .data import ImageFolderDataModule
from .distill import LitDistill
from .lit import LitCodec


def init_from(
    module: L.LightningModule, checkpoint: str | Path, skip_prefixes: tuple[str, ...] = (), strict: bool = True
) -> list[str]:
    """Load weights into ``module`` (fresh optimizers and schedule); returns what they did not provide.

    ``checkpoint`` is a training checkpoint (``.ckpt``) or exported zoo weights (the ``.json``
    entry, or the ``.safetensors`` beside it), whose codec state goes into ``module.codec``.
    With ``strict=False``, parameters of the module that the weights lack (e.g. the new gain
    vectors of a variable-rate model started from a fixed-rate one) keep their initial values
    and are returned; weights the module cannot hold are always an error.
    """
    path = Path(checkpoint)
    if path.suffix.lower() in (".json", ".safetensors"):
        return _init_from_weights(module, path, strict)
    state = load_checkpoint(path)["state_dict"]  # weights_only: no code from the file
    state = {k: v for k, v in state.items() if not k.startswith(skip_prefixes)}
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(skip_prefixes)]
    if unexpected or (missing and strict):
        raise WeightsError(f"{path} does not fit this run (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return missing


def _init_from_weights(module: L.LightningModule, path: Path, strict: bool) -> list[str]:
    from ..zoo import load_file_entry

    target = getattr(module, "codec", None)
    if not isinstance(target, torch.nn.Module):
        raise WeightsError(f"{path} holds one codec's weights; this run's module has no codec to start from them")
    source = load_file_entry(path).codec
    if source.codec_id != target.codec_id:
        raise WeightsError(f"{path} holds {source.codec_id} weights; this run trains {target.codec_id}")
    state, own = source.state_dict(), target.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    # the entropy models' frozen tables change size with what they describe; export rebuilds them
    mismatched = [k for k in own if k in state and own[k].shape != state[k].shape and own[k].numel() and state[k].numel()]
    if unexpected or mismatched:
        raise WeightsError(
            f"{path} does not fit this {target.codec_id} (its config differs?): unexpected {unexpected[:3]}, "
            f"different shapes {mismatched[:3]}"
        )
    if missing and strict:
        raise WeightsError(
            f"{path} lacks {len(missing)} tensors of this model ({', '.join(missing[:3])}…); allow starting from "
            "partial weights (--init_strict false) if the model has new parts"
        )
    try:
        target.load_state_dict({k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items()},
                               strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit this {target.codec_id}: {exc}") from exc
    return missing


def _fit(
    module: L.LightningModule,
    train_dirs: list[str],
    out: Path,
    steps: int,
    batch_size: int,
    crop: int,
    val_dir: str | None,
    val_every: int,
    checkpoint_every: int,
    resume: str | None,
    precision: str,
    accelerator: str,
    num_workers: int,
) -> Path:
    # We checkpoint the state after each step on purpose; Lightning's note about it is noise here.
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    data = ImageFolderDataModule(train_dirs, val_dir, crop=crop, batch_size=batch_size, num_workers=num_workers)
    ckpt = ModelCheckpoint(
        dirpath=out / "checkpoints", every_n_train_steps=checkpoint_every, save_last=True, save_top_k=-1
    )
    trainer = L.Trainer(
        max_steps=steps,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        logger=CSVLogger(out, name="logs"),
        callbacks=[ckpt],
        val_check_interval=val_every if val_dir else None,
        check_val_every_n_epoch=None if val_dir else 1,
        limit_val_batches=None if val_dir else 0,
        log_every_n_steps=min(10, max(1, checkpoint_every)),
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=data, ckpt_path=resume)
    return out / "checkpoints" / "last.ckpt"


def train_image_codec(
    train_dirs: list[str],
    out_dir: str,
    codec_id: str = "image/hyperprior",
    codec_config: dict | None = None,
    lmbda: float = 0.013,
    steps: int = 1000,
    batch_size: int = 8,
    crop: int = 256,
    lr: float = 1e-4,
    warmup_steps: int = 0,
    val_dir: str | None = None,
    val_every: int = 500,
    checkpoint_every: int = 500,
    resume: str | None = None,
    init: str | None = None,
    precision: str = "32-true",
    accelerator: str = "auto",
    num_workers: int = 0,
    seed: int = 0,
) -> Path:
    """Train and return the path of the last checkpoint (``out_dir/checkpoints/last.ckpt``).

    ``resume`` continues a run exactly (step, optimizers, schedule); ``init`` starts a new run
    from the codec weights of a checkpoint (fresh optimizers and schedule), for training a
    model further. ``precision`` is Lightning's: ``"bf16-mixed"`` is about 2.3× faster than
    ``"32-true"`` on CPUs with AVX512-BF16 and on recent GPUs.
    """
    if resume and init:
        raise ValueError("use resume (continue a run) or init (start from its weights), not both")
    L.seed_everything(seed, workers=True)
    torch.set_float32_matmul_precision("high")
    module = LitCodec(codec_id, codec_config, lmbda=lmbda, lr=lr, warmup_steps=warmup_steps, total_steps=steps)
    if init:
        init_from(module, init)
    return _fit(
        module, train_dirs, Path(out_dir), steps, batch_size, crop, val_dir, val_every, checkpoint_every, resume,
        precision, accelerator, num_workers,
    )


def distill_image_codec(
    train_dirs: list[str],
    out_dir: str,
    phase: int,
    teacher_weights: str | None,
    teacher_id: str = "image/feds-teacher",
    teacher_config: dict | None = None,
    student_id: str = "image/feds-student",
    student_config: dict | None = None,
    lmbda: float = 0.013,
    steps: int = 1000,
    batch_size: int = 8,
    crop: int = 256,
    lr: float = 1e-4,
    warmup_steps: int = 0,
    checkpoint_every: int = 500,
    resume: str | None = None,
    init: str | None = None,
    precision: str = "32-true",
    accelerator: str = "auto",
    num_workers: int = 0,
    seed: int = 0,
) -> Path:
    """One phase of :class:`LitDistill`; ``init`` is usually the previous phase's last checkpoint."""
    if resume and init:
        raise ValueError("use resume (continue a phase) or init (start a phase from another's weights), not both")
    L.seed_everything(seed, workers=True)
    module = LitDistill(
        teacher_id, teacher_config, student_id, student_config, phase, teacher_weights, lmbda=lmbda, lr=lr,
        warmup_steps=warmup_steps, total_steps=steps,
    )
    if init:
        init_from(module, init, skip_prefixes=("teacher.",))
    return _fit(
        module, train_dirs, Path(out_dir), steps, batch_size, crop, None, 0, checkpoint_every, resume, precision,
        accelerator, num_workers,
    )
