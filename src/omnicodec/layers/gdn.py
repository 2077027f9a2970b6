"""Generalized divisive normalization (Ballé, Laparra & Simoncelli 2016).

``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j**2)``, and its inverse (multiplying by the
same root) in synthesis transforms. ``beta`` and ``gamma`` are stored reparametrised so
that they stay non-negative while training (Ballé et al. 2018): the stored value ``v``
gives ``max(v, bound)**2 - pedestal``, where ``pedestal = 2**-36`` keeps the square root's
gradient finite near zero and ``bound = sqrt(minimum + pedestal)``. The lower bound
(:mod:`.bound`) passes gradients that push a value back above it, so a parameter stuck at the
bound can recover.

The state layout (``beta``, ``gamma``, and ``pedestal`` / ``lower_bound.bound`` buffers
under ``beta_reparam`` and ``gamma_reparam``) is the one CompressAI uses, so weights
trained with either load in both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bound import LowerBound

REPARAM_OFFSET = 2.0**-18


class NonNegative(nn.Module):
    """Reparametrisation ``v -> max(v, bound)**2 - pedestal`` of a parameter that must stay >= ``minimum``."""

    def __init__(self, minimum: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("pedestal", torch.tensor([REPARAM_OFFSET**2]))
        self.lower_bound = LowerBound((float(minimum) + REPARAM_OFFSET**2) ** 0.5)

    def init(self, value: torch.Tensor) -> torch.Tensor:
        """The stored value that represents ``value``."""
        return torch.sqrt(torch.clamp_min(value + self.pedestal, float(self.pedestal)))

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        return self.lower_bound(stored) ** 2 - self.pedestal


class GDN(nn.Module):
    """GDN over the channels of ``[B, C, H, W]`` maps; ``inverse=True`` gives IGDN."""

    def __init__(self, in_channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegative(beta_min)
        self.gamma_reparam = NonNegative()
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(in_channels)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(in_channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta, gamma = self.beta_reparam(self.beta), self.gamma_reparam(self.gamma)
        norm = F.conv2d(x**2, gamma.view(c, c, 1, 1), beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))
