"""Shipped weights and ``load(codec_id, quality)``.

Every entry in ``zoo/weights`` is a JSON file naming a safetensors file and its sha256;
loading checks the hash. One entry per media is marked ``"default": true``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UnknownCodecError, WeightsError
from .format import SHA_PREFIX_LEN, load_entry, load_file_entry, read_entry, save_weights, sha256_file

WEIGHTS_DIR = Path(__file__).parent / "weights"


def shipped_entries() -> list[dict]:
    """All shipped weight entries, sorted by codec id and quality."""
    entries = [read_entry(p) for p in sorted(WEIGHTS_DIR.glob("*.json"))]
    return sorted(entries, key=lambda e: (e["codec_id"], e["quality"]))


def default_entry(media: str) -> dict:
    candidates = [e for e in shipped_entries() if e["codec_id"].startswith(media + "/")]
    for e in candidates:
        if e.get("default"):
            return e
    if candidates:
        return candidates[0]
    raise WeightsError(f"no shipped weights for {media}")


def find_entry(codec_id: str, quality: int | None = None) -> dict:
    entries = [e for e in shipped_entries() if e["codec_id"] == codec_id]
    if not entries:
        from ..codecs import available_codecs

        if codec_id not in available_codecs():
            raise UnknownCodecError(f"unknown codec {codec_id!r} (registered: {', '.join(available_codecs())})")
        raise WeightsError(f"codec {codec_id!r} has no shipped weights")
    if quality is None:
        defaults = [e for e in entries if e.get("default")]
        return defaults[0] if defaults else entries[len(entries) // 2]
    for e in entries:
        if e["quality"] == quality:
            return e
    have = ", ".join(str(e["quality"]) for e in entries)
    raise WeightsError(f"codec {codec_id!r} has no shipped quality {quality} (shipped: {have})")


def find_by_sha(prefix: str) -> dict | None:
    for e in shipped_entries():
        if e["sha256"].startswith(prefix):
            return e
    return None


def load(codec_id: str, quality: int | None = None, device: str | torch.device = "cpu"):
    """A ready (eval-mode, frozen) codec with shipped weights."""
    return load_entry(find_entry(codec_id, quality), device)


__all__ = [
    "SHA_PREFIX_LEN", "WEIGHTS_DIR", "default_entry", "find_by_sha", "find_entry", "load", "load_entry",
    "load_file_entry", "read_entry", "save_weights", "sha256_file", "shipped_entries",
]
