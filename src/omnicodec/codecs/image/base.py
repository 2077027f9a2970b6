"""Shared mechanics of latent image codecs: ``x -> g_a -> latent codec -> g_s -> x_hat``.

Subclasses build ``g_a``, ``g_s`` and a hyperprior latent codec (``self.latent``) and set
``y_channels`` / ``z_channels``. Images of any size are replicate-padded to a multiple of 64
(the total stride of ``g_a`` and ``h_a``) and cropped back after decoding; the decoder
checks that the streams' shapes fit the image size before decoding anything.

Large images: ``analysis`` and ``synthesis`` run ``g_a`` / ``g_s`` over tiles of ``tile_size``
pixels, each widened by a halo covering the transform's receptive field (computed from its
layers, see :mod:`omnicodec.layers.tiling`), and keep only each tile's own outputs. The result
equals whole-image coding up to float rounding while memory grows with the tile, not the
image; the entropy coding of ``y`` stays whole-image. ``compress`` also takes 8-bit pixels
(``uint8``, 0–255), which are turned into floats tile by tile, so a large image is never held
as floats. A codec whose transforms cannot be tiled (shifted-window attention) runs them on
the whole image, and :meth:`LatentImageCodec.memory_estimate` says what that costs.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from ...coding import Bitstream
from ...errors import CorruptFileError
from ...layers.tiling import NotTileable, input_radius, tiled
from ..base import Codec, CodecOutput
from .memory import coding_bytes, widest
from .padding import crop, pad_to_multiple

STRIDE = 64
Y_STRIDE = 16  # pixels per element of y


def pixels_to_float(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1]: 8-bit pixels are divided by 255, floats pass unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


class LatentImageCodec(Codec):
    y_channels: int
    z_channels: int
    tile_size: int = 512  # pixels per side of a tile of the analysis / synthesis transforms

    def _halo(self, net: torch.nn.Module) -> int | None:
        """Receptive-field radius of ``g_a`` (in pixels) or ``g_s`` (in elements of ``y``); None: not tileable."""
        try:
            return input_radius(net)
        except NotTileable:
            return None

    @property
    def tileable(self) -> bool:
        """Whether ``analysis`` and ``synthesis`` run tile by tile."""
        return self._halo(self.g_a) is not None and self._halo(self.g_s) is not None

    def memory_estimate(self, height: int, width: int, direction: str = "decode") -> int:
        """Bytes that coding (``"encode"``) or decoding (``"decode"``) one ``height``×``width`` image
        adds to the process at its peak: an estimate from the size alone (see :mod:`.memory`)."""
        ga, gs = self._halo(self.g_a), self._halo(self.g_s)
        tile = self.tile_size if ga is not None and gs is not None else None
        return coding_bytes(
            height, width, direction, y_channels=self.y_channels, side_channels=2 * self.y_channels,
            transform_channels=widest(self.g_a, self.g_s), tile=tile,
            halo=max(ga, gs * Y_STRIDE) if tile is not None else 0, attention_factor=4.0,
        )

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """``y = g_a(x)`` for a padded image (float in [0, 1] or uint8), over tiles with halos."""
        halo = self._halo(self.g_a)
        if halo is None:
            return self.g_a(pixels_to_float(x))
        return tiled(self.g_a, x, Fraction(1, Y_STRIDE), self.tile_size, halo, align=Y_STRIDE, prepare=pixels_to_float)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """``x_hat = g_s(y_hat)``, over tiles of ``y_hat`` with halos."""
        halo = self._halo(self.g_s)
        if halo is None:
            return self.g_s(y_hat)
        return tiled(self.g_s, y_hat, Fraction(Y_STRIDE), max(1, self.tile_size // Y_STRIDE), halo)

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
