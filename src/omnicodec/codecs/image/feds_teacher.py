"""FEDS teacher (Fu, Liang, Fang & Han 2025, arXiv 2503.06399).

The large model a student is distilled from: SwinV2 attention modules, extra residual
blocks and expanded latent channels, with the shared entropy-model family (hyperprior,
channel-wise slices of 32 with a checkerboard inside each, LRP).

Our choices (the paper publishes no code or channel counts): ``g_a`` has four stages
(``[conv5×5/2, residual block, RSTB]``, twice ``[conv3×3/2, residual block, RSTB]``, then
``conv3×3/2`` to M) so that a student's first three stages can be aligned with the
teacher's; ``g_s`` mirrors it and ends in a sub-pixel convolution. Defaults: N=192, M=384
(the "expanded" latent: 12 slices, against 192 for the student), hyper-latent 192, RSTB
depth 2 with 8 heads, window 8.
"""

from __future__ import annotations

from torch import nn

from ...entropy_models import ChannelwiseLatentCodec, HyperpriorLatentCodec, equal_slices, hyper_transforms
from ...layers import RSTB, ResidualBlock, SubPixelConv, conv, deconv
from ..base import CHANNELS, MAX_CHANNELS
from ..registry import register_codec
from .base import LatentImageCodec


def channelwise_hyperprior(M: int, Nz: int, hidden: int, slice_channels: int = 32) -> HyperpriorLatentCodec:
    """Hyperprior + channel-wise slices with a checkerboard inside each and LRP."""
    h_a, h_s = hyper_transforms(M, Nz, 2 * M)
    y_codec = ChannelwiseLatentCodec(equal_slices(M, M // slice_channels), 2 * M, spatial="checkerboard", hidden=hidden)
    return HyperpriorLatentCodec(h_a, h_s, Nz, y_codec)


@register_codec("image/feds-teacher")
class FEDSTeacher(LatentImageCodec):
    def __init__(
        self, N: int = 192, M: int = 384, hyper_channels: int = 192, depth: int = 2, heads: int = 8, window: int = 8,
        context_hidden: int = 192,
    ) -> None:
        super().__init__()
        self.N, self.M, self.hyper_channels = int(N), int(M), int(hyper_channels)
        self.depth, self.heads, self.window, self.context_hidden = int(depth), int(heads), int(window), int(context_hidden)
        self.y_channels, self.z_channels = self.M, self.hyper_channels
        N, M = self.N, self.M

        def swin() -> RSTB:
            return RSTB(N, self.depth, self.heads, self.window)

        self.g_a = nn.Sequential(
            nn.Sequential(conv(3, N, 5), ResidualBlock(N), swin()),
            nn.Sequential(conv(N, N, 3), ResidualBlock(N), swin()),
            nn.Sequential(conv(N, N, 3), ResidualBlock(N), swin()),
            conv(N, M, 3),
        )
        self.g_s = nn.Sequential(
            nn.Sequential(deconv(M, N, 3), ResidualBlock(N), swin()),
            nn.Sequential(deconv(N, N, 3), ResidualBlock(N), swin()),
            nn.Sequential(deconv(N, N, 3), ResidualBlock(N), swin()),
            SubPixelConv(N, 3),
        )
        self.latent = channelwise_hyperprior(M, self.hyper_channels, self.context_hidden)

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": (32, MAX_CHANNELS), "hyper_channels": CHANNELS, "context_hidden": CHANNELS,
                "depth": (0, 8), "heads": (1, 64), "window": (1, 64)}

    def config(self) -> dict:
        return {
            "N": self.N, "M": self.M, "hyper_channels": self.hyper_channels, "depth": self.depth, "heads": self.heads,
            "window": self.window, "context_hidden": self.context_hidden,
        }
