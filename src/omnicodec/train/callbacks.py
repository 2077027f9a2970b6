"""Callbacks: real file sizes during training; a learning rate on a wall-clock budget; channels_last; a step clock."""

from __future__ import annotations

import copy
import math
import time

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


class TimeBudgetLR(L.Callback):
    """Warm restart on a wall-clock budget: a linear warm-up over ``warmup_steps`` steps to the
    main optimizer's base learning rate, then a cosine decay to ``floor`` × base over ``seconds``
    of wall-clock time (SGDR's one cycle, timed instead of counted, for runs stopped by
    ``max_time``). The time comes from the host clock, so no step waits for the device.

    It takes over the module's step schedule (a ``LambdaLR`` on the first optimizer): that
    scheduler keeps stepping once per batch, and its factor becomes this one."""

    def __init__(self, seconds: float, warmup_steps: int = 100, floor: float = 0.05) -> None:
        self.seconds, self.warmup_steps, self.floor = float(seconds), int(warmup_steps), float(floor)
        self.start = time.monotonic()

    def factor(self, step: int, elapsed: float | None = None) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        elapsed = time.monotonic() - self.start if elapsed is None else elapsed
        t = min(1.0, max(elapsed, 0.0) / max(self.seconds, 1e-9))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * t))

    def on_train_start(self, trainer, pl_module) -> None:
        from torch.optim.lr_scheduler import LambdaLR

        main = trainer.optimizers[0]
        schedulers = [c.scheduler for c in trainer.lr_scheduler_configs if c.scheduler.optimizer is main]
        if not schedulers or not isinstance(schedulers[0], LambdaLR):
            raise TypeError("TimeBudgetLR drives the LambdaLR of the module's first optimizer; the module has none")
        self.start = time.monotonic()
        sched = schedulers[0]
        sched.lr_lambdas = [self.factor] * len(main.param_groups)
        for group, base in zip(main.param_groups, sched.base_lrs):
            group["lr"] = base * self.factor(sched.last_epoch)


class ChannelsLast(L.Callback):
    """Move the codec to ``channels_last`` memory format (faster convolutions on tensor cores)."""

    def on_fit_start(self, trainer, pl_module) -> None:
        pl_module.to(memory_format=torch.channels_last)


class StepClock(L.Callback):
    """Wall-clock time and steps of a run after ``warmup`` steps (one device sync at each end)."""

    def __init__(self, warmup: int = 10) -> None:
        self.warmup = int(warmup)
        self.start: float | None = None
        self.end: float | None = None
        self.steps = 0
        self.first_step_seconds: float | None = None
        self._t0 = 0.0

    @staticmethod
    def _sync(pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 1 and self.first_step_seconds is None:
            self.first_step_seconds = time.perf_counter() - self._t0
        if trainer.global_step == self.warmup and self.start is None:
            self._sync(pl_module)
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.end = time.perf_counter()
        self.steps = max(trainer.global_step - self.warmup, 0) if self.start is not None else 0

    def steps_per_second(self) -> float:
        if not self.steps or self.start is None or self.end is None or self.end <= self.start:
            return math.nan
        return self.steps / (self.end - self.start)
