"""Export a training checkpoint as zoo weights (tables frozen, optimizer state dropped)."""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsError
from ..zoo import save_weights
from ..zoo.format import build_codec
from .checkpoint import load_checkpoint


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
    state = load_checkpoint(checkpoint)  # no pickle code from the user's file
    try:
        hp = state["hyper_parameters"]
        if "student_id" in hp:  # a distillation run: export its student
            codec_id, config, prefix = hp["student_id"], hp.get("student_config") or {}, "student."
        else:
            codec_id, config, prefix = hp["codec_id"], hp.get("codec_config") or {}, "codec."
        codec = build_codec(codec_id, config, checkpoint)  # config checked before anything is built
        codec.load_state_dict({k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)})
    except (RuntimeError, KeyError, TypeError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
    name = name or f"{codec.codec_id.replace('/', '-')}-q{quality}"
    info = {"lambda": hp.get("lmbda"), "training": {"checkpoint": checkpoint.name, "step": state.get("global_step")}}
    info.update(extra or {})
    return save_weights(codec, out_dir, name, quality, dtype, info, overwrite)
