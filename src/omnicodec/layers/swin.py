"""SwinV2 transformer blocks for convolutional feature maps (Liu et al. 2022).

What makes them V2: scaled cosine attention (cosine similarity of queries and keys times a
learned, clamped per-head temperature), a continuous relative position bias produced by a
small MLP from log-spaced relative coordinates, and post-normalisation (the residual
branch is normalised *after* attention / MLP). Windows are ``window``×``window`` and
alternate between plain and shifted (by half a window) from block to block.

Blocks take and return ``[B, C, H, W]`` maps of any size: maps are zero-padded to a
multiple of the window and cropped back, so codecs need no size constraints of their own.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _log_spaced_coords(window: int) -> torch.Tensor:
    """Table of relative offsets (2W-1)² × 2, log-spaced as in SwinV2 (pretrained window = W)."""
    r = torch.arange(-(window - 1), window, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(r, r, indexing="ij"), dim=-1).reshape(-1, 2)
    table = table / max(window - 1, 1) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)


def _relative_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]  # [W², W²]


class WindowAttentionV2(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 256), nn.ReLU(inplace=True), nn.Linear(256, heads, bias=False))
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("coords_table", _log_spaced_coords(window), persistent=False)
        self.register_buffer("relative_index", _relative_index(window), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x``: [windows·B, W², C]; ``mask``: [windows, W², W²] (0 / -inf) or None."""
        b, n, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        table = self.cpb_mlp(self.coords_table).view(-1, self.heads)
        bias_rel = table[self.relative_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = attn + 16 * torch.sigmoid(bias_rel).unsqueeze(0)
        if mask is not None:
            w = mask.shape[0]
            attn = attn.view(b // w, w, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(b, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


def to_windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """``[B, H, W, C]`` (H and W multiples of ``w``) as ``[B·windows, w², C]``: the ``w``×``w`` windows
    of each map in raster order."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def from_windows(x: torch.Tensor, w: int, b: int, h: int, wd: int) -> torch.Tensor:
    """The inverse of :func:`to_windows`: ``[B·windows, w², C]`` back to ``[B, H, W, C]``."""
    x = x.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, -1)


def shift_mask(h: int, w: int, window: int, shift: int, device) -> torch.Tensor:
    """``[windows, window², window²]`` attention mask (0 / -inf) for an ``h``×``w`` map rolled by
    ``-shift``: it keeps the shifted windows from mixing regions that are not adjacent in the map."""
    region = torch.zeros(1, h, w, 1, device=device)
    count = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[:, hs, ws, :] = count
            count += 1
    ids = to_windows(region, window).squeeze(-1)
    diff = ids.unsqueeze(1) - ids.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, float("-inf"))


class SwinV2Block(nn.Module):
    def __init__(self, dim: int, heads: int, window: int = 8, shifted: bool = False, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.window, self.shift = window, (window // 2 if shifted else 0)
        self.attn = WindowAttentionV2(dim, heads, window)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, H, W, C] with H and W multiples of the window."""
        b, h, w, c = x.shape
        shift = self.shift if min(h, w) > self.window else 0
        shifted = torch.roll(x, (-shift, -shift), (1, 2)) if shift else x
        mask = shift_mask(h, w, self.window, shift, x.device) if shift else None
        attn = from_windows(self.attn(to_windows(shifted, self.window), mask), self.window, b, h, w)
        if shift:
            attn = torch.roll(attn, (shift, shift), (1, 2))
        x = x + self.norm1(attn)  # post-norm
        return x + self.norm2(self.mlp(x))


class RSTB(nn.Module):
    """Residual Swin transformer block: ``depth`` SwinV2 blocks, a 3×3 convolution and a skip."""

    def __init__(self, dim: int, depth: int, heads: int, window: int = 8, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList(
            SwinV2Block(dim, heads, window, shifted=bool(i % 2), mlp_ratio=mlp_ratio) for i in range(depth)
        )
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ph, pw = (-h) % self.window, (-w) % self.window
        t = F.pad(x, (0, pw, 0, ph)).permute(0, 2, 3, 1)
        for block in self.blocks:
            t = block(t)
        t = t.permute(0, 3, 1, 2)[:, :, :h, :w]
        return x + self.conv(t)
