"""Shared fixtures: a tiny image codec trained for a few steps on synthetic images."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

FIXTURES = Path(__file__).parent / "fixtures"

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Natural-looking test images: upsampled random colours plus mild noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(size // 16, 2), max(size // 16, 2), generator=g)
    x = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    x = x + 0.03 * torch.randn(n, 3, size, size, generator=g)
    return x.clamp(0, 1)


def train_tiny_codec(steps: int = 150, seed: int = 0):
    from omnicodec.codecs import create_codec
    from omnicodec.train.losses import image_rd_loss

    torch.manual_seed(seed)
    codec = create_codec("image/hyperprior", {"N": 16, "M": 24}).train()
    opt = torch.optim.Adam(codec.main_parameters(), lr=3e-3)
    aux_opt = torch.optim.Adam(codec.aux_parameters(), lr=0.5)
    data = smooth_images(64, 64, seed)
    for step in range(steps):
        x = data[(step * 8) % 64 : (step * 8) % 64 + 8]
        loss = image_rd_loss(codec(x), x, 0.05)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        aux = codec.aux_loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.step()
    return codec.eval().freeze()


def fit(model, batch_at, loss_of, steps: int, lr: float = 3e-3, aux_lr: float = 0.3):
    """Train ``model`` for ``steps`` on ``batch_at(step)`` with ``loss_of(output, x)`` plus its
    auxiliary loss; returns it frozen, in eval mode."""
    opt = torch.optim.Adam(model.main_parameters(), lr=lr)
    aux = torch.optim.Adam(model.aux_parameters(), lr=aux_lr)
    model.train()
    for step in range(steps):
        x = batch_at(step)
        loss = loss_of(model(x), x) + model.aux_loss()
        opt.zero_grad()
        aux.zero_grad()
        loss.backward()
        opt.step()
        aux.step()
    return model.eval().freeze()


@pytest.fixture(scope="session")
def tiny_codec():
    return train_tiny_codec()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_codec):
    """The tiny codec exported in the zoo format; returns the JSON entry path."""
    from omnicodec.zoo import save_weights

    out = tmp_path_factory.mktemp("weights")
    return save_weights(tiny_codec, out, "tiny", quality=1, extra={"lambda": 0.05})
