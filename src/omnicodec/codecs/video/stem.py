"""Latent video codec driven by the spatiotemporal entropy model (Sun et al. 2021, STEM).

Every frame goes through one image autoencoder (no motion estimation, no residual images):
``g_a`` / ``g_s`` are the mean-scale hyperprior's GDN transforms. Intra frames (every
``intra_period``-th, default 32) code ``y_t`` with the image prior alone (hyperprior +
checkerboard); the frames in between code it with
:class:`~omnicodec.entropy_models.SpatiotemporalLatentCodec`, conditioned on the previous
decoded latent ``y_hat_{t-1}`` through the temporal prior, plus the hyperprior and a spatial
checkerboard context (the paper used a serial autoregressive context; the checkerboard
decodes in two parallel passes). With ``residual=True`` (the paper's variant) P-frames code
``y_t - y_hat_{t-1}`` instead of ``y_t``.

Frames of any size are replicate-padded to a multiple of 64 and cropped back. Each frame is
its own bitstream (streams ``z`` and ``y``), so files hold one chunk per frame.
"""

from __future__ import annotations

import torch
from torch import nn

from ...coding import Bitstream
from ...entropy_models import CheckerboardLatentCodec, HyperpriorLatentCodec, SpatiotemporalLatentCodec, hyper_transforms
from ...errors import CorruptFileError
from ...layers import GDN, conv, deconv
from ..base import Codec, CodecOutput
from ..image.memory import coding_bytes, widest
from ..image.padding import crop, pad_to_multiple
from ..registry import register_codec

STRIDE = 64


@register_codec("video/stem")
class STEMVideoCodec(Codec):
    def __init__(self, N: int = 128, M: int = 192, intra_period: int = 32, residual: bool = False) -> None:
        super().__init__()
        if intra_period < 1:
            raise ValueError("intra_period must be at least 1")
        self.N, self.M, self.intra_period, self.residual = int(N), int(M), int(intra_period), bool(residual)
        N, M = self.N, self.M
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.intra = HyperpriorLatentCodec(*hyper_transforms(M, N, 2 * M), N, CheckerboardLatentCodec(M, 2 * M))
        self.inter = SpatiotemporalLatentCodec(M, N)

    def config(self) -> dict:
        return {"N": self.N, "M": self.M, "intra_period": self.intra_period, "residual": self.residual}

    @property
    def entropy_params(self) -> str | None:
        """The exact-parameter scheme of the frames' streams (None: floating point); file
        formats that keep one header for all frames store it there."""
        if self.intra.entropy_params != self.inter.entropy_params:
            raise ValueError("intra and inter latent codecs use different entropy-parameter schemes")
        return self.intra.entropy_params

    def is_intra(self, t: int) -> bool:
        return t % self.intra_period == 0

    # --- training: clips [B, T, 3, H, W] -------------------------------------------------------

    def forward(self, x: torch.Tensor) -> CodecOutput:
        h, w = x.shape[-2:]
        frames, likelihoods, reference = [], {}, None
        for t in range(x.shape[1]):
            y = self.g_a(pad_to_multiple(x[:, t], STRIDE))
            if self.is_intra(t) or reference is None:
                y_hat, lik, _ = self.intra(y)
            elif self.residual:
                r_hat, lik, _ = self.inter(y - reference, reference)
                y_hat = r_hat + reference
            else:
                y_hat, lik, _ = self.inter(y, reference)
            frames.append(crop(self.g_s(y_hat), h, w))
            likelihoods.update({f"{k}{t}": v for k, v in lik.items()})
            reference = y_hat
        return CodecOutput(torch.stack(frames, dim=1), likelihoods)

    # --- coding, frame by frame -------------------------------------------------------------------

    def memory_estimate(self, height: int, width: int, direction: str = "decode") -> int:
        """Bytes coding or decoding one ``height``×``width`` frame adds at its peak (an estimate; frames
        run through the transforms whole, and the previous frame's ``y_hat`` is kept as reference)."""
        per_frame = coding_bytes(
            height, width, direction, y_channels=2 * self.M, side_channels=3 * self.M,
            transform_channels=widest(self.g_a, self.g_s), tile=None,
        )
        return per_frame

    def stream_shapes(self, height: int, width: int) -> dict[str, list[int]]:
        ph, pw = -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE
        return {"z": [1, self.N, ph // 64, pw // 64], "y": [1, self.M, ph // 16, pw // 16]}

    @torch.no_grad()
    def compress_frame(self, x: torch.Tensor, t: int, reference: torch.Tensor | None) -> tuple[Bitstream, torch.Tensor]:
        """Code frame ``t`` ([1, 3, H, W]); returns its bitstream and ``y_hat`` (the next reference)."""
        y = self.g_a(pad_to_multiple(x, STRIDE))
        if self.is_intra(t) or reference is None:
            return self.intra.compress(y)
        if self.residual:
            bitstream, r_hat = self.inter.compress(y - reference, reference)
            return bitstream, r_hat + reference
        return self.inter.compress(y, reference)

    @torch.no_grad()
    def decompress_frame(
        self, bitstream: Bitstream, t: int, reference: torch.Tensor | None, height: int, width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode frame ``t``; returns the frame [1, 3, H, W] in [0, 1] and its ``y_hat``."""
        if bitstream.shapes != self.stream_shapes(height, width):
            raise CorruptFileError(f"frame {t}: stream shapes {bitstream.shapes} do not fit {width}x{height}")
        if self.is_intra(t) or reference is None:
            y_hat = self.intra.decompress(bitstream, device=self.device)
        elif self.residual:
            y_hat = self.inter.decompress(bitstream, reference) + reference
        else:
            y_hat = self.inter.decompress(bitstream, reference)
        return crop(self.g_s(y_hat), height, width).clamp_(0, 1), y_hat

    # --- the Codec contract on whole clips [T, 3, H, W] ------------------------------------------

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> Bitstream:
        out, reference = Bitstream(side_info={"size": list(x.shape[-2:]), "frames": x.shape[0]}), None
        for t in range(x.shape[0]):
            bitstream, reference = self.compress_frame(x[t : t + 1], t, reference)
            out.merge(bitstream, f"f{t}.")
        return out

    @torch.no_grad()
    def decompress(self, bitstream: Bitstream) -> torch.Tensor:
        (h, w), frames, reference, out = bitstream.side_info["size"], bitstream.side_info["frames"], None, []
        for t in range(frames):
            frame, reference = self.decompress_frame(bitstream.select(f"f{t}."), t, reference, h, w)
            out.append(frame)
        return torch.cat(out)
