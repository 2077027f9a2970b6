"""Factorized prior ("entropy bottleneck") of Ballé et al. 2018, appendix 6.1.

Each channel has its own univariate density, given as the derivative of a learned monotone
cumulative ``c(x)`` built from small per-channel matrices, biases and tanh gates. The
probability of an integer ``v`` is ``c(v + 1/2) - c(v - 1/2)``.

Choices:
- symbols are plain ``round(z)`` (no per-channel median offset), so ``z_hat`` is an integer
  tensor in every mode; a median that drifts from zero costs nothing but a shifted table.
- each channel's table spans ``floor(q_low) .. ceil(q_high)``, where the quantiles are learned
  by an auxiliary loss so that ``tail_mass`` of the density lies outside; values beyond are
  coded through the escape. The span is capped at ``max_table_length`` symbols.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..coding import Bitstream, CdfTables, build_tables, decode, encode
from ..errors import CodingError
from .frozen import FrozenTables, tensor_bytes
from .ops import add_uniform_noise, no_autocast


class EntropyBottleneck(FrozenTables):
    def __init__(
        self,
        channels: int,
        filters: tuple[int, ...] = (3, 3, 3),
        init_scale: float = 10.0,
        tail_mass: float = 1e-9,
        precision: int = 16,
        max_table_length: int = 4095,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.tail_mass = float(tail_mass)
        self.precision = int(precision)
        self.max_table_length = int(max_table_length)

        dims = (1,) + self.filters + (1,)
        scale = init_scale ** (1.0 / (len(self.filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        q = torch.tensor([-init_scale, 0.0, init_scale]).expand(channels, 1, 3).clone()
        self.quantiles = nn.Parameter(q)
        target = math.log(2.0 / self.tail_mass - 1.0)
        self.register_buffer("_target", torch.tensor([-target, 0.0, target]), persistent=False)

    # --- density -----------------------------------------------------------------------

    def _logits_cumulative(self, x: torch.Tensor, stop_gradient: bool = False) -> torch.Tensor:
        """``x``: [C, 1, N] -> logits of the cumulative, same shape.

        ``stop_gradient`` keeps the density fixed (for the quantile loss, which must move
        only the quantiles).
        """

        def param(p: torch.Tensor) -> torch.Tensor:
            p = p.to(x.dtype)
            return p.detach() if stop_gradient else p

        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(param(m)), x) + param(b)
            if i < len(self.factors):
                x = x + torch.tanh(param(self.factors[i])) * torch.tanh(x)
        return x

    def _likelihood_cl(self, v: torch.Tensor) -> torch.Tensor:
        """Probability of the unit bin around each value; ``v``: [C, 1, N]."""
        lower = self._logits_cumulative(v - 0.5)
        upper = self._logits_cumulative(v + 0.5)
        # evaluate in the tail where both sigmoids are small, for precision
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def likelihood(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Per-element probability of (noisy or rounded) ``z_hat`` [B, C, *spatial]."""
        c = z_hat.shape[1]
        flat = z_hat.float().transpose(0, 1).reshape(c, 1, -1)
        with no_autocast(z_hat.device):
            lik = self._likelihood_cl(flat).clamp_min(1e-9)
        return lik.reshape(c, z_hat.shape[0], *z_hat.shape[2:]).transpose(0, 1)

    def aux_loss(self) -> torch.Tensor:
        """Pulls the quantiles to where the cumulative hits tail/2, 1/2 and 1 - tail/2."""
        with no_autocast(self.quantiles.device):
            logits = self._logits_cumulative(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self._target).sum()

    def quantile_parameters(self) -> list[nn.Parameter]:
        return [self.quantiles]

    # --- training / evaluation -----------------------------------------------------------

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = z.float()
        z_hat = add_uniform_noise(z) if self.training else torch.round(z)
        return z_hat, self.likelihood(z_hat)

    # --- coding ---------------------------------------------------------------------------

    def _fingerprint_parts(self) -> list[bytes]:
        parts = [tensor_bytes(p) for p in self.parameters()]
        parts.append(repr((self.tail_mass, self.precision, self.max_table_length)).encode())
        return parts

    @torch.no_grad()
    def _build_tables(self) -> CdfTables:
        q = self.quantiles.detach().double()
        med = torch.round(q[:, 0, 1])
        half = self.max_table_length // 2
        lo = torch.maximum(torch.minimum(torch.floor(q[:, 0, 0]), med), med - half).long().cpu()
        hi = torch.minimum(torch.maximum(torch.ceil(q[:, 0, 2]), med), med + half).long().cpu()
        base = int(lo.min())
        grid = torch.arange(base, int(hi.max()) + 1, dtype=torch.float64, device=q.device)
        lik = self._likelihood_cl(grid.expand(self.channels, 1, -1)).view(self.channels, -1).cpu()
        pmfs = [lik[c, int(lo[c]) - base : int(hi[c]) - base + 1].numpy() for c in range(self.channels)]
        return build_tables(pmfs, lo.tolist(), self.precision)

    def symbols(self, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Integer symbols and per-position table indices (the channel) for ``z``."""
        sym = torch.round(z.float()).to(torch.int64).cpu().numpy()
        if sym.size and (sym.min() < -(2**31) or sym.max() > 2**31 - 1):
            raise CodingError("latent values exceed the int32 range")
        return sym.astype(np.int32), _channel_index(sym.shape)

    def dequantize(self, symbols: np.ndarray, device=None) -> torch.Tensor:
        return torch.from_numpy(np.asarray(symbols, dtype=np.float32)).to(device)

    def compress(self, z: torch.Tensor) -> tuple[Bitstream, torch.Tensor]:
        tables = self.tables()
        sym, index = self.symbols(z)
        data = encode(sym, index, tables)
        return Bitstream({"": data}, {"": list(z.shape)}), self.dequantize(sym, z.device)

    def decompress(self, bitstream: Bitstream, device=None) -> torch.Tensor:
        tables = self.tables()
        shape = tuple(bitstream.shapes[""])
        sym = decode(bitstream.streams[""], _channel_index(shape), tables)
        return self.dequantize(sym, device)


def _channel_index(shape: tuple[int, ...]) -> np.ndarray:
    """Table index of every position of a [B, C, ...] tensor: its channel."""
    index = np.arange(shape[1], dtype=np.int32).reshape((1, -1) + (1,) * (len(shape) - 2))
    return np.ascontiguousarray(np.broadcast_to(index, shape))
