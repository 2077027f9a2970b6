"""Training with PyTorch Lightning (codecs never import this package)."""

from .data import ImageFolderDataModule
from .lit import LitCodec

__all__ = ["ImageFolderDataModule", "LitCodec"]
