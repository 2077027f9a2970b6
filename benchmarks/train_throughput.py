"""Training steps per second: LitCodec (Lightning) against a plain PyTorch loop.

Both train the same mean-scale hyperprior on the same in-memory batches with the same
work per step (one backward through the rate-distortion and quantile losses, two Adam
steps, gradient clipping); only the loop around it differs. Warm-up steps are excluded.

    python benchmarks/train_throughput.py [--steps 30] [--batch 8] [--crop 128] [--config '{"N": 96, "M": 128}']

The last line reads exactly ``train_throughput: lit_vs_plain=<ratio> device=<cpu|cuda>`` (goal ≥ 0.9).
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch
from torch.utils.data import DataLoader

from omnicodec.codecs import create_codec
from omnicodec.train.lit import LitCodec
from omnicodec.train.losses import image_rd_loss


def plain_loop(config: dict, batches: torch.Tensor, warmup: int, device: str) -> float:
    torch.manual_seed(0)
    codec = create_codec("image/hyperprior", config).to(device).train()
    opt = torch.optim.Adam(codec.main_parameters(), lr=1e-4)
    aux_opt = torch.optim.Adam(codec.aux_parameters(), lr=1e-3)
    start = None
    for i, x in enumerate(batches):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        x = x.to(device)
        loss = image_rd_loss(codec(x), x, 0.013)["loss"]
        aux = codec.aux_loss()
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        (loss + aux).backward()
        torch.nn.utils.clip_grad_norm_(codec.main_parameters(), 1.0)
        opt.step()
        aux_opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (len(batches) - warmup) / (time.perf_counter() - start)


class _Clock(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            if torch.cuda.is_available() and pl_module.device.type == "cuda":
                torch.cuda.synchronize()
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx >= self.warmup:
            if torch.cuda.is_available() and pl_module.device.type == "cuda":
                torch.cuda.synchronize()
            self.end, self.steps = time.perf_counter(), self.steps + 1


def lightning_loop(config: dict, batches: torch.Tensor, warmup: int, device: str) -> float:
    torch.manual_seed(0)
    module = LitCodec("image/hyperprior", config, lmbda=0.013, lr=1e-4)
    loader = DataLoader(list(batches.flatten(0, 1)), batch_size=batches.shape[1], shuffle=False)
    clock = _Clock(warmup)
    trainer = L.Trainer(
        max_steps=len(batches), accelerator=device, devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock], num_sanity_val_steps=0,
        limit_val_batches=0,
    )

    trainer.fit(module, train_dataloaders=loader)
    return clock.steps / (clock.end - clock.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--config", default='{"N": 96, "M": 128}')
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = json.loads(args.config)
    torch.manual_seed(0)
    batches = torch.rand(args.steps + args.warmup, args.batch, 3, args.crop, args.crop)
    plain = plain_loop(config, batches, args.warmup, device)
    lit = lightning_loop(config, batches, args.warmup, device)
    print(f"device {device}, {torch.get_num_threads()} threads, hyperprior {config}, batch {args.batch}x{args.crop}^2")
    print(f"plain PyTorch loop : {plain:.3f} steps/s")
    print(f"LitCodec (Lightning): {lit:.3f} steps/s")
    print(f"train_throughput: lit_vs_plain={lit / plain:.3f} device={device}")


if __name__ == "__main__":
    main()
