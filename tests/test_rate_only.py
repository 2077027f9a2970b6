"""The rate-only training loop: only the part learns, along its learning-rate schedule, from any step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from omnicodec.train.rate_only import train_rate_only


class Bottleneck(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quantiles = nn.Parameter(torch.zeros(1))

    def quantile_parameters(self):
        return [self.quantiles]

    def aux_loss(self) -> torch.Tensor:
        return (self.quantiles * 0).sum()


class Part(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.entropy_bottleneck = Bottleneck()


def _trajectory(steps: int, first: int, lr: float, lr_floor: float) -> tuple[list[float], nn.Module]:
    codec = nn.Module()
    codec.frozen = nn.Linear(1, 1)
    codec.part = Part()
    seen = []

    def loss(rng):  # a constant gradient: Adam moves w by exactly the learning rate each step
        seen.append(codec.part.w.item())
        return codec.part.w.sum() + 0 * codec.frozen.weight.sum()

    train_rate_only(codec, codec.part, loss, steps, lr=lr, lr_floor=lr_floor, first=first)
    seen.append(codec.part.w.item())
    return [a - b for a, b in zip(seen[:-1], seen[1:])], codec


@pytest.mark.parametrize("first", [0, 4])
def test_each_step_moves_by_the_cosine_schedule_from_any_first_step(first):
    steps, lr, floor = 10, 1e-2, 0.1
    moves, codec = _trajectory(steps, first, lr, floor)
    expected = [lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * s / steps))) for s in range(first, steps)]
    assert moves == pytest.approx(expected, rel=1e-3)
    assert codec.frozen.weight.grad is None and not codec.frozen.weight.requires_grad  # only the part learns


def test_a_floor_of_one_keeps_the_rate_constant():
    moves, _ = _trajectory(5, 0, 1e-2, 1.0)
    assert moves == pytest.approx([1e-2] * 5, rel=1e-3)


def test_fast_parameters_move_at_their_multiple_of_the_schedule():
    codec = nn.Module()
    codec.part = Part()
    codec.part.v = nn.Parameter(torch.zeros(1))
    seen = []

    def loss(rng):  # constant gradients: Adam moves each weight by its learning rate each step
        seen.append((codec.part.w.item(), codec.part.v.item()))
        return codec.part.w.sum() + codec.part.v.sum()

    train_rate_only(codec, codec.part, loss, 4, lr=1e-2, lr_floor=0.5, fast=(codec.part.v,), fast_scale=10.0)
    seen.append((codec.part.w.item(), codec.part.v.item()))
    for (w0, v0), (w1, v1) in zip(seen[:-1], seen[1:]):
        assert v0 - v1 == pytest.approx(10 * (w0 - w1), rel=1e-3) and w0 - w1 > 0
