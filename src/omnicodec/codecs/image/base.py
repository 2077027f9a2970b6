"""Shared mechanics of latent image codecs: ``x -> g_a -> latent codec -> g_s -> x_hat``.

Subclasses build ``g_a``, ``g_s`` and a hyperprior latent codec (``self.latent``) and set
``y_channels`` / ``z_channels``. Images of any size are replicate-padded to a multiple of 64
(the total stride of ``g_a`` and ``h_a``) and cropped back after decoding; the decoder
checks that the streams' shapes fit the image size before decoding anything.

Variable rate: a codec built with ``levels`` holds :class:`~omnicodec.layers.GainUnits`, scales
``y`` by the gain vector of a real ``quality`` in ``[1, levels]`` between :meth:`analysis` and the
latent codec, and rescales the decoded latent by the inverse gain before :meth:`synthesis`. The
quality travels in the side info, so the decoder needs nothing else. The entropy model only
ever sees the scaled latent, so exact entropy parameters are unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ...coding import Bitstream
from ...errors import CorruptFileError
from ...layers.gain import GainUnits
from ..base import Codec, CodecOutput
from ..rate import VariableRate
from .padding import crop, pad_to_multiple

STRIDE = 64


class LatentImageCodec(VariableRate, Codec):
    y_channels: int
    z_channels: int

    def __init__(self) -> None:
        super().__init__()
        self.gains: GainUnits | None = None  # set by variable-rate subclasses

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

    def forward(self, x: torch.Tensor, quality: torch.Tensor | float | None = None) -> CodecOutput:
        """``quality`` (variable-rate codecs): a number, or a ``[B]`` tensor with one quality per sample."""
        h, w = x.shape[-2:]
        y = self._scaled(self.analysis(pad_to_multiple(x, STRIDE)), quality)
        y_hat, likelihoods, _ = self.latent(y)
        x_hat = crop(self.synthesis(self._unscaled(y_hat, quality)), h, w)
        return CodecOutput(x_hat, likelihoods, {"y": y, "y_hat": y_hat})

    def _compress_latent(self, y: torch.Tensor, quality: float | None, h: int, w: int) -> Bitstream:
        bitstream, _ = self.latent.compress(self._scaled(y, quality))
        bitstream.side_info["size"] = [int(h), int(w)]
        if self.gains is not None:
            bitstream.side_info["quality"] = self._quality(quality)
        return bitstream

    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality: float | None = None) -> Bitstream:
        """Code ``x`` ([1, 3, H, W] in [0, 1]); ``quality`` only for variable-rate codecs (default: theirs)."""
        if quality is not None and self.gains is None:
            raise ValueError(f"{self.codec_id} has one fixed rate; it takes no quality")
        h, w = x.shape[-2:]
        return self._compress_latent(self.analysis(pad_to_multiple(x, STRIDE)), quality, h, w)

    @torch.no_grad()
    def compress_to_size(
        self, x: torch.Tensor, size_of: Callable[[Bitstream], int], max_size: int, tolerance: float = 0.02,
        max_trials: int = 14,
    ) -> tuple[Bitstream, float, int]:
        """The highest quality whose coded size (``size_of(bitstream)``, e.g. the file's bytes) is at most
        ``max_size``, searched over the continuous quality range; ``(bitstream, quality, trial encodes)``.

        The analysis transform runs once; each trial reruns only the entropy coding. The search stops
        within ``tolerance`` below the target. When even the lowest quality is larger, it returns the
        lowest quality's bitstream (the caller reports that the target cannot be met).
        """
        if self.gains is None:
            raise ValueError(f"{self.codec_id} has one fixed rate; a size target needs a variable-rate model")
        h, w = x.shape[-2:]
        y = self.analysis(pad_to_multiple(x, STRIDE))
        lo, hi = self.quality_range
        trials = 0

        def trial(q: float) -> tuple[Bitstream, int]:
            nonlocal trials
            trials += 1
            bitstream = self._compress_latent(y, q, h, w)
            return bitstream, int(size_of(bitstream))

        best, s_lo = trial(lo)
        best_q = lo
        if s_lo > max_size:
            return best, lo, trials
        top, s_hi = trial(hi)
        if s_hi <= max_size:
            return top, hi, trials
        while trials < max_trials and s_lo < max_size * (1 - tolerance) and hi - lo > 1e-3:
            if trials % 2 == 0:  # interpolate in log size, alternating with bisection so both ends move
                t = (math.log(max_size) - math.log(max(s_lo, 1))) / max(math.log(s_hi) - math.log(max(s_lo, 1)), 1e-9)
                q = lo + min(max(t, 0.05), 0.95) * (hi - lo)
            else:
                q = 0.5 * (lo + hi)
            q = round(q, 4)
            bitstream, size = trial(q)
            if size <= max_size:
                lo, s_lo, best, best_q = q, size, bitstream, q
            else:
                hi, s_hi = q, size
        return best, best_q, trials

    def stream_shapes(self, height: int, width: int) -> dict[str, list[int]]:
        """Shapes of the ``z`` and ``y`` streams for one ``height``×``width`` image."""
        ph, pw = -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE
        return {"z": [1, self.z_channels, ph // 64, pw // 64], "y": [1, self.y_channels, ph // 16, pw // 16]}

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        h, w = bitstream.side_info["size"]
        if bitstream.shapes != self.stream_shapes(h, w):
            raise CorruptFileError(f"stream shapes {bitstream.shapes} do not fit a {w}x{h} image")
        try:
            quality = self._stream_quality(bitstream.side_info)
        except ValueError as exc:
            raise CorruptFileError(f"file declares an invalid quality: {exc}") from None
        y_hat = self.latent.decompress(bitstream, device=self.device)
        return crop(self.synthesis(self._unscaled(y_hat, quality)), h, w).clamp_(0, 1)
