"""Small differentiable operations shared by the entropy models."""

from __future__ import annotations

import torch


def add_uniform_noise(x: torch.Tensor) -> torch.Tensor:
    """Additive U(-0.5, 0.5) noise: the training proxy for rounding (Ballé et al. 2017)."""
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Rounding with a straight-through (identity) gradient."""
    return x + (torch.round(x) - x).detach()


def std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (2.0**-0.5))


def no_autocast(device: torch.device):
    """Context in which mixed precision is off: likelihoods are computed in float32."""
    return torch.autocast(device_type=device.type, enabled=False)
