"""S2LIC (Wang, Liang, Liang & Fu 2024, arXiv 2403.14471): SwinV2 transforms and the ACGC
entropy model on a channel-wise checkerboard.

Transforms (from the public code's layout): the enhancement module, then
conv5×5/2 (3 → N) → RSTB → conv3×3/2 → RSTB → conv3×3/2 → RSTB → conv3×3/2 (→ M); the
synthesis mirrors it with transposed 3×3 convolutions and ends with a sub-pixel convolution
and the enhancement module run in reverse. RSTBs hold SwinV2 blocks (window 8, MLP ratio 4).
Entropy model: a hyperprior (factorized ``z``, ``h_s`` giving side features for means and
scales), ``y`` split into slices (10×32 for M=320), each slice with an ACGC context (adaptive
channel-wise attention and deformable global-inter attention over the decoded earlier
slices), a checkerboard inside the slice whose non-anchors really see the decoded anchors,
separate 1×1 entropy-parameter networks for anchors and non-anchors, and LRP (also 1×1).

Our choices where the paper or its code is silent:
- depths [1, 2, 3, 1, 1] and heads [4, 8, 16, 16, 16]: the first three stages are the three
  RSTBs of ``g_a`` (mirrored in ``g_s``), the last two are one RSTB in ``h_a`` and one in ``h_s``;
- the enhancement module is invertible (affine couplings with dense-block subnets), which is
  what "reversed at the decoder" means most literally;
- the deformable attention is Deformable DETR's single-scale form (4 heads, 4 points);
- ``h_s`` ends in a transposed convolution to M channels and a 1×1 convolution to the 2M side
  features; LRP networks are 1×1 convolutions like the entropy-parameter networks;
- ``image/s2lic-small`` keeps the architecture at N=80, M=160 (5×32 slices), hyper-latent 80,
  depths [1, 1, 2, 1, 1], heads [4, 4, 8, 8, 8]: under 4 M parameters, so its float16 weights
  stay below 8 MB.
"""

from __future__ import annotations

from torch import nn

from ...entropy_models import ChannelwiseLatentCodec, HyperpriorLatentCodec, equal_slices
from ...entropy_models.attention import ACGCContext
from ...layers import RSTB, EnhancementModule, SubPixelConv, conv, deconv
from ..base import CHANNELS
from ..registry import register_codec
from .base import LatentImageCodec, pixels_to_float


@register_codec("image/s2lic")
class S2LIC(LatentImageCodec):
    def __init__(
        self,
        N: int = 192,
        M: int = 320,
        hyper_channels: int = 192,
        slice_channels: int = 32,
        depths: tuple[int, ...] = (1, 2, 3, 1, 1),
        heads: tuple[int, ...] = (4, 8, 16, 16, 16),
        window: int = 8,
        context_dim: int = 128,
        couplings: int = 2,
    ) -> None:
        super().__init__()
        self.N, self.M, self.hyper_channels, self.slice_channels = int(N), int(M), int(hyper_channels), int(slice_channels)
        self.depths, self.heads = [int(d) for d in depths], [int(h) for h in heads]
        self.window, self.context_dim, self.couplings = int(window), int(context_dim), int(couplings)
        if len(self.depths) != 5 or len(self.heads) != 5:
            raise ValueError("S2LIC needs five depths and five head counts")
        self.y_channels, self.z_channels = self.M, self.hyper_channels
        N, M, Nz, d, h, w = self.N, self.M, self.hyper_channels, self.depths, self.heads, self.window

        self.enhancement = EnhancementModule(3, couplings)
        self.g_a = nn.Sequential(
            conv(3, N, 5), RSTB(N, d[0], h[0], w), conv(N, N, 3), RSTB(N, d[1], h[1], w),
            conv(N, N, 3), RSTB(N, d[2], h[2], w), conv(N, M, 3),
        )
        self.g_s = nn.Sequential(
            deconv(M, N, 3), RSTB(N, d[2], h[2], w), deconv(N, N, 3), RSTB(N, d[1], h[1], w),
            deconv(N, N, 3), RSTB(N, d[0], h[0], w), SubPixelConv(N, 3),
        )
        h_a = nn.Sequential(
            conv(M, N, 3, 1), nn.GELU(), conv(N, N, 3), RSTB(N, d[3], h[3], w), conv(N, Nz, 3),
        )
        h_s = nn.Sequential(deconv(Nz, N, 3), RSTB(N, d[4], h[4], w), deconv(N, M, 3), nn.GELU(), conv(M, 2 * M, 1, 1))
        slices = equal_slices(M, M // self.slice_channels)

        def context(i: int, side: int, previous: int, out: int) -> nn.Module:
            return ACGCContext(side, previous, out, dim=self.context_dim)

        y_codec = ChannelwiseLatentCodec(
            slices, 2 * M, spatial="checkerboard", lrp=True, context_factory=context, separate_anchor_params=True,
            hidden=self.context_dim, lrp_kernel_size=1,
        )
        self.latent = HyperpriorLatentCodec(h_a, h_s, Nz, y_codec)

    def analysis(self, x):
        return self.g_a(self.enhancement(pixels_to_float(x)))

    def synthesis(self, y_hat):
        return self.enhancement.inverse(self.g_s(y_hat))

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": CHANNELS, "hyper_channels": CHANNELS, "slice_channels": CHANNELS,
                "depths": (0, 8), "heads": (1, 64), "window": (1, 64), "context_dim": CHANNELS, "couplings": (0, 8)}

    def config(self) -> dict:
        return {
            "N": self.N, "M": self.M, "hyper_channels": self.hyper_channels, "slice_channels": self.slice_channels,
            "depths": self.depths, "heads": self.heads, "window": self.window, "context_dim": self.context_dim,
            "couplings": self.couplings,
        }


@register_codec("image/s2lic-small")
class S2LICSmall(S2LIC):
    """S2LIC at a size whose float16 weights fit in 8 MB."""

    def __init__(
        self,
        N: int = 80,
        M: int = 160,
        hyper_channels: int = 80,
        slice_channels: int = 32,
        depths: tuple[int, ...] = (1, 1, 2, 1, 1),
        heads: tuple[int, ...] = (4, 4, 8, 8, 8),
        window: int = 8,
        context_dim: int = 64,
        couplings: int = 2,
    ) -> None:
        super().__init__(N, M, hyper_channels, slice_channels, depths, heads, window, context_dim, couplings)
