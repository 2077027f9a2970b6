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

import math
from collections.abc import Callable
from fractions import Fraction

import torch

from ...coding import Bitstream
from ...constants import IMAGE_STRIDE as STRIDE
from ...errors import CorruptFileError
from ...layers.gain import GainUnits
from ...layers.tiling import NotTileable, input_radius, tiled
from ..base import Codec, CodecOutput, Unit, UnitDecoder, UnitEncoder, frame_streams, header_size, unframe_streams
from ..rate import VariableRate
from .memory import coding_bytes, widest
from .padding import crop, pad_to_multiple

Y_STRIDE = 16  # pixels per element of y


def pixels_to_float(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1]: 8-bit pixels are divided by 255, floats pass unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


class LatentImageCodec(VariableRate, Codec):
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

    def __init__(self) -> None:
        super().__init__()
        self.gains: GainUnits | None = None  # set by variable-rate subclasses

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

    def forward(self, x: torch.Tensor, quality: torch.Tensor | float | None = None) -> CodecOutput:
        """``quality`` (variable-rate codecs): a number, or a ``[B]`` tensor with one quality per sample."""
        h, w = x.shape[-2:]
        y = self._scaled(self.analysis(pad_to_multiple(x, STRIDE)), quality)
        y_hat, likelihoods, _ = self.latent(y)
        x_hat = crop(self.synthesis(self._unscaled(y_hat, quality)), h, w)
        return CodecOutput(x_hat, likelihoods, {"y": y, "y_hat": y_hat})

    def _coded(self, y: torch.Tensor, quality: float | None, h: int, w: int) -> Bitstream:
        """The image as one unit ``"image"`` (its ``z`` and ``y`` streams), with the header it needs."""
        latent, _ = self.latent.compress(self._scaled(y, quality))
        header = {"size": [int(h), int(w)], **latent.side_info}
        if self.gains is not None:
            header["quality"] = self._quality(quality)
        unit = frame_streams({"z": latent.streams["z"], "y": latent.streams["y"]})
        return Bitstream({"image": unit}, side_info=header, stats=latent.stats)

    def unit_encoder(self, media: dict, quality: float | None = None) -> UnitEncoder:
        if quality is not None and self.gains is None:
            raise ValueError(f"{self.codec_id} has one fixed rate; it takes no quality")
        if self.gains is not None:
            self._quality(quality)  # a bad quality fails before any work
        return _ImageEncoder(self, quality)

    def unit_decoder(self, header: dict) -> UnitDecoder:
        h, w = header_size(header, "image")
        try:
            quality = self._stream_quality(header)
        except ValueError as exc:
            raise CorruptFileError(f"file declares an invalid quality: {exc}") from None
        return _ImageDecoder(self, header, h, w, quality)

    def _batched(self, net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, together: bool | None):
        """``net`` over the items of ``x``: as one batch when ``together`` (default: on a GPU, where it pays),
        else item by item, which gives each item exactly the floats it gets alone."""
        if together is None:
            together = x.device.type != "cpu"
        if together or x.shape[0] == 1:
            return net(x)
        return torch.cat([net(x[i : i + 1]) for i in range(x.shape[0])])

    @torch.no_grad()
    def compress_batch(self, x: torch.Tensor, quality: float | None = None, together: bool | None = None) -> list[Bitstream]:
        """One bitstream per image of ``x`` ([B, 3, H, W]); the entropy coding runs image by image. On a GPU
        (or with ``together=True``) the analysis transform runs on the whole batch: kernels chosen for a batch
        may round a latent the other way, giving another valid file than :meth:`compress`. On the CPU it runs
        image by image (a batch gains nothing there), so each bitstream is :meth:`compress`'s."""
        self.unit_encoder({}, quality)  # a bad quality fails before any work
        h, w = x.shape[-2:]
        y = self._batched(self.analysis, pad_to_multiple(x.to(self.device), STRIDE), together)
        return [self._coded(y[i : i + 1], quality, h, w) for i in range(y.shape[0])]

    @torch.no_grad()
    def decompress_batch(self, bitstreams: list[Bitstream], together: bool | None = None) -> list[torch.Tensor]:
        """The images of ``bitstreams``; on a GPU (or with ``together=True``) those of one size and quality go
        through the synthesis as one batch, on the CPU one by one (exactly :meth:`decompress`'s images)."""
        latents = []
        for bitstream in bitstreams:
            decoder = self.unit_decoder(bitstream.side_info)
            if set(bitstream.streams) not in ({"image"}, {"z", "y"}):
                raise CorruptFileError(f"unexpected units {sorted(bitstream.streams)} in an image file")
            latents.append((self.decode_latent(bitstream), decoder.quality, decoder.h, decoder.w))
        images: list[torch.Tensor | None] = [None] * len(latents)
        groups: dict[tuple, list[int]] = {}
        for i, (y_hat, quality, h, w) in enumerate(latents):
            groups.setdefault((tuple(y_hat.shape), quality, h, w), []).append(i)
        for (_, quality, h, w), members in groups.items():
            y_hat = torch.cat([latents[i][0] for i in members])
            x_hat = crop(self._batched(self.synthesis, self._unscaled(y_hat, quality), together), h, w).clamp_(0, 1)
            for i, image in zip(members, x_hat.split(1)):
                images[i] = image
        return images

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
        y = self.analysis(pad_to_multiple(x.to(self.device), STRIDE))
        lo, hi = self.quality_range
        trials = 0

        def trial(q: float) -> tuple[Bitstream, int]:
            nonlocal trials
            trials += 1
            bitstream = self._coded(y, q, h, w)
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
    def decode_latent(self, bitstream: Bitstream, device: torch.device | str | None = None) -> torch.Tensor:
        """The decoded latent ``y_hat`` of an image coded by :meth:`compress` (as the entropy model codes
        it: before the inverse gains), on ``device``; for checking that two devices decode the same."""
        h, w = header_size(bitstream.side_info, "image")
        streams = bitstream.streams
        if "image" in streams:
            streams = unframe_streams(streams["image"], ("z", "y"), "the image")
        latent = Bitstream(streams, self.stream_shapes(h, w), bitstream.side_info)
        return self.latent.decompress(latent, device=self.device if device is None else device)

    def _decode(self, streams: dict[str, bytes], header: dict, h: int, w: int, quality: float | None) -> torch.Tensor:
        y_hat = self.decode_latent(Bitstream(streams, side_info=header))
        return crop(self.synthesis(self._unscaled(y_hat, quality)), h, w).clamp_(0, 1)


class _ImageEncoder(UnitEncoder):
    def __init__(self, codec: LatentImageCodec, quality: float | None) -> None:
        self.codec, self.quality, self.header, self.stats = codec, quality, {}, {}

    @torch.no_grad()
    def push(self, x: torch.Tensor) -> list[Unit]:
        """``x``: [1, 3, H, W], floats in [0, 1] or 8-bit pixels."""
        h, w = x.shape[-2:]
        x = pad_to_multiple(x.to(self.codec.device), STRIDE)
        coded = self.codec._coded(self.codec.analysis(x), self.quality, h, w)
        self.header, self.stats = coded.side_info, coded.stats
        return list(coded.streams.items())


class _ImageDecoder(UnitDecoder):
    """Decodes the unit ``"image"``; files of release 0.1 hold the same streams as two units ``"z"``, ``"y"``."""

    kind = "image"

    def label(self) -> str:
        return "the image"

    def __init__(self, codec: LatentImageCodec, header: dict, h: int, w: int, quality: float | None) -> None:
        self.codec, self.header, self.h, self.w, self.quality = codec, header, h, w, quality
        self.streams: dict[str, bytes] = {}
        self.done = False

    @torch.no_grad()
    def push(self, name: str, payload: bytes) -> list[torch.Tensor]:
        if self.done:
            raise CorruptFileError(f"the file holds a unit {name!r} after its image")
        if name == "image" and not self.streams:
            self.streams = unframe_streams(payload, ("z", "y"), "the image")
        elif name == "z" and not self.streams:
            self.streams["z"] = payload
            return []
        elif name == "y" and list(self.streams) == ["z"]:
            self.streams["y"] = payload
        else:
            raise CorruptFileError(f"unexpected unit {name!r} in an image file")
        self.done = True
        return [self.codec._decode(self.streams, self.header, self.h, self.w, self.quality)]

    def finish(self) -> list[torch.Tensor]:
        if not self.done:
            raise CorruptFileError("the file holds no image (truncated?)")
        return []
