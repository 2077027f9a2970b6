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
its own bitstream (streams ``z`` and ``y``), so files hold one chunk per frame. A file's header
states its intra period and the decoder follows it, so files coded with another period than the
codec's config (an older release's, say) decode all the same.

On the shoulders of the image model: with ``intra_prior="mean-scale"`` (or
``"residual-checkerboard"``) the frame transforms and the intra latent codec have exactly the layout
of ``image/hyperprior`` (GDN ``g_a``/``g_s``, the mean-scale hyperprior without a context, or with
the image model's checkerboard context), and :meth:`STEMVideoCodec.from_image` copies a trained image model into
them, gain units included, so an intra frame is coded exactly as that image model codes a
picture and only the temporal part (``inter``) has to learn. With ``levels`` the codec is
variable-rate like the image model: every frame's latent is scaled by the gains of the clip's
quality, the temporal reference lives in that scaled domain, and the quality travels in the
side info.

Motion (``motion_block`` > 0): a P-frame's entropy model reads, instead of the previous decoded
latent, the latent of the previous decoded frame moved block by block (:mod:`.motion`: integer vectors
found by the encoder, sent in the frame's ``v`` stream) and analysed by ``g_a``. That reference path
runs in fixed point (:mod:`.reference`), so encoder and decoder derive it bit for bit on any machine;
the decoder outputs the exactly synthesised frames.

Entropy skip (``skip_threshold`` τ > 0, as in the image model): elements of ``y`` whose predicted scale
is below τ are not coded and take their predicted mean, in intra frames and P-frames alike; the
header states τ and the decoder follows it. Training never skips.
"""

from __future__ import annotations

import torch

from ...coding import Bitstream
from ...constants import IMAGE_STRIDE as STRIDE
from ...entropy_models import (
    CheckerboardLatentCodec,
    HyperpriorLatentCodec,
    SpatiotemporalLatentCodec,
    hyper_transforms,
)
from ...entropy_models.gaussian import checked_skip_tau
from ...errors import CorruptFileError
from ...layers import GainUnits, gdn_analysis, gdn_synthesis
from ..base import CHANNELS, Codec, CodecOutput, Unit, UnitDecoder, UnitEncoder, frame_streams, header_size, unframe_streams
from ..image.base import pixels_to_float
from ..image.hyperprior import MAX_SKIP_THRESHOLD
from ..image.hyperprior import latent_codec as image_latent_codec
from ..image.memory import coding_bytes, widest
from ..image.padding import crop, pad_to_multiple
from ..rate import LEVELS, QUALITIES, VariableRate
from ..registry import register_codec
from .motion import BLOCKS, MAX_REACH, compensate, decode_vectors, encode_vectors, grid, motion_search
from .reference import MotionReference

INTRA_PRIORS = ("checkerboard", "mean-scale", "residual-checkerboard")
INTER_PRIORS = ("checkerboard", "residual-checkerboard")  # the P-frames' checkerboard: plain, or correcting h_s
IMAGE_CONTEXT = {"mean-scale": "none", "residual-checkerboard": "checkerboard"}  # intra codecs that are an image model's
PRIOR_KERNELS = (3, 5)  # the temporal prior's convolutions: 5×5 as in the paper, 3×3 at a third of the parameters
MAX_INTRA_PERIOD = 1 << 20


@register_codec("video/stem")
class STEMVideoCodec(VariableRate, Codec):
    def __init__(
        self, N: int = 128, M: int = 192, intra_period: int = 32, residual: bool = False, levels: int = 0,
        default_quality: float = 3.0, intra_prior: str = "checkerboard", prior_kernel: int = 5,
        inter_prior: str = "checkerboard", motion_block: int = 0, motion_range: int = 16, skip_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        if motion_block not in (0, *BLOCKS):
            raise ValueError(f"motion_block must be 0 (no motion) or one of {BLOCKS}, got {motion_block!r}")
        if not 1 <= motion_range <= MAX_REACH:
            raise ValueError(f"motion_range must be from 1 to {MAX_REACH} pixels, got {motion_range!r}")
        if motion_block and residual:
            raise ValueError("motion compensation predicts the latent itself; it does not combine with residual=True")
        if not 1 <= intra_period <= MAX_INTRA_PERIOD:
            raise ValueError(f"intra_period must be from 1 to {MAX_INTRA_PERIOD}, got {intra_period!r}")
        if not 0.0 <= skip_threshold <= MAX_SKIP_THRESHOLD:
            raise ValueError(f"skip_threshold must be from 0 to {MAX_SKIP_THRESHOLD}, got {skip_threshold!r}")
        if prior_kernel not in PRIOR_KERNELS:
            raise ValueError(f"prior_kernel must be one of {PRIOR_KERNELS}, got {prior_kernel!r}")
        if intra_prior not in INTRA_PRIORS:
            raise ValueError(f"intra_prior must be one of {', '.join(INTRA_PRIORS)}, got {intra_prior!r}")
        if inter_prior not in INTER_PRIORS:
            raise ValueError(f"inter_prior must be one of {', '.join(INTER_PRIORS)}, got {inter_prior!r}")
        self.N, self.M, self.intra_period, self.residual = int(N), int(M), int(intra_period), bool(residual)
        self.levels, self.intra_prior, self.prior_kernel = int(levels), intra_prior, int(prior_kernel)
        self.inter_prior = inter_prior
        self.motion_block, self.motion_range = int(motion_block), int(motion_range)
        self.skip_threshold = float(skip_threshold)
        self.gains = GainUnits(self.M, self.levels) if self.levels else None
        if self.gains is not None:
            self.default_quality = self._quality(min(float(default_quality), self.levels))
        N, M = self.N, self.M
        self.g_a = gdn_analysis(N, M)
        self.g_s = gdn_synthesis(M, N)
        if intra_prior == "checkerboard":
            self.intra = HyperpriorLatentCodec(*hyper_transforms(M, N, 2 * M), N, CheckerboardLatentCodec(M, 2 * M),
                                               skip_threshold=self.skip_threshold)
        else:  # the image model's latent codec, layer for layer
            self.intra = image_latent_codec(N, M, IMAGE_CONTEXT[intra_prior], self.skip_threshold)
        self.inter = SpatiotemporalLatentCodec(M, N, self.prior_kernel, residual=inter_prior == "residual-checkerboard",
                                               skip_threshold=self.skip_threshold)

    @classmethod
    def config_ranges(cls) -> dict:
        return {"N": CHANNELS, "M": CHANNELS, "intra_period": (1, MAX_INTRA_PERIOD), "levels": LEVELS, "default_quality": QUALITIES,
                "prior_kernel": (min(PRIOR_KERNELS), max(PRIOR_KERNELS)), "motion_block": (0, max(BLOCKS)),
                "motion_range": (1, MAX_REACH), "skip_threshold": (0.0, MAX_SKIP_THRESHOLD)}

    def config(self) -> dict:
        config = {"N": self.N, "M": self.M, "intra_period": self.intra_period, "residual": self.residual}
        if self.intra_prior != "checkerboard":
            config["intra_prior"] = self.intra_prior
        if self.prior_kernel != 5:
            config["prior_kernel"] = self.prior_kernel
        if self.inter_prior != "checkerboard":
            config["inter_prior"] = self.inter_prior
        if self.motion_block:
            config.update(motion_block=self.motion_block, motion_range=self.motion_range)
        if self.levels:
            config.update(levels=self.levels, default_quality=self.default_quality)
        if self.skip_threshold:
            config["skip_threshold"] = self.skip_threshold
        return config

    @classmethod
    def from_image(
        cls, image: Codec, intra_period: int = 32, residual: bool = False, prior_kernel: int = 5,
        inter_prior: str | None = None,
    ) -> STEMVideoCodec:
        """A video codec whose frame transforms, gains and intra latent codec are ``image``'s (an
        ``image/hyperprior``); only ``inter`` must learn (its temporal prior of ``prior_kernel``-wide
        convolutions). ``inter_prior`` (default: ``"residual-checkerboard"`` when the image model has a
        context, else ``"checkerboard"``): with ``"residual-checkerboard"`` ``inter`` starts as a copy of
        the intra codec that ignores the reference, so a P-frame starts at the intra frame's rate; with
        ``"checkerboard"`` it starts untrained."""
        config = image.config()
        intra_prior = {context: prior for prior, context in IMAGE_CONTEXT.items()}[config.get("context", "none")]
        if inter_prior is None:
            inter_prior = "residual-checkerboard" if intra_prior == "residual-checkerboard" else "checkerboard"
        if inter_prior == "residual-checkerboard" and intra_prior != "residual-checkerboard":
            raise ValueError("inter_prior 'residual-checkerboard' starts from an image model with a context; "
                             f"{image.codec_id} with this config has none")
        video = cls(
            config["N"], config["M"], intra_period, residual, config.get("levels", 0),
            config.get("default_quality", 3.0), intra_prior=intra_prior, prior_kernel=prior_kernel,
            inter_prior=inter_prior, skip_threshold=config.get("skip_threshold", 0.0),
        )
        renamed = {("intra." + k[len("latent."):] if k.startswith("latent.") else k): v
                   for k, v in image.state_dict().items()}
        missing, unexpected = video.load_state_dict(renamed, strict=False)
        missing = [k for k in missing if not k.startswith("inter.")]
        if missing or unexpected:
            raise ValueError(
                f"{image.codec_id} does not fit a STEM frame codec (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        if inter_prior == "residual-checkerboard":
            video.inter.start_as(video.intra)
        return video

    def to_image(self) -> Codec:
        """The ``image/hyperprior`` whose frame transforms, gains and intra codec these are (the inverse of
        :meth:`from_image`; the temporal prior is left out)."""
        from ..registry import create_codec

        config = self.config()
        if self.intra_prior not in IMAGE_CONTEXT:
            raise ValueError(f"a STEM codec with intra_prior {self.intra_prior!r} holds no image model's latent codec")
        image = create_codec("image/hyperprior", {"N": config["N"], "M": config["M"], "levels": config["levels"],
                                                  "default_quality": config["default_quality"],
                                                  "context": IMAGE_CONTEXT[self.intra_prior],
                                                  "skip_threshold": self.skip_threshold})
        image.load_state_dict({("latent." + k[len("intra."):] if k.startswith("intra.") else k): v
                               for k, v in self.state_dict().items() if not k.startswith("inter.")})
        return image

    @property
    def entropy_params(self) -> str | None:
        """The exact-parameter scheme of the frames' streams (None: floating point); file
        formats that keep one header for all frames store it there."""
        if self.intra.entropy_params != self.inter.entropy_params:
            raise ValueError("intra and inter latent codecs use different entropy-parameter schemes")
        return self.intra.entropy_params

    def is_intra(self, t: int, intra_period: int | None = None) -> bool:
        """Whether frame ``t`` is an intra frame, under ``intra_period`` (a file's; default: the codec's)."""
        return t % (intra_period or self.intra_period) == 0

    # --- training: clips [B, T, 3, H, W] -------------------------------------------------------

    def forward(self, x: torch.Tensor, quality: torch.Tensor | float | None = None) -> CodecOutput:
        """``quality`` (variable-rate codecs): a number, or a ``[B]`` tensor with one quality per clip."""
        h, w = x.shape[-2:]
        frames, likelihoods, reference, previous = [], {}, None, None
        for t in range(x.shape[1]):
            padded = pad_to_multiple(x[:, t], STRIDE)
            y = self._scaled(self.g_a(padded), quality)
            if self.is_intra(t) or reference is None:
                y_hat, lik, _ = self.intra(y)
            elif self.residual:
                r_hat, lik, _ = self.inter(y - reference, reference)
                y_hat = r_hat + reference
            elif self.motion_block:
                y_hat, lik, _ = self.inter(y, self._scaled(self.g_a(self.moved_frames(padded, previous.detach())), quality))
            else:
                y_hat, lik, _ = self.inter(y, reference)
            previous = self.g_s(self._unscaled(y_hat, quality))
            frames.append(crop(previous, h, w))
            likelihoods.update({f"{k}{t}": v for k, v in lik.items()})
            reference = y_hat
        return CodecOutput(torch.stack(frames, dim=1), likelihoods)

    def moved_frames(self, frames: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """Each decoded previous frame (``decoded``, [B, 3, H, W], clamped to [0, 1] here) moved onto its
        frame in ``frames`` by the encoder's block motion search: in floating point, what training (and
        ``g_a`` of it, a P-frame's prediction) uses."""
        moved = []
        for b in range(frames.shape[0]):
            previous = decoded[b : b + 1].clamp(0, 1)
            vectors = motion_search(frames[b : b + 1], previous, self.motion_block, self.motion_range)
            moved.append(compensate(previous, vectors, self.motion_block))
        return torch.cat(moved)

    def _reference_path(self, quality: float | None) -> MotionReference:
        return MotionReference(self.g_a, self.g_s, self.gains, None if self.gains is None else self._quality(quality),
                               self.motion_block)

    # --- coding, frame by frame -------------------------------------------------------------------

    def memory_estimate(self, height: int, width: int, direction: str = "decode") -> int:
        """Bytes coding or decoding one ``height``×``width`` frame adds at its peak (an estimate; frames
        run through the transforms whole, and the previous frame's ``y_hat`` is kept as reference; with
        motion the exact reference path runs both transforms in float64: twice the transforms' memory)."""
        per_frame = coding_bytes(
            height, width, direction, y_channels=2 * self.M, side_channels=3 * self.M,
            transform_channels=(2 if self.motion_block else 1) * widest(self.g_a, self.g_s), tile=None,
        )
        return per_frame

    def stream_shapes(self, height: int, width: int) -> dict[str, list[int]]:
        ph, pw = -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE
        return {"z": [1, self.N, ph // 64, pw // 64], "y": [1, self.M, ph // 16, pw // 16]}

    @torch.no_grad()
    def compress_frame(
        self, x: torch.Tensor, t: int, reference: torch.Tensor | None, quality: float | None = None,
        intra_period: int | None = None,
    ) -> tuple[Bitstream, torch.Tensor]:
        """Code frame ``t`` ([1, 3, H, W]) at ``quality`` (variable-rate codecs; default: theirs), an intra
        frame every ``intra_period`` frames (default: the codec's); returns its bitstream and the next
        frame's reference (``y_hat``; with motion, the exactly decoded frame, padded)."""
        if quality is not None and self.gains is None:
            raise ValueError(f"{self.codec_id} with this config has one fixed rate; it takes no quality")
        padded = pad_to_multiple(x, STRIDE)
        y = self._scaled(self.g_a(padded), quality)
        path = self._reference_path(quality) if self.motion_block else None
        if self.is_intra(t, intra_period) or reference is None:
            bitstream, y_hat = self.intra.compress(y)
        elif path is not None:
            vectors = motion_search(padded, reference, self.motion_block, self.motion_range)
            bitstream, y_hat = self.inter.compress(y, path.latent(reference, vectors).to(y.dtype))
            bitstream.streams["v"] = encode_vectors(vectors, self.motion_range)
        elif self.residual:
            bitstream, r_hat = self.inter.compress(y - reference, reference)
            y_hat = r_hat + reference
        else:
            bitstream, y_hat = self.inter.compress(y, reference)
        if self.gains is not None:
            bitstream.side_info["quality"] = self._quality(quality)
        return bitstream, (y_hat if path is None else path.frame(y_hat))

    @torch.no_grad()
    def decompress_frame(
        self, bitstream: Bitstream, t: int, reference: torch.Tensor | None, height: int, width: int,
        intra_period: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode frame ``t`` (of a file whose intra period is ``intra_period``; default: the codec's);
        returns the frame [1, 3, H, W] in [0, 1] and the next frame's reference (its ``y_hat``; with motion,
        the exactly decoded frame, padded)."""
        if bitstream.shapes != self.stream_shapes(height, width):
            raise CorruptFileError(f"frame {t}: stream shapes {bitstream.shapes} do not fit {width}x{height}")
        try:
            quality = self._stream_quality(bitstream.side_info)
        except ValueError as exc:
            raise CorruptFileError(f"frame {t}: the file declares an invalid quality: {exc}") from None
        path = self._reference_path(quality) if self.motion_block else None
        if self.is_intra(t, intra_period) or reference is None:
            y_hat = self.intra.decompress(bitstream, device=self.device)
        elif path is not None:
            rows, cols = grid(*reference.shape[-2:], self.motion_block)
            vectors = decode_vectors(bitstream.streams.get("v", b""), rows, cols, self.motion_range,
                                     f"frame {t}'s motion vectors")
            y_hat = self.inter.decompress(bitstream, path.latent(reference, vectors).float())
        elif self.residual:
            y_hat = self.inter.decompress(bitstream, reference) + reference
        else:
            y_hat = self.inter.decompress(bitstream, reference)
        if path is not None:  # the exact frame is the output and the next reference
            frame = path.frame(y_hat)
            return crop(frame, height, width).float(), frame
        return crop(self.g_s(self._unscaled(y_hat, quality)), height, width).clamp_(0, 1), y_hat

    # --- the streaming contract: one unit per frame ---------------------------------------------

    def encoder_options(self) -> dict[str, tuple[int, int]]:
        """``intra_period``: an intra frame every that many frames (default: the codec's). Shorter periods
        give more points to start decoding from, and cost rate."""
        return {"intra_period": (1, MAX_INTRA_PERIOD)}

    def encoder_defaults(self) -> dict[str, int]:
        return {"intra_period": self.intra_period}

    def unit_encoder(self, media: dict, quality: float | None = None, intra_period: int | None = None) -> UnitEncoder:
        if quality is not None and self.gains is None:
            raise ValueError(f"{self.codec_id} with this config has one fixed rate; it takes no quality")
        if intra_period is None:
            intra_period = self.intra_period
        elif type(intra_period) is not int or not 1 <= intra_period <= MAX_INTRA_PERIOD:
            raise ValueError(f"the intra period must be a whole number of frames from 1 to {MAX_INTRA_PERIOD}, "
                             f"got {intra_period!r}")
        # the GOP structure: an intra frame every intra_period frames, P-frames between (each on the previous frame)
        header = {"size": [int(media["height"]), int(media["width"])], "intra_period": intra_period}
        if self.entropy_params is not None:  # one scheme for all frames
            header["entropy_params"] = self.entropy_params
        if self.gains is not None:  # one quality for all frames
            header["quality"] = self._quality(quality)
        if self.motion_block:  # P-frames predicted from the previous frame moved by block vectors
            header["motion"] = {"block": self.motion_block, "range": self.motion_range}
        if self.skip_threshold:  # entropy skip: the decoder must skip exactly the same elements
            header["skip_tau"] = self.skip_threshold
        return _FrameEncoder(self, header)

    def unit_decoder(self, header: dict) -> UnitDecoder:
        h, w = header_size(header, "frame")
        # the decoder follows the file's GOP structure (files of 0.1 state it in the media: the codec's then)
        period = header.get("intra_period", self.intra_period)
        if type(period) is not int or not 1 <= period <= MAX_INTRA_PERIOD:
            raise CorruptFileError(f"the file declares an invalid intra period {period!r} (1 to {MAX_INTRA_PERIOD})")
        motion = {"block": self.motion_block, "range": self.motion_range} if self.motion_block else None
        if header.get("motion") != motion:
            raise CorruptFileError(f"the file declares motion {header.get('motion')!r}; its codec has {motion!r}")
        frame_info = {k: header[k] for k in ("entropy_params", "quality") if k in header}
        if "skip_tau" in header:
            frame_info["skip_tau"] = checked_skip_tau(header["skip_tau"])
        return _FrameDecoder(self, h, w, frame_info, period)

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """A clip [T, 3, H, W] is pushed frame by frame."""
        return [x[t : t + 1] for t in range(x.shape[0])]


class _FrameEncoder(UnitEncoder):
    def __init__(self, codec: STEMVideoCodec, header: dict) -> None:
        self.codec, self.header, self.stats = codec, header, {}
        self.t, self.reference = 0, None

    def push(self, frame: torch.Tensor) -> list[Unit]:
        """``frame``: [1, 3, H, W], floats in [0, 1] or 8-bit pixels."""
        x = pixels_to_float(frame.to(self.codec.device))
        period = self.header["intra_period"]
        bitstream, self.reference = self.codec.compress_frame(x, self.t, self.reference, self.header.get("quality"),
                                                              period)
        names = _stream_names(self.codec, self.t, period)
        unit = (f"frame-{self.t}", frame_streams({k: bitstream.streams[k] for k in names}))
        self.t += 1
        return [unit]


class _FrameDecoder(UnitDecoder):
    kind = "frame"

    def __init__(self, codec: STEMVideoCodec, h: int, w: int, frame_info: dict, intra_period: int) -> None:
        self.codec, self.h, self.w, self.frame_info, self.intra_period = codec, h, w, frame_info, intra_period
        self.shapes, self.reference = codec.stream_shapes(h, w), None

    def push(self, name: str, payload: bytes) -> list[torch.Tensor]:
        t = self.count
        if name != f"frame-{t}":
            raise CorruptFileError(f"expected the chunk of frame {t}, found {name!r}")
        streams = unframe_streams(payload, _stream_names(self.codec, t, self.intra_period), f"frame {t}")
        bitstream = Bitstream(streams, {k: list(v) for k, v in self.shapes.items()}, dict(self.frame_info))
        frame, self.reference = self.codec.decompress_frame(bitstream, t, self.reference, self.h, self.w,
                                                            self.intra_period)
        self.count += 1
        return [frame]

    def finish(self) -> list[torch.Tensor]:
        if self.count == 0:
            raise CorruptFileError("the file holds no frames")
        return []


def _stream_names(codec: STEMVideoCodec, t: int, intra_period: int) -> tuple[str, ...]:
    """A frame's streams: ``z`` and ``y``, and a motion-compensated P-frame's vectors ``v``."""
    return ("z", "y", "v") if codec.motion_block and not codec.is_intra(t, intra_period) else ("z", "y")
