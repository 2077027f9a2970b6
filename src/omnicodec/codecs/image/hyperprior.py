"""Mean-scale hyperprior image codec (Minnen, Ballé & Toderici 2018, without the context model).

``g_a``: four 5×5 stride-2 convolutions with GDN (3 → N → N → N → M), so ``y`` is 1/16 of the
image; ``h_a``: 3×3 then two 5×5 stride-2 convolutions with leaky ReLU (M → N → N → N); ``h_s``
mirrors it with transposed convolutions and ends in ``2M`` channels (scales, means);
``g_s`` mirrors ``g_a`` with inverse GDN. Images are replicate-padded to a multiple of 64
(the total stride of ``g_a`` and ``h_a``) and cropped back after decoding.
"""

from __future__ import annotations

import torch
from torch import nn

from ...coding import Bitstream
from ...entropy_models import MeanScaleHyperprior
from ...errors import CorruptFileError
from ...layers import GDN, conv, deconv
from ..base import Codec, CodecOutput
from ..registry import register_codec
from .padding import crop, pad_to_multiple

STRIDE = 64


@register_codec("image/hyperprior")
class HyperpriorImageCodec(Codec):
    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__()
        self.N, self.M = int(N), int(M)
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

    def config(self) -> dict:
        return {"N": self.N, "M": self.M}

    def forward(self, x: torch.Tensor) -> CodecOutput:
        h, w = x.shape[-2:]
        y = self.g_a(pad_to_multiple(x, STRIDE))
        y_hat, likelihoods, _ = self.latent(y)
        x_hat = crop(self.g_s(y_hat), h, w)
        return CodecOutput(x_hat, likelihoods)

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> Bitstream:
        h, w = x.shape[-2:]
        y = self.g_a(pad_to_multiple(x, STRIDE))
        bitstream, _ = self.latent.compress(y)
        bitstream.side_info["size"] = [int(h), int(w)]
        return bitstream

    def stream_shapes(self, height: int, width: int) -> dict[str, list[int]]:
        """Shapes of the ``z`` and ``y`` streams for one ``height``×``width`` image."""
        ph, pw = -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE
        return {"z": [1, self.N, ph // 64, pw // 64], "y": [1, self.M, ph // 16, pw // 16]}

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        h, w = bitstream.side_info["size"]
        if bitstream.shapes != self.stream_shapes(h, w):
            raise CorruptFileError(f"stream shapes {bitstream.shapes} do not fit a {w}x{h} image")
        y_hat = self.latent.decompress(bitstream, device=self.device)
        return crop(self.g_s(y_hat), h, w).clamp_(0, 1)
