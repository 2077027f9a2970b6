"""Run a function over a list of items with ``Trainer.predict``, sharded across ranks.

The same launch that scales training (``--devices``, ``--num-nodes``, ``--strategy``, torchrun,
SLURM) scales batch coding and evaluation: Lightning's distributed sampler gives every rank its own
items (for prediction it neither repeats nor drops any), each rank runs the function on its share,
and the results are gathered across ranks and returned in item order on every rank.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader, Dataset

from ..errors import InputError


class _Indexed(Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.items[index]


_NOTHING = object()  # pads the items to one per rank, where there are more ranks than items: nothing to run


def _single(batch: list) -> Any:
    return batch[0]


def device_name(device: torch.device) -> str:
    """The ``device=`` string of the api functions for a rank's torch device."""
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return device.type


class _Apply(L.LightningModule):
    """Calls ``fn(item, device)`` per item; gathers ``(index, result)`` of every rank at the end."""

    def __init__(self, fn: Callable[[Any, str], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.local: list[tuple[int, Any]] = []
        self.gathered: list[tuple[int, Any]] = []

    def predict_step(self, batch, batch_idx: int) -> None:
        index, item = batch
        if item is not _NOTHING:
            self.local.append((index, self.fn(item, device_name(self.device))))

    def on_predict_epoch_end(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            parts: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(parts, self.local)
        else:
            parts = [self.local]
        self.gathered = sorted((pair for part in parts for pair in part), key=lambda pair: pair[0])


@dataclass
class Engine:
    """Where items run: Lightning's ``accelerator``, ``devices``, ``num_nodes`` and ``strategy``."""

    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    progress: bool = True
    global_rank: int = 0

    def __post_init__(self) -> None:
        """Check the four before any work, so that a typo is one clear error, not a traceback from a run."""
        from lightning.pytorch.accelerators import AcceleratorRegistry
        from lightning.pytorch.strategies import StrategyRegistry

        accelerators = sorted({*AcceleratorRegistry.available_accelerators(), "gpu", "auto"})
        if self.accelerator not in accelerators:
            raise InputError(f"unknown accelerator {self.accelerator!r} (one of: {', '.join(accelerators)})")
        if self.strategy != "auto" and self.strategy not in StrategyRegistry.available_strategies():
            raise InputError(f"unknown strategy {self.strategy!r} (e.g. auto, ddp, ddp_spawn, fsdp)")
        if isinstance(self.num_nodes, bool) or not isinstance(self.num_nodes, int) or self.num_nodes < 1:
            raise InputError(f"the number of nodes must be 1 or more, got {self.num_nodes!r}")
        devices = self.devices
        if isinstance(devices, str) and re.fullmatch(r"-1|\d+", devices):
            devices = int(devices)
        valid = (
            devices == "auto"
            or (type(devices) is int and (devices >= 1 or devices == -1))  # a count; -1: all of them
            or (isinstance(devices, str) and re.fullmatch(r"\d+(,\d+)*,?", devices) is not None)  # indices "0,1"
            or (isinstance(devices, (list, tuple)) and bool(devices) and all(type(d) is int and d >= 0 for d in devices))
        )
        if not valid:
            raise InputError(f"devices must be a number of devices, a list such as 0,1, or auto; got {self.devices!r}")

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    def map(self, fn: Callable[[Any, str], Any], items: list) -> list:
        """``[fn(item, device) for item in items]``, computed across all ranks; every rank gets the whole list."""
        if not items:
            return []
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        module = _Apply(fn)
        try:
            trainer = L.Trainer(
                accelerator=self.accelerator, devices=self.devices, num_nodes=self.num_nodes, strategy=self.strategy,
                logger=False, enable_checkpointing=False, enable_model_summary=False, inference_mode=False,
                enable_progress_bar=self.progress, use_distributed_sampler=True,
            )
        except (MisconfigurationException, ValueError, TypeError) as exc:  # e.g. cuda on a machine without a GPU
            raise InputError(f"cannot run on {self.accelerator} with devices={self.devices}: "
                             f"{str(exc).strip().splitlines()[0]}") from exc
        # Lightning's sampler gives every rank at least one item: more ranks than items get nothing to do
        padded = list(items) + [_NOTHING] * max(int(trainer.world_size) - len(items), 0)
        loader = DataLoader(_Indexed(padded), batch_size=1, shuffle=False, collate_fn=_single)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*predict returned None.*")
            trainer.predict(module, loader, return_predictions=False)
        self.global_rank = trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # every rank is done: close the group together, so that no rank's exit finds another's
            # connections still open (gloo can abort a process that way)
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
        indices = [index for index, _ in module.gathered]
        if indices != list(range(len(items))):
            raise RuntimeError(f"the ranks returned items {indices}, not each of the {len(items)} once")
        return [result for _, result in module.gathered]
