"""Reading training checkpoints without running code from them.

A ``.ckpt`` file is a pickle, and unpickling can run any code the file names. Checkpoints a
user hands to ``omnicodec export``, ``train --init`` or a distillation teacher are read with
``torch.load(..., weights_only=True)``: PyTorch's restricted unpickler, which rebuilds tensors
and plain containers (dict, list, tuple, str, numbers, None) and refuses every other global.
Our Lightning modules store only plain hyper-parameters, so their checkpoints need nothing
more. A file naming any other object is refused with a :class:`WeightsError`.

``--resume`` goes through Lightning's own loader, which restores optimizer and loop state; a
checkpoint resumed that way is trusted like code (see the README).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

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
    except (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, MemoryError) as exc:
        raise WeightsError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise WeightsError(f"{what} {path} is not a training checkpoint (no state_dict)")
    return state
