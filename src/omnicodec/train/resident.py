"""Training data resident on the training device: packed crops decoded once, sampled there.

For short GPU bursts, where a host-side loader (decode, crop, copy per step) would starve the
card. :mod:`.pack` writes the data folder; these data modules decode it once at ``setup`` into
uint8 tensors on the trainer's device, and every batch is drawn there: random indices, crop
offsets and flips come from a device-side generator, the crop is one gather, and the result
is converted to float (``channels_last`` for images). Nothing reads a device value back to the
host, so a step never waits for the card.

- :class:`PackedImageDataModule`: ``pack/images/*.jpg`` (equal square crops) → ``[B, 3, c, c]``.
- :class:`PackedSpeechDataModule`: ``pack/speech/*.flac`` (16 kHz mono) → ``[B, 1, T]``.
- :class:`PackedVideoDataModule`: ``pack/video/<sequence>/*.jpg`` → ``[B, T, 3, c, c]``.

Unlike :mod:`.data`, sampling is not a pure function of the sample index, so a resumed run
does not see the exact samples of an uninterrupted one: bursts start from weights, they do
not resume.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ..constants import SPEECH_RATE
from ..errors import InputError


def _files(folder: Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in suffixes) if folder.is_dir() else []
    if not files:
        raise InputError(f"{folder} holds no {what}; pack the training data first (python -m omnicodec.train.burst pack)")
    return files


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class Endless:
    """An iterable without end over ``draw()``; Lightning stops it through ``max_steps``/``max_time``."""

    def __init__(self, draw: Callable[[], torch.Tensor]) -> None:
        self.draw = draw

    def __iter__(self):
        while True:
            yield self.draw()


def _flip(index: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Reverse the rows of ``index`` ([B, n]) where ``flip`` ([B] bool) is set."""
    return torch.where(flip[:, None], index.flip(1), index)


class _ResidentDataModule(L.LightningDataModule):
    """Shared: the device, the generator and the endless loader."""

    def __init__(self, pack: str, batch_size: int, seed: int) -> None:
        super().__init__()
        self.pack, self.batch_size, self.seed = Path(pack), int(batch_size), int(seed)
        self.device = torch.device("cpu")
        self.generator: torch.Generator | None = None

    def _start(self) -> None:
        trainer = self.trainer
        self.device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(int(high), (n,), device=self.device, generator=self.generator)

    def _coin(self, n: int) -> torch.Tensor:
        return torch.rand(n, device=self.device, generator=self.generator) < 0.5

    def draw(self) -> torch.Tensor:
        raise NotImplementedError

    def train_dataloader(self) -> Endless:
        return Endless(self.draw)


class PackedImageDataModule(_ResidentDataModule):
    """Random ``crop``² windows with random flips of the packed square crops."""

    def __init__(self, pack: str, crop: int = 256, batch_size: int = 16, channels_last: bool = True, seed: int = 0):
        super().__init__(pack, batch_size, seed)
        self.crop, self.channels_last = int(crop), bool(channels_last)

    def setup(self, stage: str | None = None) -> None:
        self._start()
        arrays = [_read_rgb(p) for p in _files(self.pack / "images", (".jpg", ".jpeg", ".png"), "image crops")]
        sizes = {a.shape for a in arrays}
        if len(sizes) != 1:
            raise InputError(f"{self.pack / 'images'} holds crops of several sizes {sorted(sizes)}; expected one")
        size = arrays[0].shape[0]
        if arrays[0].shape[1] != size or size < self.crop:
            raise InputError(f"packed crops are {arrays[0].shape[1]}x{size}; need squares of at least {self.crop}")
        # [N, 3, S, S] uint8 on the device: 24 MB per 100 crops of 256²
        self.images = torch.from_numpy(np.stack(arrays)).to(self.device).permute(0, 3, 1, 2).contiguous()
        self.channels = torch.arange(3, device=self.device)
        self.span = torch.arange(self.crop, device=self.device)

    def draw(self) -> torch.Tensor:
        b, n, s = self.batch_size, self.images.shape[0], self.images.shape[-1]
        idx = self._randint(n, b)
        rows = _flip(self._randint(s - self.crop + 1, b)[:, None] + self.span, self._coin(b))
        cols = _flip(self._randint(s - self.crop + 1, b)[:, None] + self.span, self._coin(b))
        x = self.images[idx[:, None, None, None], self.channels[None, :, None, None], rows[:, None, :, None],
                        cols[:, None, None, :]]
        x = x.float().div_(255.0)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class PackedSpeechDataModule(_ResidentDataModule):
    """Random ``segment_seconds`` windows of 16 kHz speech (the packed recordings end to end)."""

    def __init__(self, pack: str, segment_seconds: float = 1.0, batch_size: int = 16, seed: int = 0):
        super().__init__(pack, batch_size, seed)
        self.segment = int(round(segment_seconds * SPEECH_RATE))

    def setup(self, stage: str | None = None) -> None:
        import soundfile as sf

        self._start()
        parts = []
        for path in _files(self.pack / "speech", (".flac", ".wav"), "speech recordings"):
            samples, rate = sf.read(path, dtype="int16", always_2d=True)
            if rate != SPEECH_RATE or samples.shape[1] != 1:
                raise InputError(f"{path} is {rate} Hz with {samples.shape[1]} channels; the pack holds 16 kHz mono")
            parts.append(samples[:, 0])
        audio = np.concatenate(parts)
        if audio.size < self.segment:
            raise InputError(f"the packed speech lasts {audio.size / SPEECH_RATE:.2f} s, shorter than one segment")
        self.audio = torch.from_numpy(audio).to(self.device)
        self.span = torch.arange(self.segment, device=self.device)

    def draw(self) -> torch.Tensor:
        start = self._randint(self.audio.numel() - self.segment + 1, self.batch_size)
        return (self.audio[start[:, None] + self.span].float() / 32768.0).unsqueeze(1)


class PackedVideoDataModule(_ResidentDataModule):
    """``frames`` consecutive frames (a random ``crop``² window, random flips) of a random packed sequence.

    The sequence of each batch is drawn on the host (sequences differ in size); everything
    else is drawn on the device."""

    def __init__(self, pack: str, frames: int = 3, crop: int = 256, batch_size: int = 4, seed: int = 0):
        super().__init__(pack, batch_size, seed)
        self.frames, self.crop = int(frames), int(crop)
        self.host_rng = random.Random(seed)

    def setup(self, stage: str | None = None) -> None:
        self._start()
        root = self.pack / "video"
        folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not folders:
            raise InputError(f"{root} holds no sequences; pack the training data first (python -m omnicodec.train.burst pack)")
        self.sequences = []
        for folder in folders:
            frames = np.stack([_read_rgb(p) for p in _files(folder, (".jpg", ".jpeg", ".png"), "frames")])
            t, h, w = frames.shape[:3]
            if t < self.frames or h < self.crop or w < self.crop:
                raise InputError(f"{folder}: {t} frames of {w}x{h} cannot give {self.frames} frames of {self.crop}²")
            self.sequences.append(torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).contiguous())
        self.time = torch.arange(self.frames, device=self.device)
        self.channels = torch.arange(3, device=self.device)
        self.span = torch.arange(self.crop, device=self.device)

    def draw(self) -> torch.Tensor:
        seq = self.sequences[self.host_rng.randrange(len(self.sequences))]
        b, (t, _, h, w) = self.batch_size, seq.shape
        start = self._randint(t - self.frames + 1, b)[:, None] + self.time  # [B, T]
        rows = _flip(self._randint(h - self.crop + 1, b)[:, None] + self.span, self._coin(b))
        cols = _flip(self._randint(w - self.crop + 1, b)[:, None] + self.span, self._coin(b))
        x = seq[start[:, :, None, None, None], self.channels[None, None, :, None, None],
                rows[:, None, None, :, None], cols[:, None, None, None, :]]
        return x.float().div_(255.0)


__all__ = ["Endless", "PackedImageDataModule", "PackedSpeechDataModule", "PackedVideoDataModule"]
