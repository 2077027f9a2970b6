"""Integer form of the SwinV2 blocks (``omnicodec.layers.swin``) for exact entropy parameters.

S2LIC's hyper-synthesis holds an RSTB, so its side features, and with them every scale and
mean, depend on a SwinV2 block. Here the block runs in the fixed point of :mod:`.exact`,
step by step as the float block does:

- windows, shifts, padding and the shift mask move integers around; nothing is computed;
- queries and keys are L2-normalised with integer square roots; their dot products are
  float64 sums of integers below ``2**53``, exact in any order;
- the per-head temperature ``exp(min(logit_scale, ln 100))`` and the log-spaced relative
  coordinates of the position-bias MLP are derived from the stored parameters in decimal
  arithmetic (identical everywhere); the MLP then runs in fixed point and ``16·sigmoid``
  is a table;
- softmax, LayerNorm and GELU are the integer operations of :mod:`.fixedpoint`.

Everything derived from the parameters alone is cached per module until they change.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import torch
import torch.nn.functional as F

from ..layers.swin import RSTB, SwinV2Block, WindowAttentionV2, from_windows, shift_mask, to_windows
from . import fixedpoint as fx
from .exact import apply_linear, cached, integer_affine, register_exact, run
from .fixedpoint import ACT_BITS, ONE, WEIGHT_BITS


def _decimal_round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _coords(window: int) -> torch.Tensor:
    """``_log_spaced_coords`` in units ``2**-ACT_BITS``, computed in decimal (float64 integers)."""
    with localcontext() as ctx:
        ctx.prec = 50
        span, log8 = max(window - 1, 1), Decimal(8).ln()

        def coordinate(r: int) -> int:
            t = Decimal(abs(r)) * 8 / span
            value = (t + 1).ln() / log8 * ONE
            return _decimal_round(value) * (1 if r >= 0 else -1)

        values = {r: coordinate(r) for r in range(-(window - 1), window)}
    r = range(-(window - 1), window)
    return torch.tensor([[values[a], values[b]] for a in r for b in r], dtype=torch.float64)


def _logit_scales(logit_scale: torch.Tensor) -> torch.Tensor:
    """``exp(min(s, ln 100))`` per head in ``WEIGHT_BITS`` fixed point, ``s`` rounded to fixed point first."""
    out = []
    with localcontext() as ctx:
        ctx.prec = 50
        limit = Decimal(100).ln()
        for s in logit_scale.detach().double().flatten().tolist():
            x = min(Decimal(fx.fixed(s, WEIGHT_BITS)) / 2**WEIGHT_BITS, limit)
            out.append(_decimal_round(x.exp() * 2**WEIGHT_BITS))
    return torch.tensor(out, dtype=torch.float64).view(-1, 1, 1)


def _position_bias(attn: WindowAttentionV2, device) -> torch.Tensor:
    """``16 * sigmoid(cpb_mlp(coords))`` gathered to ``[heads, n, n]`` in units ``2**-ACT_BITS``."""

    def build():
        h = _coords(attn.window).to(device)
        first, relu, second = attn.cpb_mlp
        h = apply_linear(h, integer_affine(first.weight, first.bias, device)).clamp_min(0)
        h = apply_linear(h, integer_affine(second.weight, second.bias, device))
        bias = fx.lookup("sigmoid", h)  # 2**(ACT_BITS + 4) * sigmoid = 16 * sigmoid in ACT units
        n = attn.window**2
        return bias[attn.relative_index.view(-1).to(device)].view(n, n, -1).permute(2, 0, 1).contiguous()

    return cached(attn, "position_bias", list(attn.cpb_mlp.parameters()), device, build)


def _attention(attn: WindowAttentionV2, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``x``: [windows·B, n, C] integers; ``mask``: [windows, n, n] booleans (True = excluded) or None."""
    b, n, c = x.shape
    heads, device = attn.heads, x.device
    qkv_params = [attn.qkv.weight, attn.q_bias, attn.v_bias]
    qkv = cached(
        attn, "qkv", qkv_params, device,
        lambda: integer_affine(attn.qkv.weight, torch.cat([attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias]), device),
    )
    qkv = apply_linear(x, qkv).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = fx.l2_normalize(qkv[0], -1), fx.l2_normalize(qkv[1], -1), qkv[2]
    cosine = fx.shift_floor(q @ k.transpose(-2, -1), ACT_BITS)  # |q_i|, |k_i| <= ~2**ACT_BITS: sums < 2**30
    scales = cached(attn, "logit_scale", [attn.logit_scale], device, lambda: _logit_scales(attn.logit_scale).to(device))
    logits = fx.shift_floor(cosine * scales, WEIGHT_BITS) + _position_bias(attn, device).unsqueeze(0)
    if mask is not None:
        w = mask.shape[0]
        probs = fx.softmax(logits.view(b // w, w, heads, n, n), -1, mask.view(1, w, 1, n, n)).view(b, heads, n, n)
    else:
        probs = fx.softmax(logits, -1)
    return run(attn.proj, fx.attend(probs, v).transpose(1, 2).reshape(b, n, c))


@register_exact(SwinV2Block)
def swin_block(block: SwinV2Block, x: torch.Tensor) -> torch.Tensor:
    """``x``: [B, H, W, C] integers (H, W multiples of the window), as ``SwinV2Block.forward``."""
    b, h, w, c = x.shape
    shift = block.shift if min(h, w) > block.window else 0
    shifted = torch.roll(x, (-shift, -shift), (1, 2)) if shift else x
    mask = torch.isinf(shift_mask(h, w, block.window, shift, x.device)) if shift else None
    attn = from_windows(_attention(block.attn, to_windows(shifted, block.window), mask), block.window, b, h, w)
    if shift:
        attn = torch.roll(attn, (shift, shift), (1, 2))
    x = x + run(block.norm1, attn)
    return x + run(block.norm2, run(block.mlp, x))


@register_exact(RSTB)
def residual_swin(rstb: RSTB, x: torch.Tensor) -> torch.Tensor:
    """``x``: [B, C, H, W] integers, as ``RSTB.forward``."""
    _, _, h, w = x.shape
    ph, pw = (-h) % rstb.window, (-w) % rstb.window
    t = F.pad(x, (0, pw, 0, ph)).permute(0, 2, 3, 1)
    for block in rstb.blocks:
        t = swin_block(block, t)
    return x + run(rstb.conv, t.permute(0, 3, 1, 2)[:, :, :h, :w].contiguous())
