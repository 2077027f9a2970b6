"""Whole folders and datasets on Lightning's distributed engine: :mod:`.engine` shards items across
ranks, :mod:`.folders` compresses or decodes a folder through it, :mod:`.complete` says which outputs
a rerun may skip."""

from .engine import Engine
from .folders import compress_folder, decompress_folder

__all__ = ["Engine", "compress_folder", "decompress_folder"]
