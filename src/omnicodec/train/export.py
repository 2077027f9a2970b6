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
    quality: float = 1,
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
    variable = getattr(codec, "quality_range", None) is not None
    stem = codec.codec_id.replace("/", "-")
    name = name or (f"{stem}-variable" if variable else f"{stem}-q{float(quality):g}")
    info = {"training": {"checkpoint": checkpoint.name, "step": state.get("global_step")}}
    if variable:  # the entry's quality is the codec's default; every level has its own lambda
        info["lambda_levels"] = hp.get("lmbda_levels")
    else:
        info["lambda"] = hp.get("lmbda")
    info.update(extra or {})
    return save_weights(codec, out_dir, name, quality, dtype, info, overwrite)
