"""Export a training checkpoint as zoo weights (tables frozen, optimizer state dropped)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..codecs import create_codec
from ..errors import WeightsError
from ..zoo import save_weights


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
        hp = state["hyper_parameters"]
        if "student_id" in hp:  # a distillation run: export its student
            codec_id, config, prefix = hp["student_id"], hp.get("student_config") or {}, "student."
        else:
            codec_id, config, prefix = hp["codec_id"], hp.get("codec_config") or {}, "codec."
        codec = create_codec(codec_id, config)
        codec.load_state_dict({k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)})
    except (RuntimeError, KeyError, TypeError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
    name = name or f"{codec.codec_id.replace('/', '-')}-q{quality}"
    info = {"lambda": hp.get("lmbda"), "training": {"checkpoint": checkpoint.name, "step": state.get("global_step")}}
    info.update(extra or {})
    return save_weights(codec, out_dir, name, quality, dtype, info, overwrite)
