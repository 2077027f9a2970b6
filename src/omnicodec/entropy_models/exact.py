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
- ``tanh`` and ELU look their output up in an integer table: entry ``k`` is
  ``round(2**ACT_BITS * f(k / 2**ACT_BITS))``, computed once with Python's ``decimal`` module
  (software arithmetic with correctly rounded ``exp``, the same on every platform), not with
  a libm or GPU ``tanh``/``exp``, which differ in the last bits between implementations.

The output is ``integer / 2**ACT_BITS``. Scales then pick tables by comparison with the
table boundaries, and means enter ``y_hat`` as exactly representable numbers, so every
quantity the decoder derives from the bitstream is bit-identical to the encoder's. Only
the synthesis of the image (``g_s``) stays in float, where an ulp does no harm.

Supported: one layer or an ``nn.Sequential`` of ``Conv1d/2d`` and ``ConvTranspose1d/2d``
(groups 1, dilation 1, zero padding), ``ReLU``, ``LeakyReLU`` (slope in [0, 1]), ``ELU``
(alpha 1), ``Tanh`` and ``Identity``. :meth:`ExactNetwork.supports` says whether a network qualifies.

Composition: inputs are rounded to ``ACT_BITS`` fractional bits, so the output of one exact
network (or a decoded ``y_hat``, an integer plus an exact mean) feeds the next one exactly.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_BITS = 20
ACT_BITS = 12
SLOPE_BITS = 16
EXACT_LIMIT = 2**53 - 1
SCHEME = "fixed1"  # recorded in files; a decoder refuses schemes it does not know

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CONVS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
_FUNCTIONS = {
    nn.Conv1d: F.conv1d,
    nn.Conv2d: F.conv2d,
    nn.ConvTranspose1d: F.conv_transpose1d,
    nn.ConvTranspose2d: F.conv_transpose2d,
}


def _supported(module: nn.Module) -> bool:
    if isinstance(module, _CONVS):
        return module.groups == 1 and all(d == 1 for d in module.dilation) and module.padding_mode == "zeros" and (
            not isinstance(module.padding, str)
        )
    if isinstance(module, nn.LeakyReLU):
        return 0.0 <= module.negative_slope <= 1.0
    if isinstance(module, nn.ELU):
        return module.alpha == 1.0
    return isinstance(module, (nn.ReLU, nn.Identity, nn.Tanh))


TANH_RANGE = 6 << ACT_BITS  # beyond ±6, round(2**ACT_BITS * tanh) is ±2**ACT_BITS
ELU_RANGE = 10 << ACT_BITS  # below -10, round(2**ACT_BITS * (exp(x) - 1)) is -2**ACT_BITS


@lru_cache(maxsize=None)
def _table(name: str) -> torch.Tensor:
    """``round(2**ACT_BITS * f(k / 2**ACT_BITS))`` for the table's range of ``k`` (float64)."""
    one = Decimal(1 << ACT_BITS)
    with localcontext() as ctx:
        ctx.prec = 40
        if name == "tanh":
            ks = range(-TANH_RANGE, TANH_RANGE + 1)
            f = lambda e: (e - 1) / (e + 1)  # noqa: E731 - e = exp(2x)
            values = [f((Decimal(2 * k) / one).exp()) for k in ks]
        elif name == "elu":
            values = [(Decimal(k) / one).exp() - 1 for k in range(-ELU_RANGE, 1)]
        else:  # pragma: no cover - internal
            raise ValueError(name)
        ints = [int((v * one).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)) for v in values]
    return torch.tensor(ints, dtype=torch.float64)


def exact_tanh(h: torch.Tensor) -> torch.Tensor:
    """``tanh`` of integer-valued ``h`` in units of ``2**-ACT_BITS``, by table (same units)."""
    table = _table("tanh").to(h.device)
    return table[(h.clamp(-TANH_RANGE, TANH_RANGE) + TANH_RANGE).long()]


def exact_elu(h: torch.Tensor) -> torch.Tensor:
    """ELU (alpha 1) of integer-valued ``h`` in units of ``2**-ACT_BITS``, by table for ``h < 0``."""
    table = _table("elu").to(h.device)
    return torch.where(h < 0, table[(h.clamp(-ELU_RANGE, 0) + ELU_RANGE).long()], h)


class ExactNetwork:
    """Integer evaluation of a float layer or ``nn.Sequential`` (see the module docstring).

    Holds a reference to the network, not a copy. Each layer's integer weights are derived
    from its current parameters and cached until those change (in place or by replacement),
    so there is nothing to keep in sync.
    """

    def __init__(self, net: nn.Module) -> None:
        if not self.supports(net):
            raise ValueError(f"{type(net).__name__} cannot be evaluated exactly (see omnicodec.entropy_models.exact)")
        self.net = net
        self.layers = list(net) if isinstance(net, nn.Sequential) else [net]

    @staticmethod
    def supports(net: nn.Module | None) -> bool:
        if isinstance(net, nn.Sequential):
            return len(net) > 0 and all(_supported(m) for m in net)
        return isinstance(net, _CONVS) and _supported(net)

    @staticmethod
    def _integer_layer(conv: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Fixed-point weight and bias (float64 holding integers) and the input clamp, cached
        per layer until its parameters change (in place or by replacement)."""
        params = [conv.weight] + ([conv.bias] if conv.bias is not None else [])
        key = (str(device), tuple((p._version, p.data_ptr(), p.dtype) for p in params))
        cached = _CACHE.get(conv)
        if cached is not None and cached[0] == key:
            return cached[1]
        result = ExactNetwork._quantize(conv, device)
        _CACHE[conv] = (key, result)
        return result

    @staticmethod
    def _quantize(conv: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
        weight = torch.round(conv.weight.detach().to(device, torch.float64) * 2.0**WEIGHT_BITS)
        out_dim = 1 if isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d)) else 0
        if conv.bias is not None:
            bias = torch.round(conv.bias.detach().to(device, torch.float64) * 2.0 ** (WEIGHT_BITS + ACT_BITS))
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

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for ``x`` as float64 multiples of ``2**-ACT_BITS``."""
        device = x.device
        with ExitStack() as stack:
            stack.enter_context(torch.autocast(device_type=device.type, enabled=False))
            if device.type == "cuda":  # PyTorch's own im2col + GEMM kernels, not cuDNN's algorithm zoo
                stack.enter_context(torch.backends.cudnn.flags(enabled=False))
            h = torch.round(x.to(torch.float64) * 2.0**ACT_BITS)
            for module in self.layers:
                if isinstance(module, _CONVS):
                    weight, bias, limit = self._integer_layer(module, device)
                    h = h.clamp(-limit, limit)
                    kwargs = {"stride": module.stride, "padding": module.padding}
                    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
                        kwargs["output_padding"] = module.output_padding
                    h = _FUNCTIONS[type(module)](h, weight, bias, **kwargs)
                    h = torch.floor(h * 2.0**-WEIGHT_BITS)
                elif isinstance(module, nn.LeakyReLU):
                    slope = round(module.negative_slope * 2**SLOPE_BITS)
                    h = torch.where(h < 0, torch.floor(h * slope * 2.0**-SLOPE_BITS), h)
                elif isinstance(module, nn.ReLU):
                    h = h.clamp_min(0)
                elif isinstance(module, nn.Tanh):
                    h = exact_tanh(h)
                elif isinstance(module, nn.ELU):
                    h = exact_elu(h)
        return h * 2.0**-ACT_BITS
