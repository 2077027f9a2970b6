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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
