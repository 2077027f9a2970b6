"""FEDS student: the efficient model distilled from :mod:`.feds_teacher`.

Convolutions and residual blocks only (no attention), fewer channels and a smaller latent,
with the same entropy-model family as the teacher (hyperprior, channel-wise slices of 32
with a checkerboard inside each, LRP). ``g_a`` has the teacher's four-stage layout, so the
outputs of its first three stages can be projected onto the teacher's for feature
alignment (see :mod:`omnicodec.train.distill`). Defaults: N=96, M=192, hyper-latent 96.
"""

from __future__ import annotations

from torch import nn

from ...layers import ResidualBlock, SubPixelConv, conv, deconv
from ..base import CHANNELS, MAX_CHANNELS
from ..registry import register_codec
from .base import LatentImageCodec
from .feds_teacher import channelwise_hyperprior


@register_codec("image/feds-student")
class FEDSStudent(LatentImageCodec):
    def __init__(self, N: int = 96, M: int = 192, hyper_channels: int = 96, context_hidden: int = 96) -> None:
        super().__init__()
        self.N, self.M, self.hyper_channels, self.context_hidden = int(N), int(M), int(hyper_channels), int(context_hidden)
        self.y_channels, self.z_channels = self.M, self.hyper_channels
        N, M = self.N, self.M
        self.g_a = nn.Sequential(
            nn.Sequential(conv(3, N, 5), ResidualBlock(N)),
            nn.Sequential(conv(N, N, 3), ResidualBlock(N)),
            nn.Sequential(conv(N, N, 3), ResidualBlock(N)),
            conv(N, M, 3),
        )
        self.g_s = nn.Sequential(
            nn.Sequential(deconv(M, N, 3), ResidualBlock(N)),
            nn.Sequential(deconv(N, N, 3), ResidualBlock(N)),
            nn.Sequential(deconv(N, N, 3), ResidualBlock(N)),
            SubPixelConv(N, 3),
        )
        self.latent = channelwise_hyperprior(M, self.hyper_channels, self.context_hidden)

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": (32, MAX_CHANNELS), "hyper_channels": CHANNELS, "context_hidden": CHANNELS}

    def config(self) -> dict:
        return {"N": self.N, "M": self.M, "hyper_channels": self.hyper_channels, "context_hidden": self.context_hidden}
