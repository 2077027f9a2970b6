"""Mean-scale hyperprior image codec (Minnen, Ballé & Toderici 2018, without the context model).

``g_a``: four 5×5 stride-2 convolutions with GDN (3 → N → N → N → M), so ``y`` is 1/16 of the
image; ``h_a``: 3×3 then two 5×5 stride-2 convolutions with leaky ReLU (M → N → N → N); ``h_s``
mirrors it with transposed convolutions and ends in ``2M`` channels (scales, means);
``g_s`` mirrors ``g_a`` with inverse GDN.

With ``levels`` > 0 the codec is variable-rate: gain units (Cui et al. 2021) give it a continuous
quality range ``[1, levels]`` (see :mod:`.base`); ``default_quality`` is the quality used when a
caller names none.
"""

from __future__ import annotations

from ...entropy_models import MeanScaleHyperprior, hyper_transforms
from ...layers import GainUnits, gdn_analysis, gdn_synthesis
from ..base import CHANNELS
from ..rate import LEVELS, QUALITIES
from ..registry import register_codec
from .base import STRIDE, LatentImageCodec

__all__ = ["HyperpriorImageCodec", "STRIDE"]


@register_codec("image/hyperprior")
class HyperpriorImageCodec(LatentImageCodec):
    def __init__(self, N: int = 128, M: int = 192, levels: int = 0, default_quality: float = 3.0) -> None:
        super().__init__()
        self.N, self.M, self.levels = int(N), int(M), int(levels)
        if self.levels:
            self.gains = GainUnits(self.M, self.levels)
            self.default_quality = self._quality(min(float(default_quality), self.levels))
        self.y_channels, self.z_channels = self.M, self.N
        N, M = self.N, self.M
        self.g_a = gdn_analysis(N, M)
        self.g_s = gdn_synthesis(M, N)
        self.latent = MeanScaleHyperprior(*hyper_transforms(M, N, 2 * M), z_channels=N, y_channels=M)

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": CHANNELS, "levels": LEVELS, "default_quality": QUALITIES}

    def config(self) -> dict:
        if not self.levels:
            return {"N": self.N, "M": self.M}
        return {"N": self.N, "M": self.M, "levels": self.levels, "default_quality": self.default_quality}
