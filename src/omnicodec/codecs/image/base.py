"""Shared mechanics of latent image codecs: ``x -> g_a -> latent codec -> g_s -> x_hat``.

Subclasses build ``g_a``, ``g_s`` and a hyperprior latent codec (``self.latent``) and set
``y_channels`` / ``z_channels``. Images of any size are replicate-padded to a multiple of 64
(the total stride of ``g_a`` and ``h_a``) and cropped back after decoding; the decoder
checks that the streams' shapes fit the image size before decoding anything.
"""

from __future__ import annotations

import torch

from ...coding import Bitstream
from ...errors import CorruptFileError
from ..base import Codec, CodecOutput
from .padding import crop, pad_to_multiple

STRIDE = 64


class LatentImageCodec(Codec):
    y_channels: int
    z_channels: int

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat)

    def analysis_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every top-level stage of ``g_a`` for an already padded ``x``; the last is ``y``.

        Used by distillation to align a student's intermediate features with a teacher's.
        """
        features, h = [], x
        for stage in self.g_a:
            h = stage(h)
            features.append(h)
        return features

    def forward(self, x: torch.Tensor) -> CodecOutput:
        h, w = x.shape[-2:]
        y = self.analysis(pad_to_multiple(x, STRIDE))
        y_hat, likelihoods, _ = self.latent(y)
        x_hat = crop(self.synthesis(y_hat), h, w)
        return CodecOutput(x_hat, likelihoods, {"y": y, "y_hat": y_hat})

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> Bitstream:
        h, w = x.shape[-2:]
        y = self.analysis(pad_to_multiple(x, STRIDE))
        bitstream, _ = self.latent.compress(y)
        bitstream.side_info["size"] = [int(h), int(w)]
        return bitstream

    def stream_shapes(self, height: int, width: int) -> dict[str, list[int]]:
        """Shapes of the ``z`` and ``y`` streams for one ``height``×``width`` image."""
        ph, pw = -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE
        return {"z": [1, self.z_channels, ph // 64, pw // 64], "y": [1, self.y_channels, ph // 16, pw // 16]}

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        h, w = bitstream.side_info["size"]
        if bitstream.shapes != self.stream_shapes(h, w):
            raise CorruptFileError(f"stream shapes {bitstream.shapes} do not fit a {w}x{h} image")
        y_hat = self.latent.decompress(bitstream, device=self.device)
        return crop(self.synthesis(y_hat), h, w).clamp_(0, 1)
