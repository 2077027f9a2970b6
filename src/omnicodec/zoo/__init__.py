"""Shipped weights and ``load(codec_id, quality)``.

Every entry in ``zoo/weights`` is a JSON file naming a safetensors file and its sha256;
loading checks the hash. One entry per media is marked ``"default": true``.

A variable-rate entry (a codec with gain units) carries ``"quality_range": [low, high]`` and
serves every real quality in it; its ``"quality"`` is the default one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UnknownCodecError, WeightsError
from .format import SHA_PREFIX_LEN, LoadedCodec, load_entry, load_file_entry, read_entry, save_weights, sha256_file

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


def serves(entry: dict, quality: float) -> bool:
    """Whether ``entry`` codes at ``quality``: its one level, or anywhere in its quality range."""
    span = entry.get("quality_range")
    if span:
        return float(span[0]) <= float(quality) <= float(span[1])
    return float(entry["quality"]) == float(quality)


def quality_label(entry: dict) -> str:
    """``"3"`` for a fixed-rate entry, ``"1-8"`` for a variable-rate one."""
    span = entry.get("quality_range")
    return f"{span[0]:g}-{span[1]:g}" if span else f"{entry['quality']:g}"


def find_entry(codec_id: str, quality: float | None = None) -> dict:
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
        if serves(e, quality):
            return e
    have = ", ".join(quality_label(e) for e in entries)
    raise WeightsError(f"codec {codec_id!r} has no shipped quality {quality} (shipped: {have})")


# Weights an earlier release shipped and this one does not, by sha256 prefix: files written with
# them are refused with a message that says so (the file header names its weights).
RETIRED = {
    "5aa0018164799a08": "image/hyperprior quality 3 (fixed-rate) of omnicodec 0.1.0",
    "c079003212ea3be4": "first variable-rate image/hyperprior (qualities 1-8) of omnicodec 0.1.0",
    "a18f83f49c9130db": "video/stem quality 4 (fixed-rate, N=48, M=64) of omnicodec 0.1.0",
    "32c87539f1c5ad6c": "variable-rate image/hyperprior (qualities 1-8) of omnicodec 0.2.0",
    "7d85c90a8eb13035": "variable-rate image/hyperprior without a context (qualities 1-8) of omnicodec 0.3.0 and 0.4.0",
    "14d35a70b871098d": "variable-rate video/stem on the 0.2.0 image model (qualities 1-8) of omnicodec 0.3.0 to 0.5.0",
    "bcd24352a752a89f": "variable-rate video/stem without motion (qualities 1-8) of omnicodec 0.6.0",
}


def retired(prefix: str) -> str | None:
    """What the retired weights with this sha256 prefix were, or ``None``."""
    return next((what for sha, what in RETIRED.items() if prefix and sha.startswith(prefix[:SHA_PREFIX_LEN])), None)


def find_by_sha(prefix: str) -> dict | None:
    for e in shipped_entries():
        if e["sha256"].startswith(prefix):
            return e
    return None


def load(codec_id: str, quality: float | None = None, device: str | torch.device = "cpu") -> LoadedCodec:
    """Shipped weights as a ready (eval-mode, frozen) codec, at ``quality`` for a variable-rate one; the
    record's ``.codec`` is the ``nn.Module``."""
    return load_entry(find_entry(codec_id, quality), device, quality)


__all__ = [
    "SHA_PREFIX_LEN", "WEIGHTS_DIR", "LoadedCodec", "default_entry", "find_by_sha", "find_entry", "load", "load_entry",
    "load_file_entry", "quality_label", "read_entry", "retired", "RETIRED", "save_weights", "serves", "sha256_file",
    "shipped_entries",
]
