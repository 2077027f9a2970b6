"""The loop that trains one part of a codec on rate alone while every other weight stays frozen: the
temporal prior of ``video/stem`` (:mod:`.video_prior`), the entropy model of ``image/hyperprior``
(:mod:`.image_prior`). The part holds an ``entropy_bottleneck`` whose quantiles a second optimizer trains."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch


def train_rate_only(
    codec: torch.nn.Module, part: torch.nn.Module, draw_loss: Callable[[np.random.Generator], torch.Tensor],
    steps: int, seconds: float = float("inf"), lr: float = 1e-4, lr_floor: float = 1.0, aux_lr: float = 1e-3,
    seed: int = 0, log_every: int = 50, on_log=None, export_every: int = 0, on_export=None, first: int = 0,
    fast: tuple[torch.nn.Parameter, ...] = (), fast_scale: float = 1.0,
) -> list[float]:
    """Train ``part`` of ``codec`` on ``draw_loss(rng)`` (a batch's bits per pixel) from step ``first`` to
    ``steps``, or until ``seconds`` have passed; returns every step's loss. The learning rate follows a
    cosine from ``lr`` to ``lr_floor × lr`` over ``0…steps`` (``lr_floor`` 1: constant). ``on_log(step,
    mean_loss)`` every ``log_every`` steps, ``on_export(step)`` every ``export_every`` steps and after the
    last one (one optimizer throughout: a fresh Adam makes the first steps jump). Parameters of ``part``
    named in ``fast`` learn at ``fast_scale`` times the learning rate."""
    codec.requires_grad_(False)
    codec.eval()
    part.requires_grad_(True).train()
    aux_ids = {id(p) for m in part.modules() if hasattr(m, "quantile_parameters") for p in m.quantile_parameters()}
    fast_ids = {id(p) for p in fast}
    slow = [p for p in part.parameters() if id(p) not in aux_ids and id(p) not in fast_ids]
    quick = [p for p in part.parameters() if id(p) in fast_ids]
    groups = [{"params": slow, "scale": 1.0}, {"params": quick, "scale": float(fast_scale)}]
    main = torch.optim.Adam([g for g in groups if g["params"]], lr=lr)
    aux = torch.optim.Adam([p for p in part.parameters() if id(p) in aux_ids], lr=aux_lr)
    rng, losses, start = np.random.default_rng(seed), [], time.monotonic()
    for step in range(first, steps):
        if time.monotonic() - start > seconds:
            break
        cosine = lr_floor + (1 - lr_floor) * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
        for group in main.param_groups:
            group["lr"] = group["scale"] * lr * cosine
        loss = draw_loss(rng)
        aux_loss = part.entropy_bottleneck.aux_loss()
        main.zero_grad(set_to_none=True)
        aux.zero_grad(set_to_none=True)
        (loss + aux_loss).backward()
        main.step()
        aux.step()
        losses.append(float(loss.detach()))
        if on_log is not None and (step + 1) % log_every == 0:
            on_log(step + 1, float(np.mean(losses[-log_every:])))
        if on_export is not None and export_every and (step + 1) % export_every == 0:
            on_export(step + 1)
    codec.eval()
    if on_export is not None and losses and (not export_every or (first + len(losses)) % export_every):
        on_export(first + len(losses))
    return losses
