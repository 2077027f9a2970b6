"""The integer form of GDN and IGDN, so that a whole GDN transform (``g_a`` or ``g_s``) can run in
fixed point with :class:`.exact.ExactNetwork` and give the same integers on every machine.

``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j**2)`` (IGDN multiplies by the root), on activations
``h`` in units ``2**-ACT_BITS``:

- ``beta`` and ``gamma`` are derived from the stored parameters in float64 (``max(v, bound)``, a
  square that is exact for float32 values, and one correctly rounded subtraction of the pedestal:
  IEEE operations, the same everywhere), then rounded to fixed point like a convolution's bias
  and weight (``2**-(WEIGHT_BITS + ACT_BITS)`` and ``2**-WEIGHT_BITS``);
- the squares ``floor(h * h / 2**ACT_BITS)`` (``h`` clamped to ``±2**26``, so ``h * h`` is an exact
  float64 integer) go through that 1×1 convolution, clamped like any exact layer so that every
  partial sum stays below ``2**53``; the sum keeps ``2 * ACT_BITS`` fractional bits, so its integer
  square root (:func:`.fixedpoint.isqrt_float`) has ``ACT_BITS`` (at least 1: a zero root cannot
  divide);
- GDN divides by the root, ``floor(h * 2**ACT_BITS / root)``, IGDN multiplies,
  ``floor(h * root / 2**ACT_BITS)``; both products are integers below ``2**53``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..layers.gdn import GDN
from . import fixedpoint as fx
from .exact import cached, integer_affine, register_exact
from .fixedpoint import ACT_BITS, WEIGHT_BITS

INPUT_LIMIT = 2**26  # |h| before squaring: h * h < 2**52
NORM_LIMIT = 2**52 - 1  # the sum is below 2**45 by the clamp; this bound keeps the root's float form exact


def _nonnegative(reparam, stored: torch.Tensor, device) -> torch.Tensor:
    """``max(v, bound)**2 - pedestal`` in float64 (the square of a float32 value is exact)."""
    v = stored.detach().to(device, torch.float64)
    v = torch.maximum(v, reparam.lower_bound.bound.detach().to(device, torch.float64))
    return v * v - reparam.pedestal.detach().to(device, torch.float64)


def gdn_affine(module: GDN, device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The fixed-point ``gamma`` (as a 1×1 convolution weight), ``beta`` and the input clamp."""
    c = module.beta.shape[0]
    beta = _nonnegative(module.beta_reparam, module.beta, device)
    gamma = _nonnegative(module.gamma_reparam, module.gamma, device).view(c, c, 1, 1)
    return integer_affine(gamma, beta, device)


@register_exact(GDN)
def gdn(module: GDN, h: torch.Tensor) -> torch.Tensor:
    """``h``: [B, C, H, W] integers in units ``2**-ACT_BITS``, as ``GDN.forward``."""
    gamma, beta, limit = cached(module, "gdn", [module.beta, module.gamma], h.device,
                                lambda: gdn_affine(module, h.device))
    h = h.clamp(-INPUT_LIMIT, INPUT_LIMIT)
    squares = fx.shift_floor(h * h, ACT_BITS).clamp_max(limit)
    # units 2**-(WEIGHT_BITS + ACT_BITS) -> 2**-(2 * ACT_BITS)
    norm = fx.shift_floor(F.conv2d(squares, gamma, beta), WEIGHT_BITS - ACT_BITS).clamp_max(NORM_LIMIT)
    root = fx.isqrt_float(norm).clamp_min(1)
    if module.inverse:
        return fx.shift_floor(h * root, ACT_BITS)
    return fx.floor_div(h * 2.0**ACT_BITS, root)
