"""Image-folder data for training: random crops and flips; full images for validation."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


def list_images(folders: Sequence[str | Path]) -> list[Path]:
    """All image files (by suffix) under the given folders, sorted; a clear error if none."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} does not exist")
        files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {', '.join(map(str, folders))}")
    return files


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class RandomCropDataset(Dataset):
    """Random ``crop``×``crop`` patches with random flips; small images are padded by reflection.

    ``cache=True`` keeps decoded images in memory (worth it for a few hundred photos).
    """

    def __init__(self, files: Sequence[Path], crop: int = 256, cache: bool = True, length: int | None = None):
        self.files = list(files)
        self.crop = int(crop)
        self.cache: dict[int, np.ndarray] | None = {} if cache else None
        self.length = length or len(self.files)

    def __len__(self) -> int:
        return self.length

    def _image(self, i: int) -> np.ndarray:
        if self.cache is None:
            return _load_rgb(self.files[i])
        if i not in self.cache:
            self.cache[i] = _load_rgb(self.files[i])
        return self.cache[i]

    def __getitem__(self, index: int) -> torch.Tensor:
        img = self._image(index % len(self.files))
        h, w = img.shape[:2]
        c = self.crop
        if h < c or w < c:
            img = np.pad(img, ((0, max(c - h, 0)), (0, max(c - w, 0)), (0, 0)), mode="reflect")
            h, w = img.shape[:2]
        top, left = random.randint(0, h - c), random.randint(0, w - c)
        patch = img[top : top + c, left : left + c]
        if random.random() < 0.5:
            patch = patch[:, ::-1]
        if random.random() < 0.5:
            patch = patch[::-1]
        return torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float().div_(255.0)


class FullImageDataset(Dataset):
    def __init__(self, files: Sequence[Path]):
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(_load_rgb(self.files[index]).copy()).permute(2, 0, 1).float().div_(255.0)


class ImageFolderDataModule(L.LightningDataModule):
    """Training crops from one or more folders; optional validation on full images."""

    def __init__(
        self,
        train_dirs: Sequence[str],
        val_dir: str | None = None,
        crop: int = 256,
        batch_size: int = 8,
        num_workers: int = 0,
        val_limit: int | None = None,
        epoch_length: int | None = None,
    ) -> None:
        super().__init__()
        self.train_dirs = [train_dirs] if isinstance(train_dirs, (str, Path)) else list(train_dirs)
        self.val_dir = val_dir
        self.crop = crop
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_limit = val_limit
        self.epoch_length = epoch_length

    def setup(self, stage: str | None = None) -> None:
        self.train_set = RandomCropDataset(list_images(self.train_dirs), self.crop, length=self.epoch_length)
        self.val_set = None
        if self.val_dir:
            files = list_images([self.val_dir])
            self.val_set = FullImageDataset(files[: self.val_limit] if self.val_limit else files)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
