"""Export a training checkpoint as zoo weights (tables frozen, optimizer state dropped)."""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsError
from ..fileio import check_not_same_file
from ..zoo import save_weights
from ..zoo.format import build_codec
from .checkpoint import codec_state, load_checkpoint


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
    state = load_checkpoint(checkpoint)  # no pickle code from the user's file
    try:
        hp = state["hyper_parameters"]
        if "student_id" in hp:  # a distillation run: export its student
            codec_id, config = hp["student_id"], hp.get("student_config") or {}
        else:
            codec_id, config = hp["codec_id"], hp.get("codec_config") or {}
        codec = build_codec(codec_id, config, checkpoint)  # config checked before anything is built
        codec.load_state_dict(codec_state(state))
    except (RuntimeError, KeyError, TypeError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
    variable = codec.quality_range is not None
    stem = codec.codec_id.replace("/", "-")
    name = name or (f"{stem}-variable" if variable else f"{stem}-q{float(quality):g}")
    info = {"training": {"checkpoint": checkpoint.name, "step": state.get("global_step")}}
    if variable:  # the entry's quality is the codec's default; every level has its own lambda
        info["lambda_levels"] = hp.get("lmbda_levels")
    else:
        info["lambda"] = hp.get("lmbda")
    info.update(extra or {})
    for suffix in (".json", ".safetensors"):  # never the checkpoint itself, whatever its name
        check_not_same_file(checkpoint, Path(out_dir) / f"{name}{suffix}")
    return save_weights(codec, out_dir, name, quality, dtype, info, overwrite)
