"""ECC: entropy-constrained neural speech codec (Xu, Cheng et al. 2026, arXiv 2606.11631), 16 kHz.

Transform (our choice): strided 1-D convolutions on the waveform with residual units
(strides 4, 4, 2, 5: one latent frame per 10 ms, 100 frames/s; the large strides come first
because the stage at the full sample rate costs the most), mirrored by transposed
convolutions. A waveform transform
needs no phase reconstruction and keeps decoding a single pass of convolutions, which is
what makes a real-time factor far below 0.05 on a CPU possible.

Entropy model, all from the shared components, on 1-D latents:
- hyperprior side information (factorized ``z`` at 25 frames/s);
- a channel-wise context over uneven latent slices (8, 8, 16, 32 for M=64) with latent
  residual prediction;
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

import torch
import torch.nn.functional as F
from torch import nn

from ...coding import Bitstream
from ...entropy_models import ChannelwiseLatentCodec, HyperpriorLatentCodec, TemporalPrior, hyper_transforms
from ...entropy_models.exact import ACT_BITS, ExactNetwork
from ...layers import resampling_conv_nd
from ..base import CHANNELS, Codec, CodecOutput
from ..registry import register_codec

HOP = 160  # samples per latent frame at 16 kHz
STRIDES = (4, 4, 2, 5)  # the largest strides first: the full-rate stage is the costliest


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ELU(), nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            nn.ELU(), nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x):
        return x + self.body(x)


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
class ECC(Codec):
    def __init__(
        self,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        M: int = 64,
        N: int = 32,
        slices: tuple[int, ...] = (8, 8, 16, 32),
        skip_threshold: float = 0.1,
        chunk_frames: int = 256,
        context_frames: int = 8,
    ) -> None:
        super().__init__()
        self.channels, self.M, self.N = [int(c) for c in channels], int(M), int(N)
        self.slices, self.skip_threshold = [int(s) for s in slices], float(skip_threshold)
        self.chunk_frames, self.context_frames = int(chunk_frames), int(context_frames)
        if sum(self.slices) != self.M:
            raise ValueError(f"slices {self.slices} must add up to M={self.M}")
        if self.chunk_frames % 4 or self.context_frames < 0:
            raise ValueError("chunk_frames must be a multiple of 4 (the hyper-latent's stride)")
        c = self.channels
        layers: list[nn.Module] = [nn.Conv1d(1, c[0], 7, padding=3)]
        for i, s in enumerate(STRIDES):
            layers += [ResidualUnit(c[i], 1), ResidualUnit(c[i], 3), nn.ELU(), resampling_conv_nd(1, c[i], c[min(i + 1, 3)], s)]
        layers += [nn.ELU(), nn.Conv1d(c[3], self.M, 3, padding=1)]
        self.g_a = nn.Sequential(*layers)
        layers = [nn.Conv1d(self.M, c[3], 7, padding=3)]
        for i, s in reversed(list(enumerate(STRIDES))):
            layers += [
                nn.ELU(), resampling_conv_nd(1, c[min(i + 1, 3)], c[i], s, transposed=True),
                ResidualUnit(c[i], 1), ResidualUnit(c[i], 3),
            ]
        layers += [nn.ELU(), nn.Conv1d(c[0], 1, 7, padding=3)]
        self.g_s = nn.Sequential(*layers)
        h_a, h_s = hyper_transforms(self.M, self.N, 2 * self.M, dims=1, in_channels=2 * self.M)
        y_codec = ChannelwiseLatentCodec(self.slices, 3 * self.M, dims=1, lrp=True, hidden=2 * self.M)
        self.latent = HyperpriorLatentCodec(
            h_a, h_s, self.N, y_codec, skip_threshold=self.skip_threshold, temporal_prior=TemporalSummary(self.M, self.M)
        )

    @classmethod
    def config_ranges(cls) -> dict:
        return {"channels": CHANNELS, "M": CHANNELS, "N": CHANNELS, "slices": CHANNELS,
                "skip_threshold": (0.0, 1000.0), "chunk_frames": (4, 1 << 16), "context_frames": (0, 1024)}

    def config(self) -> dict:
        return {
            "channels": self.channels, "M": self.M, "N": self.N, "slices": self.slices,
            "skip_threshold": self.skip_threshold, "chunk_frames": self.chunk_frames,
            "context_frames": self.context_frames,
        }

    @property
    def chunk_samples(self) -> int:
        return self.chunk_frames * HOP

    # --- one chunk with context -------------------------------------------------------------

    def analyse_chunk(self, audio: torch.Tensor, start: int) -> torch.Tensor:
        """Latent of samples ``[start, start + chunk)`` of ``audio`` [B, 1, T], with context."""
        m = self.context_frames * HOP
        lo, hi = start - m, start + self.chunk_samples + m
        window = audio[..., max(lo, 0) : min(hi, audio.shape[-1])]
        window = F.pad(window, (max(-lo, 0), hi - lo - window.shape[-1] - max(-lo, 0)))
        y = self.g_a(window)
        return y[..., self.context_frames : self.context_frames + self.chunk_frames]

    def synthesise_chunk(self, previous: torch.Tensor | None, current: torch.Tensor, following: torch.Tensor | None):
        """Waveform of ``current`` latent frames, with context from its neighbours (zeros at the ends)."""
        c = self.context_frames
        left = previous[..., -c:] if previous is not None and c else current.new_zeros(*current.shape[:-1], c)
        right = following[..., :c] if following is not None and c else current.new_zeros(*current.shape[:-1], c)
        audio = self.g_s(torch.cat([left, current, right], dim=-1))
        return audio[..., c * HOP : c * HOP + current.shape[-1] * HOP]

    # --- training: a segment as two chunks ---------------------------------------------------

    def forward(self, x: torch.Tensor) -> CodecOutput:
        """``x``: [B, 1, T] with T a multiple of 160·4; coded as two halves (the second
        conditioned on the first) and synthesised in one pass."""
        y = self.g_a(x)
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
        return CodecOutput(self.g_s(torch.cat(parts, dim=-1)), likelihoods)

    # --- coding ------------------------------------------------------------------------------

    def stream_shapes(self) -> dict[str, list[int]]:
        return {"z": [1, self.N, self.chunk_frames // 4], "y": [1, self.M, self.chunk_frames]}

    @torch.no_grad()
    def compress_chunk(self, y: torch.Tensor, reference: torch.Tensor | None) -> tuple[Bitstream, torch.Tensor]:
        return self.latent.compress(y, reference)

    @torch.no_grad()
    def decompress_chunk(self, bitstream: Bitstream, reference: torch.Tensor | None) -> torch.Tensor:
        return self.latent.decompress(bitstream, reference)

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> Bitstream:
        """A whole [1, 1, T] waveform in memory (files go through :mod:`omnicodec.media.speech`)."""
        out, reference = Bitstream(side_info={"samples": int(x.shape[-1])}), None
        skipped = symbols = 0
        for k, start in enumerate(range(0, max(x.shape[-1], 1), self.chunk_samples)):
            bitstream, reference = self.compress_chunk(self.analyse_chunk(x, start), reference)
            out.merge(bitstream, f"c{k}.")
            skipped, symbols = skipped + bitstream.stats["y_skipped"], symbols + bitstream.stats["y_symbols"]
        out.stats.update(y_symbols=symbols, y_skipped=skipped, skip_rate=skipped / max(symbols, 1))
        return out

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        samples = bitstream.side_info["samples"]
        count = max(-(-samples // self.chunk_samples), 1)
        latents, reference = [], None
        for k in range(count):
            reference = self.decompress_chunk(bitstream.select(f"c{k}."), reference)
            latents.append(reference)
        audio = [
            self.synthesise_chunk(latents[k - 1] if k else None, latents[k], latents[k + 1] if k + 1 < count else None)
            for k in range(count)
        ]
        return torch.cat(audio, dim=-1)[..., :samples].clamp_(-1, 1)
