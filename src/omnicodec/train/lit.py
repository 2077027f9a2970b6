"""LightningModule that trains any registered codec on its rate-distortion loss.

Built from plain data (codec id + config), so checkpoints restore anywhere. The step itself
(optimizers, clipping, schedule, divergence check, logging) is :class:`~.step.RDStep`'s.

Variable-rate codecs (a ``quality_range``) train with ``lmbda_levels``, one λ per quality level:
every sample of a batch draws its own quality (half of them an integer level, half a real
quality between levels) and its λ is interpolated in the logarithm like the gains, so one
model learns every rate.

``freeze`` names parameter prefixes of the codec that stay as loaded (e.g. a video codec whose
frame transforms come from the trained image model trains only its temporal part first, or an
image codec trains only its synthesis transform with ``freeze: [g_a, latent, gains]``: then no
quantile is left to fit and the step runs without the second optimizer).

Checkpoints carry the random generators' states (:mod:`.step`), so a run resumes exactly.
"""

from __future__ import annotations

import math

import torch

from ..codecs import create_codec
from ..layers.gain import GainUnits, interpolate_levels
from .losses import DISTORTIONS, rd_loss
from .step import RDStep


class LitCodec(RDStep):
    def __init__(
        self,
        codec_id: str = "image/hyperprior",
        codec_config: dict | None = None,
        lmbda: float = 0.013,
        distortion: str | None = None,
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        clip_norm: float = 1.0,
        warmup_steps: int = 0,
        total_steps: int | None = None,
        lr_floor: float = 0.05,
        lmbda_levels: list[float] | None = None,
        freeze: list[str] | None = None,
        check_finite_every: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.codec = create_codec(codec_id, codec_config or {})
        self.media = self.codec.media
        self.distortion = distortion or DISTORTIONS[self.media][0]
        if self.distortion not in DISTORTIONS[self.media]:
            raise ValueError(f"distortion {self.distortion!r} does not apply to {self.media} codecs")
        if freeze:
            frozen = [n for n, p in self.codec.named_parameters() if n.startswith(tuple(freeze))]
            if not frozen:
                raise ValueError(f"freeze {freeze} matches no parameter of {codec_id}")
            for n, p in self.codec.named_parameters():
                if n.startswith(tuple(freeze)):
                    p.requires_grad_(False)
        self.variable_rate = self.codec.quality_range is not None
        if lmbda_levels is not None:
            levels = self.codec.quality_range[1] if self.variable_rate else 0
            if len(lmbda_levels) != levels or min(lmbda_levels) <= 0:
                raise ValueError(
                    f"lmbda_levels needs one positive λ per quality level of a variable-rate codec "
                    f"({codec_id} with this config has {int(levels)} levels, got {len(lmbda_levels)} values)"
                )
        elif self.variable_rate:
            raise ValueError(f"{codec_id} with levels is variable-rate: give lmbda_levels, one λ per level")
        gains = getattr(self.codec, "gains", None)
        if lmbda_levels is not None and isinstance(gains, GainUnits):
            # a fresh model's levels start apart, each at sqrt(λ / λ_mid) (the step size that halves the
            # distortion when λ doubles); with every gain at 1 its levels code alike for thousands of steps.
            # Weights loaded afterwards (--init, a resumed checkpoint) replace them.
            mid = math.exp(sum(math.log(v) for v in lmbda_levels) / len(lmbda_levels))
            gains.set_level_scales([math.sqrt(v / mid) for v in lmbda_levels])
        if self.variable_rate and self.distortion not in ("mse", "frame-mse", "stft-mel"):
            raise ValueError(f"variable-rate training weighs each sample by its own λ, which the {self.distortion} "
                             "distortion does not support yet; use mse")

    def trained_parameters(self):
        return ([p for p in self.codec.main_parameters() if p.requires_grad],
                [p for p in self.codec.aux_parameters() if p.requires_grad])

    def lmbda_at(self, quality: torch.Tensor) -> torch.Tensor:
        """λ for real qualities, interpolated between the levels' λ in the logarithm."""
        log = torch.log(torch.tensor(self.hparams.lmbda_levels, dtype=torch.float32, device=quality.device))
        return interpolate_levels(log, quality)

    def sample_qualities(self, batch_size: int, device) -> torch.Tensor:
        """Half integer levels, half real qualities anywhere in the range (global torch generator, so
        resumed runs draw the same)."""
        levels = len(self.hparams.lmbda_levels)
        real = 1 + torch.rand(batch_size) * (levels - 1)
        integer = torch.randint(1, levels + 1, (batch_size,)).float()
        return torch.where(torch.rand(batch_size) < 0.5, integer, real).to(device)

    def losses(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.variable_rate:
            return rd_loss(self.media, self.distortion, self.codec(batch), batch, self.hparams.lmbda)
        quality = self.sample_qualities(batch.shape[0], batch.device)
        return rd_loss(self.media, self.distortion, self.codec(batch, quality), batch, self.lmbda_at(quality))

    def aux_loss(self) -> torch.Tensor:
        return self.codec.aux_loss()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        out = self.codec(batch)  # a variable-rate codec at its default quality
        out.x_hat = out.x_hat.clamp(0, 1) if self.media != "speech" else out.x_hat.clamp(-1, 1)
        lmbda = self.hparams.lmbda
        if self.variable_rate:
            lmbda = float(self.lmbda_at(torch.tensor([self.codec.default_quality])))
        terms = rd_loss(self.media, self.distortion, out, batch, lmbda)
        self.log_dict({f"val/{k}": v for k, v in terms.items() if k not in ("mse", "distortion")}, batch_size=1)
