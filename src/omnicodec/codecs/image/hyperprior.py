"""Mean-scale hyperprior image codec (Minnen, Ballé & Toderici 2018), with or without a context.

``g_a``: four 5×5 stride-2 convolutions with GDN (3 → N → N → N → M), so ``y`` is 1/16 of the
image; ``h_a``: 3×3 then two 5×5 stride-2 convolutions with leaky ReLU (M → N → N → N); ``h_s``
mirrors it with transposed convolutions and ends in ``2M`` channels (scales, means);
``g_s`` mirrors ``g_a`` with inverse GDN.

``context``: ``"none"`` codes ``y`` with the hyperprior's scales and means alone;
``"checkerboard"`` codes it in two passes (He et al. 2021): the anchors as before, the other half
with a 5×5 context of the decoded anchors, the networks correcting ``h_s``'s scales and means (they
start at zero, so a trained model without a context becomes one with it and codes exactly as before:
``python -m omnicodec.train.convert add-context``).

``skip_threshold`` τ > 0 turns on entropy skip: an element of ``y`` whose predicted scale is below τ is
not coded and decodes to its predicted mean (the decoder finds the same elements from its own scales;
τ travels in the file's header, so files coded with another τ, or none, decode all the same). The
rounding of such an element nearly always lands on its mean anyway; skipping saves the bits that
the rare exceptions cost in every element's code.

With ``levels`` > 0 the codec is variable-rate: gain units (Cui et al. 2021) give it a continuous
quality range ``[1, levels]`` (see :mod:`.base`); ``default_quality`` is the quality used when a
caller names none.
"""

from __future__ import annotations

from ...entropy_models import CheckerboardLatentCodec, HyperpriorLatentCodec, MeanScaleHyperprior, hyper_transforms
from ...layers import GainUnits, gdn_analysis, gdn_synthesis
from ..base import CHANNELS
from ..rate import LEVELS, QUALITIES
from ..registry import register_codec
from .base import STRIDE, LatentImageCodec

__all__ = ["CONTEXTS", "HyperpriorImageCodec", "STRIDE", "latent_codec"]

CONTEXTS = ("none", "checkerboard")
MAX_SKIP_THRESHOLD = 10.0  # a scale of 10 quantisation steps: skipping above it would drop real detail


def latent_codec(N: int, M: int, context: str = "none", skip_threshold: float = 0.0) -> HyperpriorLatentCodec:
    """The image model's latent codec for ``y`` of ``M`` channels and ``z`` of ``N`` (``context``,
    ``skip_threshold``: see the module)."""
    if context not in CONTEXTS:
        raise ValueError(f"context {context!r} is not one of {', '.join(CONTEXTS)}")
    if not 0.0 <= skip_threshold <= MAX_SKIP_THRESHOLD:
        raise ValueError(f"skip_threshold must be from 0 to {MAX_SKIP_THRESHOLD}, got {skip_threshold!r}")
    if context == "checkerboard":
        return HyperpriorLatentCodec(*hyper_transforms(M, N, 2 * M), z_channels=N,
                                     y_codec=CheckerboardLatentCodec(M, 2 * M, residual=True),
                                     skip_threshold=skip_threshold)
    return MeanScaleHyperprior(*hyper_transforms(M, N, 2 * M), z_channels=N, y_channels=M,
                               skip_threshold=skip_threshold)


@register_codec("image/hyperprior")
class HyperpriorImageCodec(LatentImageCodec):
    def __init__(
        self, N: int = 128, M: int = 192, levels: int = 0, default_quality: float = 3.0, context: str = "none",
        skip_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.N, self.M, self.levels, self.context = int(N), int(M), int(levels), context
        self.skip_threshold = float(skip_threshold)
        if self.levels:
            self.gains = GainUnits(self.M, self.levels)
            self.default_quality = self._quality(min(float(default_quality), self.levels))
        self.y_channels, self.z_channels = self.M, self.N
        N, M = self.N, self.M
        self.g_a = gdn_analysis(N, M)
        self.g_s = gdn_synthesis(M, N)
        self.latent = latent_codec(N, M, context, self.skip_threshold)

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": CHANNELS, "levels": LEVELS, "default_quality": QUALITIES,
                "skip_threshold": (0.0, MAX_SKIP_THRESHOLD)}

    def config(self) -> dict:
        config: dict = {"N": self.N, "M": self.M}
        if self.levels:
            config.update(levels=self.levels, default_quality=self.default_quality)
        if self.context != "none":
            config["context"] = self.context
        if self.skip_threshold > 0:
            config["skip_threshold"] = self.skip_threshold
        return config
