"""The one training step every training module takes (manual optimisation).

A module names its loss terms (:meth:`RDStep.losses`, a dict with ``"loss"``), its quantile
loss (:meth:`RDStep.aux_loss`) and the parameters each optimizer trains
(:meth:`RDStep.trained_parameters`); this class does the rest, the same way for all of them:
the loss and the quantile loss are back-propagated together (they touch disjoint parameters, so
nothing mixes, and under DDP every gradient is all-reduced in the one backward pass); one Adam
steps the network, a second Adam the quantiles; gradients of the network are clipped by norm;
the learning rate follows a linear warm-up and a cosine decay over ``total_steps`` (by default
the trainer's ``max_steps``), stepped once per batch; the terms are logged under ``train/``.

A non-finite loss stops training with :class:`~omnicodec.errors.TrainingDivergedError`; the
last checkpoint written stays the last good one. ``check_finite_every`` > 1 checks only every
N steps, so a GPU step need not wait for the loss.

Checkpoints also carry the random generators' states (torch, CUDA, numpy, Python), so a run resumed
from any checkpoint draws the same quantisation noise and crops as the uninterrupted run (the data side
is handled by :mod:`.data`).

Hyper-parameters read: ``lr``, ``aux_lr``, ``clip_norm``, ``warmup_steps``, ``total_steps``,
and optionally ``lr_floor`` (default 0.05) and ``check_finite_every`` (default 1).
"""

from __future__ import annotations

import math
import random

import lightning as L
import numpy as np
import torch

from ..errors import InputError, TrainingDivergedError


def schedule_length(total_steps: int | None, max_steps: int | None) -> int:
    """Steps the cosine decay spans: ``total_steps`` when given, else the trainer's ``max_steps``.

    So ``--trainer.max_steps N`` stretches the schedule over the ``N`` steps it asks for. An
    explicit ``total_steps`` shorter than ``max_steps`` is refused: the learning rate would sit
    at its floor for the remaining steps. A longer one is allowed (a run stopped part-way on
    purpose, to be resumed with a larger ``max_steps``). ``max_steps`` of -1 (no limit) and no
    ``total_steps`` keep the rate constant after the warm-up.
    """
    limit = int(max_steps) if max_steps is not None else -1
    if not total_steps:
        return max(limit, 0)
    if limit > 0 and int(total_steps) < limit:
        raise InputError(
            f"model total_steps ({total_steps}) is shorter than trainer.max_steps ({limit}), so the learning rate "
            f"would sit at its floor for the last {limit - int(total_steps)} steps; leave total_steps out (the "
            "schedule then follows max_steps) or set it to at least max_steps"
        )
    return int(total_steps)


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to ``floor``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


class RDStep(L.LightningModule):
    """Base of :class:`~.lit.LitCodec` and :class:`~.distill.LitDistill`: their shared step."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def losses(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """``"loss"`` (what is minimised) and any further terms to log."""
        raise NotImplementedError

    def aux_loss(self) -> torch.Tensor:
        """The quantile loss the second optimizer minimises."""
        raise NotImplementedError

    def trained_parameters(self) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """The network's parameters (first optimizer) and the quantiles (second)."""
        raise NotImplementedError

    def configure_optimizers(self):
        hp = self.hparams
        network, quantiles = self.trained_parameters()
        if not network:
            raise ValueError("no network parameter is left to train: freeze names every one of them")
        main = torch.optim.Adam(network, lr=hp.lr)
        # a frozen entropy bottleneck leaves no quantile to fit: then there is no second optimizer
        optimizers = [main] + ([torch.optim.Adam(quantiles, lr=hp.aux_lr)] if quantiles else [])
        total = schedule_length(hp.total_steps, self._trainer.max_steps if self._trainer is not None else None)
        floor = hp.get("lr_floor", 0.05)
        schedule = torch.optim.lr_scheduler.LambdaLR(main, lambda s: warmup_cosine(s, hp.warmup_steps, total, floor))
        return optimizers, [schedule]

    def training_step(self, batch: torch.Tensor, batch_idx: int):
        opts = self.optimizers()
        opt, aux_opt = (opts[0], opts[1]) if isinstance(opts, (list, tuple)) else (opts, None)
        terms = self.losses(batch)
        aux = self.aux_loss()
        # checking reads the loss back to the host and so waits for the device; a GPU run checks
        # every N steps (a divergence then stops the run up to N steps late, and it saves nothing)
        every = max(1, int(self.hparams.get("check_finite_every", 1)))
        if self.global_step % every == 0 and not torch.isfinite(terms["loss"]):
            raise TrainingDivergedError(
                f"the loss became {terms['loss'].item()} at step {self.global_step}; training stopped "
                "(the last checkpoint written before this step is intact; lower the learning rate and resume from it)"
            )
        opt.zero_grad(set_to_none=True)
        if aux_opt is not None:
            aux_opt.zero_grad(set_to_none=True)
        self.manual_backward(terms["loss"] + aux)
        if self.hparams.clip_norm:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.clip_norm, gradient_clip_algorithm="norm")
        opt.step()
        # stepped unwrapped: Lightning counts every wrapped step() as a global step, and one
        # batch must be one step
        if aux_opt is not None:
            aux_opt.optimizer.step()
        sched = self.lr_schedulers()
        if sched is not None:
            sched.step()
        # logging costs as much as a small model's step: only on the steps the loggers write
        if self.trainer is None or (self.global_step % max(1, self.trainer.log_every_n_steps)) == 0:
            logged = {f"train/{k}": v.detach() for k, v in terms.items() if k not in ("mse", "distortion")}
            logged["train/aux"] = aux.detach()
            logged["train/lr"] = float(opt.param_groups[0]["lr"])
            self.log_dict(logged, prog_bar=True, on_step=True, batch_size=batch.shape[0])
        return terms["loss"].detach()

    # --- exact resume: random generators travel with the checkpoint ------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # plain types and tensors only: Lightning reloads checkpoints with weights_only=True
        np_state = np.random.get_state()
        py_version, py_state, py_gauss = random.getstate()
        checkpoint["rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                      "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
            "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("rng")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
        p = state["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
