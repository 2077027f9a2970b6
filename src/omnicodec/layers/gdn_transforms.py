"""The GDN analysis and synthesis transforms of the mean-scale hyperprior (Ballé et al. 2018).

Analysis: four 5×5 stride-2 convolutions with GDN between them (``in_channels`` → N → N → N → M),
so the latent is 1/16 of the input; synthesis mirrors it with transposed convolutions and
inverse GDN. Image and video codecs share them layer for layer, so weights move between them.
"""

from __future__ import annotations

from torch import nn

from .conv import conv, deconv
from .gdn import GDN


def gdn_analysis(N: int, M: int, in_channels: int = 3) -> nn.Sequential:
    return nn.Sequential(
        conv(in_channels, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
    )


def gdn_synthesis(M: int, N: int, out_channels: int = 3) -> nn.Sequential:
    return nn.Sequential(
        deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True), deconv(N, out_channels),
    )
