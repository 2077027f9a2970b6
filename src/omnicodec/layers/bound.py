"""``max(x, bound)`` whose gradient still flows where it would raise ``x`` back to the bound.

A plain clamp kills the gradient below the bound, so a value stuck there (a GDN parameter, an
entropy model's scale) could never recover; here the gradient passes if ``x >= bound`` or if
it points upwards.
"""

from __future__ import annotations

import torch
from torch import nn


class _LowerBound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float | torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp(x, min=bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None


def lower_bound(x: torch.Tensor, bound: float | torch.Tensor) -> torch.Tensor:
    """``max(x, bound)`` (a number, or a tensor that broadcasts), gradient passing upwards."""
    return _LowerBound.apply(x, bound)


class LowerBound(nn.Module):
    """:func:`lower_bound` with the bound held as a buffer (``bound``)."""

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lower_bound(x, self.bound)
