"""Pad images to a multiple of the codec's total stride, and crop back after decoding."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right edges of [B, C, H, W] to multiples of ``multiple``.

    Replicating the border costs fewer bits than zeros: the padded area continues the image.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return x[..., :height, :width]
