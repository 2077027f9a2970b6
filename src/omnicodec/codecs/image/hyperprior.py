"""Mean-scale hyperprior image codec (Minnen, Ballé & Toderici 2018, without the context model).

``g_a``: four 5×5 stride-2 convolutions with GDN (3 → N → N → N → M), so ``y`` is 1/16 of the
image; ``h_a``: 3×3 then two 5×5 stride-2 convolutions with leaky ReLU (M → N → N → N); ``h_s``
mirrors it with transposed convolutions and ends in ``2M`` channels (scales, means);
``g_s`` mirrors ``g_a`` with inverse GDN.
"""

from __future__ import annotations

from torch import nn

from ...entropy_models import MeanScaleHyperprior
from ...layers import GDN, conv, deconv
from ..base import CHANNELS
from ..registry import register_codec
from .base import STRIDE, LatentImageCodec

__all__ = ["HyperpriorImageCodec", "STRIDE"]


@register_codec("image/hyperprior")
class HyperpriorImageCodec(LatentImageCodec):
    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.y_channels, self.z_channels = self.M, self.N
        N, M = self.N, self.M
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        h_a = nn.Sequential(
            conv(M, N, kernel_size=3, stride=1), nn.LeakyReLU(inplace=True),
            conv(N, N), nn.LeakyReLU(inplace=True), conv(N, N),
        )
        h_s = nn.Sequential(
            deconv(N, M), nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2), nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, 2 * M, kernel_size=3, stride=1),
        )
        self.latent = MeanScaleHyperprior(h_a, h_s, z_channels=N, y_channels=M)

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": CHANNELS}

    def config(self) -> dict:
        return {"N": self.N, "M": self.M}
