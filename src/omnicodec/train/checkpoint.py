"""Reading training checkpoints without running code from them, and starting runs from weights.

A ``.ckpt`` file is a pickle, and unpickling can run any code the file names. Checkpoints a
user hands to ``omnicodec export``, ``train --init`` or a distillation teacher are read with
``torch.load(..., weights_only=True)``: PyTorch's restricted unpickler, which rebuilds tensors
and plain containers (dict, list, tuple, str, numbers, None) and refuses every other global.
Our Lightning modules store only plain hyper-parameters, so their checkpoints need nothing
more. A file naming any other object is refused with a :class:`WeightsError`.

``--resume`` goes through Lightning's own loader, which restores optimizer and loop state; a
checkpoint resumed that way is trusted like code (see the README).

:func:`codec_state` is the one place that knows under which prefix a training module keeps its
codec; :func:`init_from` starts a run (``--init``) from a checkpoint or exported weights.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError

from ..errors import WeightsError


def load_checkpoint(path: str | Path, what: str = "checkpoint") -> dict:
    """The contents of a training checkpoint, loaded without pickle's code execution."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} {path} does not exist" if not path.exists() else f"{what} {path} is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        reason = next((line for line in first if "GLOBAL" in line or "Unsupported" in line), first[0] if first else "")
        raise WeightsError(
            f"{what} {path} holds objects other than tensors and plain data, so it is not loaded "
            f"(loading it would run code from the file): {reason.strip()}"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, MemoryError, SafetensorError) as exc:
        raise WeightsError(f"cannot read {what} {path}: {exc or type(exc).__name__}") from exc
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise WeightsError(f"{what} {path} is not a training checkpoint (no state_dict)")
    return state


def codec_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The tensors of the codec a training checkpoint trains, without the module's prefix: the
    student of a distillation run (``LitDistill``), else the codec (``LitCodec``)."""
    prefix = "student." if "student_id" in (checkpoint.get("hyper_parameters") or {}) else "codec."
    return {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def init_from(
    module: torch.nn.Module, checkpoint: str | Path, skip_prefixes: tuple[str, ...] = (), strict: bool = True
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


def _init_from_weights(module: torch.nn.Module, path: Path, strict: bool) -> list[str]:
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
