"""Training data for every medium, reproducible sample by sample.

Every training sample is a pure function of ``(seed, i)``, where ``i`` counts samples from
the start of the run: which file, which crop, which flip. The sampler starts at
``global_step × batch_size``, so a run resumed from any checkpoint (even one written in the
middle of an "epoch", even after ``kill -9``) sees exactly the samples the uninterrupted
run would have seen. One epoch covers the whole run (``steps × batch_size`` samples).

- :class:`ImageFolderDataModule`: random crops with random flips from folders of images;
  validation on full images.
- :class:`SpeechDataModule`: random fixed-length segments of 16 kHz mono speech (any input
  rate and channel count is resampled with soxr and averaged to mono).
- :class:`VideoDataModule`: ``frames`` consecutive frames from PNG-frame folders or Y4M files;
  when there are fewer sequences than ``min_sequences``, still photos become clips by a
  synthetic camera motion (a smooth random pan and zoom).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from ..constants import SPEECH_RATE
from ..datasets.audio import load_mono
from ..datasets.folders import IMAGE_SUFFIXES, image_folder, speech_folder, video_sequences


def list_images(folders: Sequence[str | Path]) -> list[Path]:
    """All images under the given folders (recursively), sorted; a clear error if none."""
    files: list[Path] = []
    for folder in folders:
        files += image_folder(folder, recursive=True)
    return files


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def load_rgb(path: Path) -> np.ndarray:
    """An image file as ``[H, W, 3]`` 8-bit RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class OffsetSampler(Sampler[int]):
    """Yields ``start(), …, total - 1``; ``start`` is read whenever an epoch begins (from the
    trainer's global step), so a resumed run continues with the next unseen sample."""

    def __init__(self, total: int, start: Callable[[], int] = lambda: 0) -> None:
        self.total, self.start = int(total), start

    def __iter__(self):
        return iter(range(min(self.start(), self.total), self.total))

    def __len__(self) -> int:
        return max(self.total - self.start(), 0)


class RandomCropDataset(Dataset):
    """Sample ``i``: a random file, a random ``crop``×``crop`` window, random flips, from ``(seed, i)``."""

    def __init__(self, files: Sequence[Path], crop: int = 256, seed: int = 0, cache: bool = True, length: int = 1):
        self.files, self.crop, self.seed, self.length = list(files), int(crop), int(seed), int(length)
        self.cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return self.length

    def _image(self, k: int) -> np.ndarray:
        if self.cache is None:
            return load_rgb(self.files[k])
        if k not in self.cache:
            self.cache[k] = load_rgb(self.files[k])
        return self.cache[k]

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = _rng(self.seed, index)
        img = self._image(int(rng.integers(len(self.files))))
        c = self.crop
        h, w = img.shape[:2]
        if h < c or w < c:
            mode = "reflect" if min(h, w) > 1 else "edge"
            img = np.pad(img, ((0, max(c - h, 0)), (0, max(c - w, 0)), (0, 0)), mode=mode)
            h, w = img.shape[:2]
        top, left = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
        patch = img[top : top + c, left : left + c]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        if rng.random() < 0.5:
            patch = patch[::-1]
        return torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float().div_(255.0)


class FullImageDataset(Dataset):
    def __init__(self, files: Sequence[Path]):
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(load_rgb(self.files[index]).copy()).permute(2, 0, 1).float().div_(255.0)


class _ResumableDataModule(L.LightningDataModule):
    """Shared: one run-long epoch, sampler offset from the trainer's global step."""

    batch_size: int
    num_workers: int
    train_set: Dataset

    def _total_samples(self) -> int:
        steps = getattr(self.trainer, "max_steps", -1) if self.trainer is not None else -1
        return max(int(steps), 1) * self.batch_size if steps and steps > 0 else 10**9

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = OffsetSampler(
            self._total_samples(), lambda: int(trainer.global_step) * self.batch_size if trainer is not None else 0
        )
        self.train_set.length = sampler.total
        # a generator of its own: creating an iterator must not draw from the global RNG,
        # whose state a resumed run restores for the quantisation noise
        return DataLoader(
            self.train_set, batch_size=self.batch_size, sampler=sampler, drop_last=True, num_workers=self.num_workers,
            persistent_workers=False, generator=torch.Generator().manual_seed(getattr(self, "seed", 0)),
        )


class ImageFolderDataModule(_ResumableDataModule):
    def __init__(
        self,
        train_dirs: Sequence[str] | str,
        val_dir: str | None = None,
        crop: int = 256,
        batch_size: int = 8,
        num_workers: int = 0,
        val_limit: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_dirs = [train_dirs] if isinstance(train_dirs, (str, Path)) else list(train_dirs)
        self.val_dir, self.crop, self.batch_size = val_dir, int(crop), int(batch_size)
        self.num_workers, self.val_limit, self.seed = int(num_workers), val_limit, int(seed)

    def setup(self, stage: str | None = None) -> None:
        self.train_set = RandomCropDataset(list_images(self.train_dirs), self.crop, self.seed)
        self.val_set = None
        if self.val_dir:
            files = list_images([self.val_dir])
            self.val_set = FullImageDataset(files[: self.val_limit] if self.val_limit else files)

    def val_dataloader(self):
        return [] if self.val_set is None else DataLoader(self.val_set, batch_size=1, num_workers=0)


# --- speech -----------------------------------------------------------------------------------


class SpeechSegmentDataset(Dataset):
    """Sample ``i``: a random ``segment``-sample window of a random recording (zero-padded if short)."""

    def __init__(self, recordings: list[np.ndarray], segment: int, seed: int = 0, length: int = 1):
        self.recordings, self.segment, self.seed, self.length = recordings, int(segment), int(seed), int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = _rng(self.seed, index)
        audio = self.recordings[int(rng.integers(len(self.recordings)))]
        if audio.size < self.segment:
            audio = np.pad(audio, (0, self.segment - audio.size))
        start = int(rng.integers(audio.size - self.segment + 1))
        return torch.from_numpy(audio[start : start + self.segment].copy()).unsqueeze(0)  # [1, T]


class SpeechDataModule(_ResumableDataModule):
    def __init__(
        self, train_dirs: Sequence[str] | str, segment_seconds: float = 1.0, batch_size: int = 16, num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_dirs = [train_dirs] if isinstance(train_dirs, (str, Path)) else list(train_dirs)
        self.segment = int(round(segment_seconds * SPEECH_RATE))
        self.batch_size, self.num_workers, self.seed = int(batch_size), int(num_workers), int(seed)

    def setup(self, stage: str | None = None) -> None:
        files = [f for d in self.train_dirs for f in speech_folder(d)]
        self.train_set = SpeechSegmentDataset([load_mono(f) for f in files], self.segment, self.seed)


# --- video -------------------------------------------------------------------------------------


def synthetic_clip(image: np.ndarray, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``frames`` views of a still ``image`` along a smooth random pan and zoom: [T, size, size, 3]."""
    img = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()[None] / 255
    h, w = img.shape[-2:]
    zoom0, zoom1 = rng.uniform(0.5, 0.9, 2)
    cx0, cy0, cx1, cy1 = rng.uniform(-0.3, 0.3, 4)
    out = []
    for t in np.linspace(0, 1, frames):
        zoom = zoom0 + (zoom1 - zoom0) * t
        cx, cy = cx0 + (cx1 - cx0) * t, cy0 + (cy1 - cy0) * t
        theta = torch.tensor([[[zoom * min(1, h / w), 0, cx], [0, zoom * min(1, w / h), cy]]], dtype=torch.float32)
        grid = F.affine_grid(theta, (1, 3, size, size), align_corners=False)
        out.append(F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False))
    return (torch.cat(out).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


class VideoClipDataset(Dataset):
    """Sample ``i``: ``frames`` consecutive frames (a random ``crop``² window) of a random sequence,
    or a synthetic clip of a random still photo; returns ``[T, 3, crop, crop]`` in [0, 1]."""

    def __init__(self, sequences: list[list[np.ndarray]], stills: list[Path], frames: int, crop: int, seed: int = 0,
                 length: int = 1):
        self.sequences, self.stills = sequences, stills
        self.frames, self.crop, self.seed, self.length = int(frames), int(crop), int(seed), int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = _rng(self.seed, index)
        share = len(self.stills) / max(len(self.stills) + len(self.sequences), 1)
        use_still = bool(self.stills) and (not self.sequences or rng.random() < share)
        if use_still:
            clip = synthetic_clip(load_rgb(self.stills[int(rng.integers(len(self.stills)))]), self.frames, self.crop, rng)
        else:
            seq = self.sequences[int(rng.integers(len(self.sequences)))]
            start = int(rng.integers(max(len(seq) - self.frames, 0) + 1))
            clip = np.stack([seq[min(start + k, len(seq) - 1)] for k in range(self.frames)])
            h, w = clip.shape[1:3]
            if h < self.crop or w < self.crop:
                clip = np.pad(clip, ((0, 0), (0, max(self.crop - h, 0)), (0, max(self.crop - w, 0)), (0, 0)), mode="edge")
                h, w = clip.shape[1:3]
            top, left = int(rng.integers(h - self.crop + 1)), int(rng.integers(w - self.crop + 1))
            clip = clip[:, top : top + self.crop, left : left + self.crop]
        return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float().div_(255.0)


class VideoDataModule(_ResumableDataModule):
    def __init__(
        self, train_dirs: Sequence[str] | str, still_dirs: Sequence[str] = (), frames: int = 3, crop: int = 256,
        batch_size: int = 4, min_sequences: int = 8, num_workers: int = 0, seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_dirs = [train_dirs] if isinstance(train_dirs, (str, Path)) else list(train_dirs)
        self.still_dirs = list(still_dirs)
        self.frames, self.crop, self.batch_size = int(frames), int(crop), int(batch_size)
        self.min_sequences, self.num_workers, self.seed = int(min_sequences), int(num_workers), int(seed)

    def setup(self, stage: str | None = None) -> None:
        from ..datasets.video_io import read_sequence

        paths = [p for d in self.train_dirs for p in video_sequences(d)]
        sequences = [read_sequence(p)[0] for p in paths]
        stills = list_images(self.still_dirs) if self.still_dirs and len(sequences) < self.min_sequences else []
        self.train_set = VideoClipDataset(sequences, stills, self.frames, self.crop, self.seed)


__all__ = [
    "IMAGE_SUFFIXES", "ImageFolderDataModule", "RandomCropDataset", "SpeechDataModule", "VideoDataModule", "list_images",
    "synthetic_clip",
]
