"""LightningModule that trains any registered image codec on the rate-distortion loss.

Manual optimisation: one Adam for the network, a second one for the factorized priors'
quantiles (their auxiliary loss must not leak into the main gradient), gradient clipping on
the main step, and a warm-up + cosine learning-rate schedule stepped once per batch.
The module is built from plain data (codec id + config), so checkpoints restore anywhere.
"""

from __future__ import annotations

import math

import lightning as L
import torch

from ..codecs import create_codec
from .losses import image_rd_loss


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to ``floor``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


class LitCodec(L.LightningModule):
    def __init__(
        self,
        codec_id: str = "image/hyperprior",
        codec_config: dict | None = None,
        lmbda: float = 0.013,
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        clip_norm: float = 1.0,
        warmup_steps: int = 0,
        total_steps: int = 0,
        lr_floor: float = 0.05,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.codec = create_codec(codec_id, codec_config or {})
        self.automatic_optimization = False

    def configure_optimizers(self):
        hp = self.hparams
        main = torch.optim.Adam(self.codec.main_parameters(), lr=hp.lr)
        aux = torch.optim.Adam(self.codec.aux_parameters(), lr=hp.aux_lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            main, lambda s: warmup_cosine(s, hp.warmup_steps, hp.total_steps, hp.lr_floor)
        )
        return [main, aux], [schedule]

    def training_step(self, batch: torch.Tensor, batch_idx: int):
        opt, aux_opt = self.optimizers()
        out = self.codec(batch)
        terms = image_rd_loss(out, batch, self.hparams.lmbda)
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(f"non-finite loss at step {self.global_step}; stopping")
        opt.zero_grad(set_to_none=True)
        self.manual_backward(terms["loss"])
        if self.hparams.clip_norm:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.clip_norm, gradient_clip_algorithm="norm")
        opt.step()

        # The quantile optimizer is stepped unwrapped: Lightning counts every wrapped
        # step() as a global step, and one batch must be one step.
        aux = self.codec.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        self.manual_backward(aux)
        aux_opt.optimizer.step()

        sched = self.lr_schedulers()
        if sched is not None:
            sched.step()
        self.log_dict(
            {"train/loss": terms["loss"], "train/bpp": terms["bpp"], "train/psnr": terms["psnr"], "train/aux": aux},
            prog_bar=True,
            on_step=True,
        )
        return terms["loss"].detach()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        out = self.codec(batch)
        out.x_hat = out.x_hat.clamp(0, 1)
        terms = image_rd_loss(out, batch, self.hparams.lmbda)
        self.log_dict(
            {"val/loss": terms["loss"], "val/bpp": terms["bpp"], "val/psnr": terms["psnr"]},
            prog_bar=True,
            batch_size=1,
        )
