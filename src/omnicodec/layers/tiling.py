"""Run a convolutional network over tiles of a large map, overlapping by its receptive field.

Each tile is extended by a *halo*: the number of input units beyond the tile that can
influence its outputs, computed from the layers (:func:`input_radius`). The network runs on
the extended tile and only the outputs of the tile itself are kept (overlap-and-crop), so
the result equals running the network on the whole map up to float rounding, with no seams,
while memory grows with the tile instead of the map. At the map's borders a tile stops at
the border, where the network sees exactly the zero padding it sees on the whole map.

Tiles start on multiples of the network's downsampling factor, so every strided layer sees
the same sampling grid as on the whole map.

Networks whose outputs depend on absolute positions or on the whole map (shifted-window
attention, which rolls the map cyclically) cannot be tiled: :func:`input_radius` raises
:class:`NotTileable` for any layer it does not know. A module may declare its own radius
with a method ``input_radius(radius) -> int``.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch
from torch import nn

from .gdn import GDN

__all__ = ["NotTileable", "input_radius", "is_tileable", "tiled"]

# Layers that act on each position on its own (across channels at most).
_POINTWISE = (
    nn.Identity, nn.ReLU, nn.LeakyReLU, nn.GELU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.PReLU, nn.Dropout,
)


class NotTileable(ValueError):
    """The network holds a layer whose outputs do not depend on a bounded neighbourhood."""


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _conv_radius(m: nn.Conv2d, r: int) -> int:
    if isinstance(m.padding, str):
        raise NotTileable(f"{type(m).__name__} with padding={m.padding!r}")
    out = 0
    for k, s, p, d in zip(_pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation)):
        # output o reads inputs o*s - p ... o*s - p + (k-1)*d
        out = max(out, r * s + max(p, (k - 1) * d - p))
    return out


def _deconv_radius(m: nn.ConvTranspose2d, r: int) -> int:
    out = 0
    for k, s, p, d in zip(_pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation)):
        # output o = i*s - p + j*d for j in [0, k): inputs from (o + p - (k-1)*d)/s to (o + p)/s
        reach = max(p, (k - 1) * d - p)
        out = max(out, -(-(r + reach) // s))
    return out


def input_radius(module: nn.Module, radius: int = 0) -> int:
    """Input units beyond a region that influence ``module``'s outputs on that region widened by ``radius``.

    Radii are counted in the units of the module's input and output maps respectively.
    Raises :class:`NotTileable` for a layer that cannot be bounded this way.
    """
    own = getattr(module, "input_radius", None)
    if callable(own):
        return int(own(radius))
    if isinstance(module, nn.Sequential):
        for layer in reversed(module):
            radius = input_radius(layer, radius)
        return radius
    if isinstance(module, nn.ConvTranspose2d):
        return _deconv_radius(module, radius)
    if isinstance(module, nn.Conv2d):
        return _conv_radius(module, radius)
    if isinstance(module, (*_POINTWISE, GDN)):
        return radius
    raise NotTileable(f"{type(module).__name__} has no bounded receptive field")


def is_tileable(module: nn.Module) -> bool:
    try:
        input_radius(module)
    except NotTileable:
        return False
    return True


def tiled(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: Fraction | None,
    tile: int,
    halo: int,
    align: int = 1,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``net(x)`` for a [B, C, H, W] ``x``, computed over tiles of ``tile``×``tile`` input units.

    ``scale``: output units per input unit (1/16 for an analysis transform, 16 for a
    synthesis transform; None: read from the first tile's output); ``halo``: input units added on each side of a tile (at least the
    network's :func:`input_radius`); ``align``: tiles and halos start on multiples of it
    (the downsampling factor). ``prepare`` maps each extended input tile before ``net``
    (e.g. 8-bit pixels to floats), so ``x`` itself may be held compactly. A map that fits
    in one tile runs in one piece.
    """
    h, w = x.shape[-2:]
    prepare = prepare or (lambda t: t)
    tile = max(align, tile // align * align)
    halo = -(-halo // align) * align
    if h <= tile and w <= tile:
        return net(prepare(x))
    if h % align or w % align:
        raise ValueError(f"a map of {h}x{w} cannot be tiled with alignment {align}")
    out = None
    for top in range(0, h, tile):
        bottom = min(top + tile, h)
        t0, t1 = max(0, top - halo), min(h, bottom + halo)
        for left in range(0, w, tile):
            right = min(left + tile, w)
            l0, l1 = max(0, left - halo), min(w, right + halo)
            y = net(prepare(x[..., t0:t1, l0:l1]))
            if scale is None:
                scale = Fraction(y.shape[-2], t1 - t0)
            expect = (int((t1 - t0) * scale), int((l1 - l0) * scale))
            if tuple(y.shape[-2:]) != expect:
                raise ValueError(f"a {t1 - t0}x{l1 - l0} tile gave {tuple(y.shape[-2:])}, not {expect}, at scale {scale}")
            if out is None:
                if (h * scale).denominator != 1 or (w * scale).denominator != 1:
                    raise ValueError(f"a map of {h}x{w} cannot be tiled at scale {scale}")
                out = y.new_empty((*y.shape[:-2], int(h * scale), int(w * scale)))
            a, b = int((top - t0) * scale), int((bottom - t0) * scale)
            c, d = int((left - l0) * scale), int((right - l0) * scale)
            out[..., int(top * scale) : int(bottom * scale), int(left * scale) : int(right * scale)] = y[..., a:b, c:d]
            del y
    return out
