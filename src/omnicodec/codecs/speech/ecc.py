"""ECC: entropy-constrained neural speech codec (Xu, Cheng et al. 2026, arXiv 2606.11631), 16 kHz.

Transform (our choice): strided 1-D convolutions on the waveform with residual units
(strides 4, 4, 2, 5: one latent frame per 10 ms, 100 frames/s; the large strides come first
because the stage at the full sample rate costs the most), mirrored by transposed
convolutions. A waveform transform
needs no phase reconstruction and keeps decoding a single pass of convolutions, which is
what makes a real-time factor far below 0.05 on a CPU possible.

``transform="stft"`` instead: an STFT with a 20 ms window and a 10 ms hop (one frame per
latent frame, :class:`~omnicodec.layers.stft.HopSTFT`), real and imaginary parts as channels
into a small 1-D convolution network (width ``channels[-1]``, kernel-3 residual units of
dilations 1 and 3) to the latent, mirrored by the synthesis, then the inverse STFT with
overlap-add. The fixed transform does the time-frequency analysis a waveform network has to
learn. Its receptive field is ±7 latent frames, within the default context of 8.

``transform="mdct"`` (with ``M`` = 160): the MDCT of 20 ms sine-windowed frames with a 10 ms hop,
critically sampled (160 coefficients per 10 ms, :class:`~omnicodec.layers.mdct.HopMDCT`), one latent
channel per coefficient: the analysis scales each coefficient by a learned gain, divides it by a
learned norm of its frame's coefficients (GDN: a step size that follows the spectral envelope) and
adds a small learned correction (kernel-3 convolutions whose last layer starts at zero); the
synthesis mirrors it (IGDN) and overlap-adds. At the first step this is already a transform coder with a uniform quantizer of
step 1/32 per coefficient (latent residual prediction starts at zero too: random corrections would add
noise of up to half a step), so training starts from a working codec and mostly teaches the entropy
model and the gains (the noise shaping).

Variable rate (``levels`` > 0): gain units (:mod:`~omnicodec.layers.gain`) scale the latent per quality
before the entropy model and rescale it before synthesis; they start as a ladder of equal ratios from
1/4 to 2 (``LEVEL_SPAN``: with the MDCT transform, steps of 1/8 to 1/64), and the quality a file was
coded at travels in its header.

Entropy model, all from the shared components, on 1-D latents:
- hyperprior side information (factorized ``z`` at 25 frames/s);
- a channel-wise context over uneven latent slices (8, 8, 16, 32 for M=64) with latent
  residual prediction; with ``spatial="checkerboard"`` each slice is coded in two passes in time,
  the even latent frames first and the odd ones with a context from their decoded neighbours;
- a lightweight causal temporal model: audio is coded in chunks (2.56 s by default) and each
  chunk is conditioned on the previous decoded chunk's latent (the hyper-encoder sees it,
  and a small network summarises it into side features); the first chunk has none;
- entropy skip: elements whose predicted scale is below τ (``skip_threshold``) are not coded
  and decode to their mean; the decoder knows which from its own scales, no mask is sent.

Chunks are analysed and synthesised with ``context_frames`` latent frames of audio context on
each side (more than the transforms' receptive field), so chunk boundaries do not click and
memory stays bounded for recordings of any length. ``forward`` (training) codes a segment as
two chunks, the second conditioned on the first, so the temporal path is trained too.
"""

from __future__ import annotations

import math
import struct

import torch
import torch.nn.functional as F
from torch import nn

from ...coding import Bitstream
from ...entropy_models import ChannelwiseLatentCodec, HyperpriorLatentCodec, TemporalPrior, hyper_transforms
from ...entropy_models.exact import ACT_BITS, ExactNetwork
from ...entropy_models.gaussian import checked_skip_tau
from ...errors import CorruptFileError
from ...layers import resampling_conv_nd
from ...layers.gain import GainUnits
from ...layers.gdn import GDN
from ...layers.mdct import HopIMDCT, HopMDCT
from ...layers.stft import HopISTFT, HopSTFT
from ..base import CHANNELS, Codec, CodecOutput, Unit, UnitDecoder, UnitEncoder, frame_streams, unframe_streams
from ..rate import LEVELS, QUALITIES, VariableRate
from ..registry import register_codec

HOP = 160  # samples per latent frame at 16 kHz
STRIDES = (4, 4, 2, 5)  # the largest strides first: the full-rate stage is the costliest
TRANSFORMS = ("waveform", "stft", "mdct")
SPATIAL = ("none", "checkerboard")  # within a slice: one pass, or even frames first and odd ones from them


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, kernel: int = 7) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ELU(), nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=kernel // 2 * dilation),
            nn.ELU(), nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x):
        return x + self.body(x)


def waveform_transforms(c: list[int], M: int) -> tuple[nn.Module, nn.Module]:
    """Strided convolutions on the waveform (``STRIDES``), mirrored by transposed ones."""
    layers: list[nn.Module] = [nn.Conv1d(1, c[0], 7, padding=3)]
    for i, s in enumerate(STRIDES):
        layers += [ResidualUnit(c[i], 1), ResidualUnit(c[i], 3), nn.ELU(), resampling_conv_nd(1, c[i], c[min(i + 1, 3)], s)]
    layers += [nn.ELU(), nn.Conv1d(c[3], M, 3, padding=1)]
    g_a = nn.Sequential(*layers)
    layers = [nn.Conv1d(M, c[3], 7, padding=3)]
    for i, s in reversed(list(enumerate(STRIDES))):
        layers += [
            nn.ELU(), resampling_conv_nd(1, c[min(i + 1, 3)], c[i], s, transposed=True),
            ResidualUnit(c[i], 1), ResidualUnit(c[i], 3),
        ]
    layers += [nn.ELU(), nn.Conv1d(c[0], 1, 7, padding=3)]
    return g_a, nn.Sequential(*layers)


def stft_transforms(c: list[int], M: int) -> tuple[nn.Module, nn.Module]:
    """STFT coefficients -> kernel-3 convolutions of width ``c[-1]`` -> latent, and back."""
    stft, width = HopSTFT(HOP), c[-1]
    g_a = nn.Sequential(
        stft, nn.Conv1d(stft.channels, width, 3, padding=1), ResidualUnit(width, 1, 3), ResidualUnit(width, 3, 3),
        nn.ELU(), nn.Conv1d(width, M, 3, padding=1),
    )
    g_s = nn.Sequential(
        nn.Conv1d(M, width, 3, padding=1), ResidualUnit(width, 1, 3), ResidualUnit(width, 3, 3),
        nn.ELU(), nn.Conv1d(width, stft.channels, 3, padding=1), HopISTFT(HOP),
    )
    return g_a, g_s


class CoefficientMap(nn.Module):
    """Transform coefficients to latent (or back, ``inverse``): a learned per-channel scale (its logarithm
    starts at ``log_gain``), GDN over the channels (IGDN after the scale when inverse) and a kernel-3
    convolution branch whose last layer starts at zero. GDN divides each coefficient by a learned norm of
    its frame's coefficients: a quantization step that follows the spectral envelope (noise shaping). Its
    cross-channel weights start near zero, so the map starts as a plain scaling and learns the rest."""

    def __init__(self, channels: int, width: int, log_gain: float, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.log_gain = nn.Parameter(torch.full((channels, 1), float(log_gain)))
        self.gdn = GDN(channels, inverse=inverse, gamma_init=1e-4)
        self.body = nn.Sequential(
            nn.Conv1d(channels, width, 3, padding=1), ResidualUnit(width, 1, 3), nn.ELU(),
            nn.Conv1d(width, channels, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gain = self.log_gain.exp()
        if self.inverse:
            out = self.gdn(x.unsqueeze(-1)).squeeze(-1) * gain
        else:
            out = self.gdn((x * gain).unsqueeze(-1)).squeeze(-1)
        return out + self.body(x)


MDCT_GAIN = 32.0  # latent units per MDCT coefficient at the start: a quantization step of 1/32 (speech is ~0.05 rms)


def mdct_transforms(c: list[int], M: int) -> tuple[nn.Module, nn.Module]:
    """MDCT coefficients (one per latent channel) scaled per channel plus a learned correction, and back."""
    if M != HOP:
        raise ValueError(f"transform 'mdct' codes one latent channel per MDCT coefficient: M must be {HOP}, got {M}")
    g_a = nn.Sequential(HopMDCT(HOP), CoefficientMap(HOP, c[-1], math.log(MDCT_GAIN)))
    g_s = nn.Sequential(CoefficientMap(HOP, c[-1], -math.log(MDCT_GAIN), inverse=True), HopIMDCT(HOP))
    return g_a, g_s


TRANSFORM_BUILDERS = {"waveform": waveform_transforms, "stft": stft_transforms, "mdct": mdct_transforms}
LEVEL_SPAN = (0.25, 2.0)  # gains of the lowest and highest quality level at the start (MDCT: steps 1/8 ... 1/64)


def level_scales(levels: int) -> list[float]:
    """The gains a variable-rate model starts with: equal ratios from ``LEVEL_SPAN[0]`` to ``LEVEL_SPAN[1]``."""
    lo, hi = (math.log(v) for v in LEVEL_SPAN)
    return [math.exp(lo + (hi - lo) * i / (levels - 1)) for i in range(levels)]


class TemporalSummary(TemporalPrior):
    """Side features from the previous chunk's latent: a convolution, then its mean over time,
    broadcast over the current chunk (a causal, chunk-level temporal model)."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, out_channels, 3, padding=1), nn.ELU(),
                                 nn.Conv1d(out_channels, out_channels, 1))

    def forward(self, reference: torch.Tensor) -> torch.Tensor:
        return self.net(reference).mean(dim=-1, keepdim=True).expand(-1, -1, reference.shape[-1])

    def supports_exact(self) -> bool:
        return ExactNetwork.supports(self.net)

    def exact(self, reference: torch.Tensor) -> torch.Tensor:
        """The same features in exact fixed point: the sum over time of integers is exact in any
        order, and the division by the length is one correctly rounded operation, then a floor."""
        h = ExactNetwork(self.net)(reference) * 2.0**ACT_BITS
        mean = torch.floor(h.sum(dim=-1, keepdim=True) / reference.shape[-1]) * 2.0**-ACT_BITS
        return mean.expand(-1, -1, reference.shape[-1])


@register_codec("speech/ecc")
class ECC(VariableRate, Codec):
    def __init__(
        self,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        M: int = 64,
        N: int = 32,
        slices: tuple[int, ...] = (8, 8, 16, 32),
        skip_threshold: float = 0.1,
        chunk_frames: int = 256,
        context_frames: int = 8,
        transform: str = "waveform",
        levels: int = 0,
        default_quality: float = 1.0,
        spatial: str = "none",
    ) -> None:
        super().__init__()
        self.channels, self.M, self.N = [int(c) for c in channels], int(M), int(N)
        self.slices, self.skip_threshold = [int(s) for s in slices], float(skip_threshold)
        self.chunk_frames, self.context_frames = int(chunk_frames), int(context_frames)
        if sum(self.slices) != self.M:
            raise ValueError(f"slices {self.slices} must add up to M={self.M}")
        if self.chunk_frames % 4 or self.context_frames < 0:
            raise ValueError("chunk_frames must be a multiple of 4 (the hyper-latent's stride)")
        if transform not in TRANSFORMS:
            raise ValueError(f"transform {transform!r} is not one of {', '.join(TRANSFORMS)}")
        self.transform = transform
        self.g_a, self.g_s = TRANSFORM_BUILDERS[transform](self.channels, self.M)
        self.levels, self.gains = int(levels), None
        if self.levels:
            self.gains = GainUnits(self.M, self.levels)
            self.gains.set_level_scales(level_scales(self.levels))
            self.default_quality = self._quality(min(float(default_quality), self.levels))
        h_a, h_s = hyper_transforms(self.M, self.N, 2 * self.M, dims=1, in_channels=2 * self.M)
        if spatial not in SPATIAL:
            raise ValueError(f"spatial {spatial!r} is not one of {', '.join(SPATIAL)}")
        self.spatial = spatial
        y_codec = ChannelwiseLatentCodec(self.slices, 3 * self.M, dims=1, spatial=spatial, lrp=True, hidden=2 * self.M)
        if transform == "mdct":  # a plain transform coder at the start: LRP adds nothing until it learns to help
            for net in y_codec.lrp:
                last = [m for m in net.modules() if isinstance(m, nn.Conv1d)][-1]
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)
        self.latent = HyperpriorLatentCodec(
            h_a, h_s, self.N, y_codec, skip_threshold=self.skip_threshold, temporal_prior=TemporalSummary(self.M, self.M)
        )

    @classmethod
    def config_ranges(cls) -> dict:
        return {"channels": CHANNELS, "M": CHANNELS, "N": CHANNELS, "slices": CHANNELS,
                "skip_threshold": (0.0, 1000.0), "chunk_frames": (4, 1 << 16), "context_frames": (0, 1024),
                "levels": LEVELS, "default_quality": QUALITIES}

    def config(self) -> dict:
        config = {
            "channels": self.channels, "M": self.M, "N": self.N, "slices": self.slices,
            "skip_threshold": self.skip_threshold, "chunk_frames": self.chunk_frames,
            "context_frames": self.context_frames, "transform": self.transform,
        }
        if self.levels:
            config.update(levels=self.levels, default_quality=self.default_quality)
        if self.spatial != "none":
            config["spatial"] = self.spatial
        return config

    @property
    def chunk_samples(self) -> int:
        return self.chunk_frames * HOP

    # --- one chunk with context -------------------------------------------------------------

    @torch.no_grad()
    def analyse_chunk(self, audio: torch.Tensor, start: int, quality: float | None = None) -> torch.Tensor:
        """Latent of samples ``[start, start + chunk)`` of ``audio`` [B, 1, T], with context (scaled by
        the gains of ``quality`` for a variable-rate codec)."""
        m = self.context_frames * HOP
        lo, hi = start - m, start + self.chunk_samples + m
        window = audio[..., max(lo, 0) : min(hi, audio.shape[-1])]
        window = F.pad(window, (max(-lo, 0), hi - lo - window.shape[-1] - max(-lo, 0)))
        y = self._scaled(self.g_a(window), quality)
        return y[..., self.context_frames : self.context_frames + self.chunk_frames]

    @torch.no_grad()
    def synthesise_chunk(self, previous: torch.Tensor | None, current: torch.Tensor, following: torch.Tensor | None,
                         quality: float | None = None):
        """Waveform of ``current`` latent frames, with context from its neighbours (zeros at the ends);
        the latents are rescaled by the inverse gains of ``quality`` for a variable-rate codec."""
        c = self.context_frames
        left = previous[..., -c:] if previous is not None and c else current.new_zeros(*current.shape[:-1], c)
        right = following[..., :c] if following is not None and c else current.new_zeros(*current.shape[:-1], c)
        audio = self.g_s(self._unscaled(torch.cat([left, current, right], dim=-1), quality))
        return audio[..., c * HOP : c * HOP + current.shape[-1] * HOP]

    # --- training: a segment as two chunks ---------------------------------------------------

    def forward(self, x: torch.Tensor, quality: torch.Tensor | float | None = None) -> CodecOutput:
        """``x``: [B, 1, T] with T a multiple of 160·4; coded as two halves (the second
        conditioned on the first) and synthesised in one pass. ``quality`` (variable-rate codecs): a
        number, or a ``[B]`` tensor with one quality per sample."""
        y = self._scaled(self.g_a(x), quality)
        half = (y.shape[-1] // 2) // 4 * 4 or y.shape[-1]
        parts, likelihoods, reference = [], {}, None
        for i, y_part in enumerate((y[..., :half], y[..., half:])):
            if y_part.shape[-1] == 0:
                continue
            if reference is not None and reference.shape[-1] != y_part.shape[-1]:
                reference = F.pad(reference, (0, y_part.shape[-1] - reference.shape[-1]))[..., : y_part.shape[-1]]
            y_hat, lik, _ = self.latent(y_part, reference)
            parts.append(y_hat)
            likelihoods.update({f"{k}{i}": v for k, v in lik.items()})
            reference = y_hat
        return CodecOutput(self.g_s(self._unscaled(torch.cat(parts, dim=-1), quality)), likelihoods)

    # --- coding ------------------------------------------------------------------------------

    def stream_shapes(self) -> dict[str, list[int]]:
        return {"z": [1, self.N, self.chunk_frames // 4], "y": [1, self.M, self.chunk_frames]}

    @torch.no_grad()
    def compress_chunk(self, y: torch.Tensor, reference: torch.Tensor | None) -> tuple[Bitstream, torch.Tensor]:
        return self.latent.compress(y, reference)

    @torch.no_grad()
    def decompress_chunk(self, bitstream: Bitstream, reference: torch.Tensor | None) -> torch.Tensor:
        return self.latent.decompress(bitstream, reference)

    # --- the streaming contract: one unit per chunk, then "end" with the number of samples ------

    def unit_encoder(self, media: dict | None = None, quality: float | None = None) -> UnitEncoder:
        if quality is not None and self.gains is None:
            raise ValueError(f"{self.codec_id} has one fixed rate; it takes no quality")
        # τ of entropy skip: the decoder must skip exactly the same elements
        header = {"chunk_samples": self.chunk_samples, "skip_tau": self.skip_threshold}
        if self.gains is not None:
            header["quality"] = self._quality(quality)  # a bad quality fails before any work
        if self.latent.entropy_params is not None:  # one scheme for all chunks
            header["entropy_params"] = self.latent.entropy_params
        return _ChunkEncoder(self, header)

    def unit_decoder(self, header: dict) -> UnitDecoder:
        if header.get("chunk_samples") != self.chunk_samples:
            raise CorruptFileError("the file's chunk length does not match its codec")
        tau = checked_skip_tau(header.get("skip_tau", 0.0))
        try:
            quality = self._stream_quality(header)
        except ValueError as exc:
            raise CorruptFileError(f"the file declares an invalid quality: {exc}") from None
        chunk_info = {"skip_tau": tau}
        if "entropy_params" in header:
            chunk_info["entropy_params"] = header["entropy_params"]
        return _ChunkDecoder(self, chunk_info, quality)

    def describe(self, x: torch.Tensor) -> dict:
        return {"samples": int(x.shape[-1])}

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A waveform [1, 1, T] is pushed whole (files push it block by block)."""
        return [x.reshape(-1)]

    def join(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([p.reshape(1, 1, -1) for p in pieces], dim=-1) if pieces else torch.zeros(1, 1, 0)


_END = struct.Struct("<Q")
MAX_SAMPLES = 1 << 40


class _ChunkEncoder(UnitEncoder):
    """Buffers audio until a chunk and its right-hand context are in, then codes the chunk; only a
    chunk and its context are ever held, whatever the length of the recording."""

    def __init__(self, codec: ECC, header: dict) -> None:
        self.codec, self.header, self.stats = codec, header, {"y_symbols": 0, "y_skipped": 0}
        self.chunk, self.margin = codec.chunk_samples, codec.context_frames * HOP
        self.buffer, self.buffer_start, self.next_start, self.total = torch.zeros(0), 0, 0, 0
        self.k, self.reference = 0, None

    def push(self, block) -> list[Unit]:
        """``block``: the next mono samples at 16 kHz (a 1-D array or tensor of floats in [-1, 1])."""
        block = torch.as_tensor(block, dtype=torch.float32).reshape(-1)
        self.buffer, self.total = torch.cat([self.buffer, block]), self.total + block.numel()
        units = []
        while self.buffer_start + self.buffer.numel() >= self.next_start + self.chunk + self.margin:
            units.append(self._code_next())
        return units

    def finish(self) -> list[Unit]:
        units = []
        while self.next_start < self.total:  # every sample is in a coded chunk
            units.append(self._code_next())
        self.stats["skip_rate"] = self.stats["y_skipped"] / max(self.stats["y_symbols"], 1)
        self.stats["samples"] = self.total
        return units + [("end", _END.pack(self.total))]

    def _code_next(self) -> Unit:
        """The chunk at ``next_start`` with its context from the buffer (zeros outside the audio)."""
        chunk, margin, lo = self.chunk, self.margin, self.next_start - self.margin
        window = torch.zeros(chunk + 2 * margin)
        a = max(lo, self.buffer_start)
        b = min(self.next_start + chunk + margin, self.buffer_start + self.buffer.numel())
        if b > a:
            window[a - lo : b - lo] = self.buffer[a - self.buffer_start : b - self.buffer_start]
        y = self.codec.analyse_chunk(window.view(1, 1, -1).to(self.codec.device), margin, self.header.get("quality"))
        bitstream, self.reference = self.codec.compress_chunk(y, self.reference)
        for key in ("y_symbols", "y_skipped"):
            self.stats[key] += bitstream.stats[key]
        unit = (f"chunk-{self.k}", frame_streams({"z": bitstream.streams["z"], "y": bitstream.streams["y"]}))
        self.k, self.next_start = self.k + 1, self.next_start + chunk
        keep_from = self.next_start - margin
        if keep_from > self.buffer_start:
            self.buffer, self.buffer_start = self.buffer[keep_from - self.buffer_start :], keep_from
        return unit


class _ChunkDecoder(UnitDecoder):
    """Decodes chunk latents in order; chunk ``k`` is synthesised once chunk ``k + 1`` (its right-hand
    context) is decoded, so the output comes out a chunk behind the input."""

    kind = "audio chunk"

    def __init__(self, codec: ECC, chunk_info: dict, quality: float | None = None) -> None:
        self.codec, self.chunk_info, self.quality = codec, chunk_info, quality
        self.shapes = codec.stream_shapes()
        self.window: list[torch.Tensor] = []  # the latents of the last three chunks
        self.reference, self.total = None, None

    def push(self, name: str, payload: bytes) -> list[torch.Tensor]:
        if self.total is not None:
            raise CorruptFileError(f"the file holds a chunk {name!r} after its end chunk")
        if name == "end":
            if len(payload) != _END.size:
                raise CorruptFileError("the end chunk is malformed")
            (self.total,) = _END.unpack(payload)
            return []
        k = self.count
        if name != f"chunk-{k}":
            raise CorruptFileError(f"expected audio chunk {k}, found {name!r}")
        streams = unframe_streams(payload, ("z", "y"), f"audio chunk {k}")
        bitstream = Bitstream(streams, {n: list(v) for n, v in self.shapes.items()}, dict(self.chunk_info))
        self.reference = self.codec.decompress_chunk(bitstream, self.reference)
        self.window = (self.window + [self.reference])[-3:]
        self.count += 1
        if len(self.window) < 2:
            return []
        previous = self.window[-3] if len(self.window) == 3 else None
        return [self.codec.synthesise_chunk(previous, self.window[-2], self.window[-1], self.quality)]

    def finish(self) -> list[torch.Tensor]:
        total, k, chunk = self.total, self.count, self.codec.chunk_samples
        if total is None:
            raise CorruptFileError("the file has no end chunk (truncated?)")
        if total > MAX_SAMPLES or -(-total // chunk) != k:
            raise CorruptFileError(f"the file declares {total} samples but holds {k} chunks")
        if not self.window:
            return []
        previous = self.window[-2] if len(self.window) >= 2 else None
        last = self.codec.synthesise_chunk(previous, self.window[-1], None, self.quality)
        return [last[..., : max(total - (k - 1) * chunk, 0)]]
