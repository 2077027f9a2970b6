"""Callbacks: real file sizes during training."""

from __future__ import annotations

import copy

import lightning as L
import torch

from ..coding import container


class RealBitrateCallback(L.Callback):
    """Every ``every_n_steps`` steps, compress up to ``images`` validation images with a frozen
    CPU copy of the codec into real omnicodec containers, and log the real bits per pixel
    (``val/bpp_real``) next to the likelihood estimate (``val/bpp_est``) of the same images."""

    def __init__(self, every_n_steps: int = 5000, images: int = 4) -> None:
        self.every_n_steps, self.images = int(every_n_steps), int(images)

    def _samples(self, trainer: L.Trainer) -> list[torch.Tensor]:
        data = trainer.datamodule
        val = getattr(data, "val_set", None) if data is not None else None
        if val is None or len(val) == 0:
            return []
        return [val[i] for i in range(min(self.images, len(val)))]

    @torch.no_grad()
    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float] | None:
        samples = self._samples(trainer)
        if not samples:
            return None
        codec = copy.deepcopy(pl_module.codec).cpu().float().eval()
        codec.freeze()
        real_bits = est_bits = pixels = 0.0
        for x in samples:
            x = x.unsqueeze(0).cpu().float()
            bitstream = codec.compress(x)
            header = {"codec": codec.codec_id, "shapes": bitstream.shapes, "side_info": bitstream.side_info}
            real_bits += 8 * len(container.pack(header, bitstream.streams))
            est_bits += sum(float((-torch.log2(v)).sum()) for v in codec(x).likelihoods.values())
            pixels += x.shape[-2] * x.shape[-1]
        return {"val/bpp_real": real_bits / pixels, "val/bpp_est": est_bits / pixels}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps <= 0 or step == 0 or step % self.every_n_steps or not trainer.is_global_zero:
            return
        metrics = self.measure(trainer, pl_module)
        if metrics:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
