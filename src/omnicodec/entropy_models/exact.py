"""Exact entropy parameters: a hyper-synthesis evaluated in fixed point, identical on every machine.

Why. The decoder must select the same probability table as the encoder for every symbol.
Tables are selected by predicted scales. A float network gives results that differ in the
last bits between CPU and GPU, between thread counts and between library versions; a scale
that lies on a table boundary then selects different tables on the two sides and the rest
of the stream decodes to garbage (the stream's check value turns that into a named error,
but the file is still lost).

Scheme (integer networks, Ballé, Johnston & Minnen 2019, in an "exact float64" form). At
coding time the network is evaluated on integers:

- weights are rounded to fixed point with ``WEIGHT_BITS`` fractional bits and biases with
  ``WEIGHT_BITS + ACT_BITS``. Both are ``round(p * 2**k)`` of the stored float parameters,
  an operation that is exact and identical everywhere;
- activations are integers with ``ACT_BITS`` fractional bits (the input ``z_hat`` is
  integer-valued already);
- each convolution runs in float64 on these integers. Every product and every partial sum
  is an integer of magnitude below 2**53, so the result is exact whatever the order of
  summation: CPU or GPU, any thread count, any GEMM blocking gives the same integers. The
  bound is guaranteed by construction, not hoped for: before each layer the input is
  clamped to ``(2**53 - 1 - max|b|) // max_c sum|W_c|``, computed from the integer weights
  (in practice far above any real activation, so the clamp never acts on sane inputs);
- the accumulator returns to ``ACT_BITS`` by an exact division by a power of two and a
  floor; a leaky ReLU multiplies by its slope in ``SLOPE_BITS`` fixed point and floors;
- ``tanh``, ELU and GELU look their output up in an integer table: entry ``k`` is
  ``round(2**ACT_BITS * f(k / 2**ACT_BITS))``, the same on every platform (see
  :mod:`.fixedpoint`), not a libm or GPU ``tanh``/``exp``/``erf``, which differ in the last
  bits between implementations;
- attention, LayerNorm, softmax and bilinear sampling (S2LIC's SwinV2 block and ACGC
  context) use the integer operations of :mod:`.fixedpoint`: int64 moments, integer square
  roots, floor divisions and an ``exp`` table.

The output is ``integer / 2**ACT_BITS``. Scales then pick tables by comparison with the
table boundaries, and means enter ``y_hat`` as exactly representable numbers, so every
quantity the decoder derives from the bitstream is bit-identical to the encoder's. Only
the synthesis of the image (``g_s``) stays in float, where an ulp does no harm.

Supported: one layer or an ``nn.Sequential`` (nested too) of ``Conv1d/2d`` (any groups) and
``ConvTranspose1d/2d`` (groups 1), all with dilation 1 and zero padding, ``Linear`` (on the
last dimension), ``LayerNorm`` (over the last dimension), ``ReLU``, ``LeakyReLU`` (slope in
[0, 1]), ``ELU`` (alpha 1), ``GELU`` (erf form), ``Tanh`` and ``Identity``, plus the modules
registered with :func:`register_exact` (the attention contexts register their integer
forms next to their definitions, the SwinV2 blocks in :mod:`.exact_swin`, GDN and IGDN in
:mod:`.exact_gdn`, so that a whole GDN analysis or synthesis transform runs exactly). :meth:`ExactNetwork.supports`
says whether a network qualifies.

Composition: inputs are rounded to ``ACT_BITS`` fractional bits, so the output of one exact
network (or a decoded ``y_hat``, an integer plus an exact mean) feeds the next one exactly.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import ExitStack

import torch
import torch.nn.functional as F
from torch import nn

from . import fixedpoint as fx
from .fixedpoint import ACT_BITS, EXACT_LIMIT, SLOPE_BITS, WEIGHT_BITS  # noqa: F401 - part of this module's API
from .fixedpoint import elu as exact_elu  # noqa: F401 - ELU of integers in units of 2**-ACT_BITS, by table
from .fixedpoint import tanh as exact_tanh  # noqa: F401 - tanh of integers in units of 2**-ACT_BITS, by table

SCHEME = "fixed1"  # recorded in files; a decoder refuses schemes it does not know

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CONVS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d)
_FUNCTIONS = {
    nn.Conv1d: F.conv1d,
    nn.Conv2d: F.conv2d,
    nn.ConvTranspose1d: F.conv_transpose1d,
    nn.ConvTranspose2d: F.conv_transpose2d,
}
# type -> integer forward(module, h); h holds integers in units of 2**-ACT_BITS
_REGISTERED: dict[type, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {}


def register_exact(cls: type) -> Callable:
    """Decorator: ``fn(module, h) -> h`` is the integer form of modules of exactly type ``cls``."""

    def decorate(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> Callable:
        _REGISTERED[cls] = fn
        return fn

    return decorate


def _supported(module: nn.Module) -> bool:
    if isinstance(module, _CONVS):
        groups_ok = module.groups == 1 or not isinstance(module, _TRANSPOSED)
        return groups_ok and all(d == 1 for d in module.dilation) and module.padding_mode == "zeros" and (
            not isinstance(module.padding, str)
        )
    if isinstance(module, nn.Sequential):
        return len(module) > 0 and all(_supported(m) for m in module)
    if isinstance(module, nn.LeakyReLU):
        return 0.0 <= module.negative_slope <= 1.0
    if isinstance(module, nn.ELU):
        return module.alpha == 1.0
    if isinstance(module, nn.GELU):
        return module.approximate == "none"
    if isinstance(module, nn.LayerNorm):
        return len(module.normalized_shape) == 1
    if type(module) in _REGISTERED:
        return True
    return isinstance(module, (nn.ReLU, nn.Identity, nn.Tanh, nn.Linear))


def cached(owner: nn.Module, name: str, params: list[torch.Tensor], device, build: Callable):
    """``build()``, cached per ``owner`` and ``name`` until one of ``params`` changes (in place or
    by replacement) or the device does."""
    key = (str(device), tuple((p._version, p.data_ptr(), p.dtype) for p in params))
    slot = _CACHE.setdefault(owner, {})
    hit = slot.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = build()
    slot[name] = (key, value)
    return value


def integer_affine(
    weight: torch.Tensor, bias: torch.Tensor | None, device, out_dim: int = 0
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Fixed-point weight and bias (float64 holding integers) and the input clamp that keeps
    every product and partial sum below 2**53 (``out_dim``: the weight's output axis)."""
    weight = torch.round(weight.detach().to(device, torch.float64) * 2.0**WEIGHT_BITS)
    if bias is not None:
        bias = torch.round(bias.detach().to(device, torch.float64) * 2.0 ** (WEIGHT_BITS + ACT_BITS))
    else:
        bias = torch.zeros(weight.shape[out_dim], dtype=torch.float64, device=device)
    # Upper bound of sum_i |w_i| over the inputs of any output element (exact: integers < 2**53).
    l1 = weight.abs().transpose(0, out_dim).flatten(1).sum(1)
    max_l1, max_bias = int(l1.max().item()), int(bias.abs().max().item())
    if max_l1 == 0:
        return weight, bias, EXACT_LIMIT
    limit = (EXACT_LIMIT - max_bias) // max_l1
    if limit < 2 ** (ACT_BITS + 8):
        raise ValueError("weights too large for exact fixed-point evaluation")
    return weight, bias, limit


def apply_linear(h: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor, int]) -> torch.Tensor:
    """``h @ weight.T + bias`` on the last dimension for an :func:`integer_affine` triple."""
    weight, bias, limit = affine
    return fx.shift_floor(F.linear(h.clamp(-limit, limit), weight, bias), WEIGHT_BITS)


def linear(owner: nn.Module, name: str, weight: torch.Tensor, bias: torch.Tensor | None, h: torch.Tensor):
    """``h @ weight.T + bias`` on the last dimension, in fixed point (units ``2**-ACT_BITS``)."""
    params = [weight] + ([bias] if bias is not None else [])
    return apply_linear(h, cached(owner, name, params, h.device, lambda: integer_affine(weight, bias, h.device)))


def _conv(module: nn.Module, h: torch.Tensor) -> torch.Tensor:
    out_dim = 1 if isinstance(module, _TRANSPOSED) else 0
    weight, bias, limit = cached(
        module, "conv", [p for p in (module.weight, module.bias) if p is not None], h.device,
        lambda: integer_affine(module.weight, module.bias, h.device, out_dim),
    )
    kwargs = {"stride": module.stride, "padding": module.padding, "groups": module.groups}
    if isinstance(module, _TRANSPOSED):
        kwargs["output_padding"] = module.output_padding
    return fx.shift_floor(_FUNCTIONS[type(module)](h.clamp(-limit, limit), weight, bias, **kwargs), WEIGHT_BITS)


def _layer_norm(module: nn.LayerNorm, h: torch.Tensor) -> torch.Tensor:
    def build():
        w = None if module.weight is None else torch.round(module.weight.detach().to(h.device, torch.float64) * 2.0**WEIGHT_BITS)
        b = None if module.bias is None else torch.round(module.bias.detach().to(h.device, torch.float64) * 2.0**ACT_BITS)
        return w, b

    params = [p for p in (module.weight, module.bias) if p is not None]
    weight, bias = cached(module, "norm", params, h.device, build)
    return fx.layer_norm(h, weight, bias, module.eps)


def run(module: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """The integer form of one supported module (a ``Sequential`` runs its layers in order)."""
    if isinstance(module, nn.Sequential):
        for layer in module:
            h = run(layer, h)
        return h
    if type(module) in _REGISTERED:
        return _REGISTERED[type(module)](module, h)
    if isinstance(module, _CONVS):
        return _conv(module, h)
    if isinstance(module, nn.Linear):
        return linear(module, "linear", module.weight, module.bias, h)
    if isinstance(module, nn.LayerNorm):
        return _layer_norm(module, h)
    if isinstance(module, nn.LeakyReLU):
        slope = round(module.negative_slope * 2**SLOPE_BITS)
        return torch.where(h < 0, torch.floor(h * slope * 2.0**-SLOPE_BITS), h)
    if isinstance(module, nn.ReLU):
        return h.clamp_min(0)
    if isinstance(module, nn.Tanh):
        return fx.tanh(h)
    if isinstance(module, nn.ELU):
        return fx.elu(h)
    if isinstance(module, nn.GELU):
        return fx.gelu(h)
    return h  # Identity


class ExactNetwork:
    """Integer evaluation of a supported layer or ``nn.Sequential`` (see the module docstring).

    Holds a reference to the network, not a copy. Each layer's integer weights are derived
    from its current parameters and cached until those change (in place or by replacement),
    so there is nothing to keep in sync.
    """

    def __init__(self, net: nn.Module) -> None:
        if not self.supports(net):
            raise ValueError(f"{type(net).__name__} cannot be evaluated exactly (see omnicodec.entropy_models.exact)")
        self.net = net

    @staticmethod
    def supports(net: nn.Module | None) -> bool:
        if isinstance(net, nn.Sequential):
            return _supported(net)
        return (isinstance(net, _CONVS) or type(net) in _REGISTERED) and _supported(net)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for ``x`` as float64 multiples of ``2**-ACT_BITS``."""
        device = x.device
        with ExitStack() as stack:
            stack.enter_context(torch.autocast(device_type=device.type, enabled=False))
            if device.type == "cuda":  # PyTorch's own im2col + GEMM kernels, not cuDNN's algorithm zoo
                stack.enter_context(torch.backends.cudnn.flags(enabled=False))
            h = run(self.net, torch.round(x.to(torch.float64) * 2.0**ACT_BITS))
        return h * 2.0**-ACT_BITS
