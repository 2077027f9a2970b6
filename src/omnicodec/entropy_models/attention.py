"""Attention contexts over decoded channel slices (S2LIC's ACGC entropy model).

For slice ``i`` of a channel-wise model, two contexts look at the decoded slices ``< i``:

- :class:`ChannelAttentionContext`: attention *across channels* (a C×C attention map from
  L2-normalised queries and keys with a learned temperature per head, as in transposed
  attention), so each output channel adaptively mixes the earlier slices' channels.
- :class:`GlobalInterContext`: deformable attention across space: from the side features
  and earlier slices, every position predicts a few sampling offsets and weights per head
  and gathers values of the earlier slices there (bilinear sampling), so it can reach
  related content anywhere in the latent, not just in a fixed window.

:class:`ACGCContext` joins both with a projection of the hyperprior's side features into the
slice's channel-context features. All inputs are decoded values, so the decoder computes
exactly the same context. The paper does not publish its deformable attention; ours
follows Deformable DETR's single-scale form (our choice).

Exact forms (registered with :mod:`.exact`, used when coding and evaluating): the same
computations in fixed point. L2 normalisation over positions uses int64 sums of squares and
an integer square root, the temperature is a fixed-point number (clamped to ±2**16), the
softmaxes use the ``exp`` table of :mod:`.fixedpoint`, and the deformable sampling is an
integer bilinear interpolation at the same pixel positions ``grid_sample`` uses
(``align_corners=False``: position ``x + offset``, zeros outside).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import fixedpoint as fx
from .exact import cached, register_exact, run
from .fixedpoint import ACT_BITS, ONE, PROB_BITS, WEIGHT_BITS

TEMPERATURE_LIMIT = 2.0**16  # |temperature| in the exact form: cosine * temperature stays below 2**53


class ChannelAttentionContext(nn.Module):
    def __init__(self, in_channels: int, dim: int, heads: int = 4) -> None:
        super().__init__()
        heads = max(1, min(heads, dim))
        while dim % heads:
            heads -= 1
        self.heads = heads
        self.qkv = nn.Conv2d(in_channels, 3 * dim, 1)
        self.qkv_dw = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        q, k, v = (t.reshape(b, self.heads, -1, h * w) for t in (q, k, v))
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
        out = attn.softmax(dim=-1) @ v
        return self.out(out.reshape(b, -1, h, w))


class GlobalInterContext(nn.Module):
    def __init__(self, value_channels: int, query_channels: int, dim: int, heads: int = 4, points: int = 4) -> None:
        super().__init__()
        heads = max(1, min(heads, dim))
        while dim % heads:
            heads -= 1
        self.heads, self.points = heads, points
        self.value = nn.Conv2d(value_channels, dim, 1)
        self.offsets = nn.Conv2d(query_channels, heads * points * 2, 3, padding=1)
        self.weights = nn.Conv2d(query_channels, heads * points, 3, padding=1)
        self.out = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.offsets.weight)
        with torch.no_grad():  # start by looking around each position on a small ring
            angles = torch.arange(heads * points, dtype=torch.float32) * (2.399963)  # golden angle
            radius = 1.0 + torch.arange(points, dtype=torch.float32).repeat(heads)
            self.offsets.bias.copy_(torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1).flatten())

    def forward(self, values: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        b, _, h, w = values.shape
        v = self.value(values)
        d = v.shape[1] // self.heads
        offsets = self.offsets(query).view(b, self.heads, self.points, 2, h, w)
        weights = self.weights(query).view(b, self.heads, self.points, h, w).softmax(dim=2)
        ys, xs = torch.meshgrid(
            torch.arange(h, device=v.device, dtype=v.dtype), torch.arange(w, device=v.device, dtype=v.dtype), indexing="ij"
        )
        # sampling positions in pixels -> grid_sample's [-1, 1] (align_corners=False)
        px = (xs + offsets[:, :, :, 0] + 0.5) / w * 2 - 1
        py = (ys + offsets[:, :, :, 1] + 0.5) / h * 2 - 1
        grid = torch.stack([px, py], dim=-1)  # [b, heads, points, h, w, 2]
        v = v.view(b * self.heads, d, h, w)
        grid = grid.reshape(b * self.heads, self.points * h, w, 2)
        sampled = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.view(b, self.heads, d, self.points, h, w)
        out = (sampled * weights.unsqueeze(2)).sum(dim=3).reshape(b, -1, h, w)
        return self.out(out)


class ACGCContext(nn.Module):
    """Channel-context network of one slice: ``[side, y_hat_<i] -> out_channels`` features."""

    def __init__(self, side_channels: int, previous_channels: int, out_channels: int, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.side_channels, self.previous_channels = side_channels, previous_channels
        self.side = nn.Sequential(nn.Conv2d(side_channels, dim, 1), nn.LeakyReLU(inplace=True))
        parts = 1
        if previous_channels:
            self.channel_attention = ChannelAttentionContext(previous_channels, dim, heads)
            self.global_inter = GlobalInterContext(previous_channels, side_channels + previous_channels, dim, heads)
            parts = 3
        self.fuse = nn.Sequential(
            nn.Conv2d(parts * dim, dim, 1), nn.LeakyReLU(inplace=True), nn.Conv2d(dim, out_channels, 1)
        )

    def forward(self, support: torch.Tensor) -> torch.Tensor:
        side = support[:, : self.side_channels]
        features = [self.side(side)]
        if self.previous_channels:
            previous = support[:, self.side_channels :]
            features += [self.channel_attention(previous), self.global_inter(previous, support)]
        return self.fuse(torch.cat(features, dim=1))


@register_exact(ChannelAttentionContext)
def channel_attention(m: ChannelAttentionContext, x: torch.Tensor) -> torch.Tensor:
    """Integer form of :meth:`ChannelAttentionContext.forward` (``x`` in units ``2**-ACT_BITS``)."""
    b, _, h, w = x.shape
    q, k, v = run(m.qkv_dw, run(m.qkv, x)).chunk(3, dim=1)
    q, k, v = (t.reshape(b, m.heads, -1, h * w) for t in (q, k, v))
    q, k = fx.l2_normalize(q, -1), fx.l2_normalize(k, -1)
    # unit vectors with at most one unit of rounding per element: |q|·|k| sums stay far below 2**53
    cosine = fx.shift_floor(q @ k.transpose(-2, -1), ACT_BITS)
    def fixed_temperature() -> torch.Tensor:
        t = m.temperature.detach().to(x.device, torch.float64).clamp(-TEMPERATURE_LIMIT, TEMPERATURE_LIMIT)
        return torch.round(t * 2.0**WEIGHT_BITS)

    temperature = cached(m, "temperature", [m.temperature], x.device, fixed_temperature)
    probs = fx.softmax(fx.shift_floor(cosine * temperature, WEIGHT_BITS), -1)
    return run(m.out, fx.attend(probs, v).reshape(b, -1, h, w))


def global_inter(m: GlobalInterContext, values: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Integer form of :meth:`GlobalInterContext.forward` (inputs in units ``2**-ACT_BITS``)."""
    b, _, h, w = values.shape
    v = run(m.value, values)
    d = v.shape[1] // m.heads
    offsets = run(m.offsets, query).view(b, m.heads, m.points, 2, h, w)
    weights = fx.softmax(run(m.weights, query).view(b, m.heads, m.points, h, w), 2)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=v.device, dtype=torch.float64), torch.arange(w, device=v.device, dtype=torch.float64),
        indexing="ij",
    )
    px = (xs * ONE + offsets[:, :, :, 0]).reshape(b * m.heads, -1)
    py = (ys * ONE + offsets[:, :, :, 1]).reshape(b * m.heads, -1)
    sampled = fx.bilinear_sample(v.view(b * m.heads, d, h, w), px, py).view(b, m.heads, d, m.points, h, w)
    out = fx.shift_floor((sampled * weights.unsqueeze(2)).sum(dim=3), PROB_BITS).reshape(b, -1, h, w)
    return run(m.out, out)


@register_exact(ACGCContext)
def acgc_context(m: ACGCContext, support: torch.Tensor) -> torch.Tensor:
    """Integer form of :meth:`ACGCContext.forward`."""
    features = [run(m.side, support[:, : m.side_channels])]
    if m.previous_channels:
        previous = support[:, m.side_channels :]
        features += [channel_attention(m.channel_attention, previous), global_inter(m.global_inter, previous, support)]
    return run(m.fuse, torch.cat(features, dim=1))
