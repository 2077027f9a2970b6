"""Training images per second: our training step against a plain PyTorch loop, same device, same run.

Ours is what a GPU burst runs (``python -m omnicodec.train.burst``): ``LitCodec`` under a
Lightning ``Trainer`` over ``image/hyperprior``, data resident on the device
(:class:`~omnicodec.train.resident.PackedImageDataModule`: uint8 crops, random crops and flips
drawn there), and on CUDA bf16-mixed and channels_last; the loss is checked every
``--log-every`` steps, never waited for in between. ``--compile`` adds ``torch.compile``.

The plain loop is CompressAI's ``mbt2018-mean`` (the same mean-scale hyperprior at the same N, M)
trained the way CompressAI's ``examples/train.py`` does: float32, batches cropped on the host
and copied to the device each step, separate backward passes for the loss and the auxiliary
quantile loss, gradient clipping, the loss read back every 10 steps. It uses CompressAI's model
when ``compressai`` is installed and otherwise a copy of that model in plain PyTorch below (the
GPU machine has no ``compressai``); the output says which.

    python benchmarks/train_throughput.py [--steps S] [--warmup W] [--batch B] [--crop C] [--N 96 --M 128] [--compile]

The last line reads exactly
``train_throughput: device=<cpu|cuda> images_s=<x> plain_images_s=<x> ratio=<x>`` (goal on a GPU: ratio ≥ 2).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from _timing import save_images, smooth_crops
from torch import nn

from omnicodec.train.callbacks import ChannelsLast, StepClock
from omnicodec.train.lit import LitCodec
from omnicodec.train.resident import PackedImageDataModule

# --- mbt2018-mean in plain PyTorch (CompressAI's MeanScaleHyperprior, same layers and losses) ----------


class _GDN(nn.Module):
    def __init__(self, ch: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(ch).sqrt())
        self.gamma = nn.Parameter((0.1 * torch.eye(ch)).sqrt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self.beta.clamp_min(1e-3) ** 2 - 2**-36  # CompressAI's non-negative reparametrisation
        gamma = self.gamma.clamp_min(2**-18) ** 2 - 2**-36
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def _conv(i: int, o: int, k: int = 5, s: int = 2) -> nn.Module:
    return nn.Conv2d(i, o, k, s, k // 2)


def _deconv(i: int, o: int, k: int = 5, s: int = 2) -> nn.Module:
    return nn.ConvTranspose2d(i, o, k, s, k // 2, output_padding=s - 1)


class _Factorized(nn.Module):
    """CompressAI's EntropyBottleneck in training mode (filters 3, 3, 3; init scale 10)."""

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0) -> None:
        super().__init__()
        f = (1, *filters, 1)
        scale = init_scale ** (1 / (len(f) - 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(f) - 1):
            init = math.log(math.expm1(1 / scale / f[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, f[i + 1], f[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, f[i + 1], 1) - 0.5))
            if i < len(f) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, f[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        self.register_buffer("target", torch.tensor([-math.log(2 / 1e-9 - 1), 0.0, math.log(2 / 1e-9 - 1)]))

    def _logits(self, x: torch.Tensor, stop_gradient: bool = False) -> torch.Tensor:
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            m, b = (m.detach(), b.detach()) if stop_gradient else (m, b)
            x = torch.matmul(F.softplus(m), x) + b
            if i < len(self.factors):
                f = self.factors[i].detach() if stop_gradient else self.factors[i]
                x = x + torch.tanh(f) * torch.tanh(x)
        return x

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        b, c, h, w = z_hat.shape
        v = z_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower, upper = self._logits(v - 0.5), self._logits(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs().clamp_min(1e-9)
        return z_hat, lik.reshape(c, b, h, w).permute(1, 0, 2, 3)

    def aux_loss(self) -> torch.Tensor:
        return (self._logits(self.quantiles, stop_gradient=True) - self.target).abs().sum()


def _gaussian_likelihood(y_hat: torch.Tensor, scales: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    values = (y_hat - means).abs()
    scales = scales.clamp_min(0.11)
    upper = 0.5 * torch.erfc(-(0.5 - values) / scales / math.sqrt(2))
    lower = 0.5 * torch.erfc(-(-0.5 - values) / scales / math.sqrt(2))
    return (upper - lower).clamp_min(1e-9)


class PlainMeanScaleHyperprior(nn.Module):
    """mbt2018-mean: Minnen, Ballé & Toderici 2018 without the context model."""

    def __init__(self, N: int, M: int) -> None:
        super().__init__()
        self.g_a = nn.Sequential(_conv(3, N), _GDN(N), _conv(N, N), _GDN(N), _conv(N, N), _GDN(N), _conv(N, M))
        self.g_s = nn.Sequential(_deconv(M, N), _GDN(N, True), _deconv(N, N), _GDN(N, True), _deconv(N, N), _GDN(N, True),
                                 _deconv(N, 3))
        self.h_a = nn.Sequential(_conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), _conv(N, N), nn.LeakyReLU(inplace=True),
                                 _conv(N, N))
        self.h_s = nn.Sequential(_deconv(N, M), nn.LeakyReLU(inplace=True), _deconv(M, M * 3 // 2),
                                 nn.LeakyReLU(inplace=True), _conv(M * 3 // 2, M * 2, 3, 1))
        self.entropy_bottleneck = _Factorized(N)

    def forward(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        z_hat, z_lik = self.entropy_bottleneck(self.h_a(y))
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": _gaussian_likelihood(y_hat, scales, means), "z": z_lik}}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.aux_loss()


def plain_model(N: int, M: int) -> tuple[nn.Module, str]:
    try:
        from compressai.models import MeanScaleHyperprior

        return MeanScaleHyperprior(N, M), "compressai"
    except ImportError:
        return PlainMeanScaleHyperprior(N, M), "plain-torch copy"


# --- the two loops ---------------------------------------------------------------------------------


def plain_loop(N: int, M: int, crops: np.ndarray, batch: int, crop: int, steps: int, warmup: int, device: str):
    torch.manual_seed(0)
    net, source = plain_model(N, M)
    net = net.to(device).train()
    main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    opt, aux_opt = torch.optim.Adam(main, lr=1e-4), torch.optim.Adam(aux, lr=1e-3)
    rng = np.random.default_rng(0)
    start = None
    for i in range(warmup + steps):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        idx = rng.integers(len(crops), size=batch)
        top, left = rng.integers(crops.shape[1] - crop + 1, size=2)
        x = torch.from_numpy(crops[idx, top : top + crop, left : left + crop]).permute(0, 3, 1, 2).float().div(255)
        x = x.to(device)
        opt.zero_grad()
        aux_opt.zero_grad()
        out = net(x)
        bpp = sum(torch.log(v).sum() for v in out["likelihoods"].values()) / (-math.log(2) * batch * crop * crop)
        loss = 0.013 * 255**2 * F.mse_loss(out["x_hat"], x) + bpp
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        opt.step()
        aux_loss = net.aux_loss()
        aux_loss.backward()
        aux_opt.step()
        if i % 10 == 0:
            _ = loss.item(), aux_loss.item()
    if device == "cuda":
        torch.cuda.synchronize()
    params = sum(p.numel() for p in net.parameters())
    return steps * batch / (time.perf_counter() - start), source, params


def our_loop(N: int, M: int, pack: Path, batch: int, crop: int, steps: int, warmup: int, device: str,
             log_every: int, compile: bool):
    torch.manual_seed(0)
    module = LitCodec("image/hyperprior", {"N": N, "M": M}, lmbda=0.013, lr=1e-4, check_finite_every=log_every)
    if compile:
        module.codec.compile()
    data = PackedImageDataModule(str(pack), crop=crop, batch_size=batch, channels_last=device == "cuda")
    clock = StepClock(warmup)
    callbacks = [clock] + ([ChannelsLast()] if device == "cuda" else [])
    trainer = L.Trainer(
        max_steps=warmup + steps, accelerator=device, devices=1, precision="bf16-mixed" if device == "cuda" else "32-true",
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=callbacks, num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=log_every,
    )
    trainer.fit(module, datamodule=data)
    return clock.steps_per_second() * batch, sum(p.numel() for p in module.codec.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, help="timed steps (default 20 on a CPU, 300 on a GPU)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 3 on a CPU, 30 on a GPU)")
    parser.add_argument("--batch", type=int, help="batch size (default 8 on a CPU, 32 on a GPU)")
    parser.add_argument("--crop", type=int, help="crop size (default 128 on a CPU, 256 on a GPU)")
    parser.add_argument("--N", type=int, default=96)
    parser.add_argument("--M", type=int, default=128)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--compile", action="store_true", help="torch.compile our codec")
    args = parser.parse_args()
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = device == "cuda"
    steps = args.steps or (300 if gpu else 20)
    warmup = args.warmup or (30 if gpu else 3)
    batch = args.batch or (32 if gpu else 8)
    crop = args.crop or (256 if gpu else 128)
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.benchmark = True
    crops = smooth_crops(crop + 32)
    with tempfile.TemporaryDirectory() as tmp:
        save_images(crops, Path(tmp))
        plain, source, plain_params = plain_loop(args.N, args.M, crops, batch, crop, steps, warmup, device)
        ours, our_params = our_loop(args.N, args.M, Path(tmp), batch, crop, steps, warmup, device, args.log_every,
                                    args.compile)
    name = torch.cuda.get_device_name(0) if gpu else f"cpu, {torch.get_num_threads()} threads"
    print(f"device {name}; hyperprior N={args.N} M={args.M}; batch {batch} x {crop}²; {steps} timed steps after {warmup}")
    print(f"plain loop ({source} mbt2018-mean, {plain_params} parameters, float32): {plain:.2f} images/s")
    print(f"ours (LitCodec, resident data{', bf16-mixed, channels_last' if gpu else ''}"
          f"{', compiled' if args.compile else ''}, {our_params} parameters): {ours:.2f} images/s")
    print(f"train_throughput: device={device} images_s={ours:.3f} plain_images_s={plain:.3f} ratio={ours / plain:.3f}")


if __name__ == "__main__":
    main()
