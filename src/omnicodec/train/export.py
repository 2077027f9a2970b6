"""Export a training checkpoint as zoo weights (tables frozen, optimizer state dropped)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WeightsError
from ..zoo import save_weights
from .lit import LitCodec


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    name: str | None = None,
    quality: int = 1,
    dtype: str = "float16",
    overwrite: bool = False,
    extra: dict | None = None,
) -> Path:
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise WeightsError(f"checkpoint {checkpoint} does not exist")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        module = LitCodec(**state["hyper_parameters"])
        module.load_state_dict(state["state_dict"])
    except (RuntimeError, KeyError, TypeError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
    codec = module.codec
    name = name or f"{codec.codec_id.replace('/', '-')}-q{quality}"
    info = {"lambda": module.hparams.lmbda, "training": {"checkpoint": checkpoint.name, "step": state.get("global_step")}}
    info.update(extra or {})
    return save_weights(codec, out_dir, name, quality, dtype, info, overwrite)
