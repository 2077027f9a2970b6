"""The weights format: ``NAME.safetensors`` (tensors) + ``NAME.json`` (everything else).

The JSON entry holds the codec id and config that rebuild the codec, its quality, the
sha256 of the safetensors file, and measured results. Parameters may be stored in float16
to keep files small; buffers (integer CDF tables, constants) keep their dtype. Because the
tables must describe exactly the parameters a decoder will load, export rounds the
parameters to the storage dtype *first* and builds the tables afterwards.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..codecs import Codec, get_codec_class
from ..errors import WeightsError
from ..fileio import AtomicFile

FORMAT_NAME = "omnicodec-weights"
FORMAT_VERSION = 1
SHA_PREFIX_LEN = 16


def canonical(data: bytes) -> bytes:
    """A safetensors file with its JSON header in one order (keys sorted) and the same tensors.

    The library writes the metadata in the order of a hash map, which changes from call to call, so
    exporting the same model twice gave two sha256 (and files coded with one export were refused by
    the other). The data section is kept as it is; the header stays padded to 8 bytes.
    """
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8 : 8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + data[8 + n :]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@torch.no_grad()
def save_weights(
    codec: Codec,
    out_dir: str | Path,
    name: str,
    quality: float,
    dtype: str = "float16",
    extra: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Round, freeze and write ``codec`` as ``out_dir/name.{safetensors,json}``; returns the JSON path.

    Everything is checked and serialised before anything is written; then both files go to temporary
    names and are renamed into place one after the other, so a failure before the renames leaves an
    existing pair as it was (and a folder it created is removed again)."""
    if dtype not in ("float16", "float32"):
        raise WeightsError(f"dtype must be float16 or float32, got {dtype!r}")
    if not isinstance(name, str) or not name or name.startswith(".") or Path(name).name != name or "\\" in name:
        raise WeightsError(f"the weights' name must be a plain file name (no folder, not hidden), got {name!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise WeightsError(f"{out_dir} is a file, not a folder for weights")
    tensor_path, entry_path = out_dir / f"{name}.safetensors", out_dir / f"{name}.json"
    for p in (tensor_path, entry_path):
        if p.is_dir():
            raise WeightsError(f"{p} is a folder; choose another name")
        if p.exists() and not overwrite:
            raise WeightsError(f"{p} exists; choose another name or allow overwriting")

    codec = copy.deepcopy(codec).cpu().float().eval()
    store = getattr(torch, dtype)
    for p in codec.parameters():
        p.copy_(p.to(store).float())
    codec.freeze()
    param_names = {n for n, _ in codec.named_parameters()}
    state = {
        k: (v.to(store) if k in param_names else v).contiguous()
        for k, v in codec.state_dict().items()
    }
    data = canonical(save(state, metadata={"format": FORMAT_NAME, "codec_id": codec.codec_id}))
    entry = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "codec_id": codec.codec_id,
        "config": codec.config(),
        "quality": _quality_value(quality),
        "weights_file": tensor_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "dtype": dtype,
        "parameters": sum(p.numel() for p in codec.parameters()),
    }
    span = codec.quality_range
    if span is not None:  # variable rate: one file, every quality in the range; "quality" is the default
        entry["quality_range"] = [_quality_value(span[0]), _quality_value(span[1])]
        entry["quality"] = _quality_value(codec.default_quality)
    entry.update(extra or {})
    try:
        text = (json.dumps(entry, indent=2, allow_nan=False) + "\n").encode()
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"the weights' description is not plain JSON data: {exc}") from exc
    made = [d for d in (out_dir, *out_dir.parents) if not d.exists()]  # the folders this call creates
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = entry_file = None
    try:
        tensors = AtomicFile(tensor_path)
        entry_file = AtomicFile(entry_path)
        tensors.file.write(data)
        entry_file.file.write(text)
        tensors.commit()  # the tensors first: until the entry follows, an old entry names the old sha256
        entry_file.commit()
    except BaseException:
        for part in (tensors, entry_file):
            if part is not None:
                part.abort()
        for folder in made:  # innermost first; only while empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return entry_path


def _quality_value(quality: float) -> int | float:
    q = float(quality)
    if not math.isfinite(q):
        raise WeightsError(f"the quality must be a finite number, got {quality!r}")
    return int(q) if q.is_integer() else q


MAX_ENTRY_BYTES = 1 << 20  # a weights entry is a few KB of JSON


def read_entry(entry_path: str | Path) -> dict:
    entry_path = Path(entry_path)
    if entry_path.exists() and not entry_path.is_file():  # a folder, a device such as /dev/zero
        raise WeightsError(f"weights entry {entry_path} is not a file")
    if entry_path.is_file() and entry_path.stat().st_size > MAX_ENTRY_BYTES:
        raise WeightsError(f"weights entry {entry_path} is {entry_path.stat().st_size} bytes; an entry is a small JSON file")
    try:
        entry = json.loads(entry_path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"weights entry {entry_path} does not exist") from None
    except (OSError, ValueError, RecursionError, MemoryError) as exc:
        raise WeightsError(f"cannot read weights entry {entry_path}: {exc}") from exc
    if not isinstance(entry, dict) or entry.get("format") != FORMAT_NAME:
        raise WeightsError(f"{entry_path} is not an omnicodec weights entry")
    version = entry.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise WeightsError(f"{entry_path}: the format version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise WeightsError(f"{entry_path} uses weights format {entry['version']}; upgrade omnicodec")
    for key in ("codec_id", "config", "quality", "weights_file", "sha256"):
        if key not in entry:
            raise WeightsError(f"{entry_path} lacks the field {key!r}")
    _check_fields(entry, entry_path)
    entry["_path"] = str(entry_path)
    return entry


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(entry: dict, entry_path: Path) -> None:
    """The fields every reader uses hold what they should (``WeightsError`` otherwise)."""
    quality, span, name = entry["quality"], entry.get("quality_range"), entry["weights_file"]
    if not _is_number(quality):
        raise WeightsError(f"{entry_path}: quality {quality!r} is not a finite number")
    if span is not None and not (
        isinstance(span, list) and len(span) == 2 and all(_is_number(v) for v in span) and span[0] <= quality <= span[1]
    ):
        raise WeightsError(f"{entry_path}: quality_range {span!r} is not [low, high] around the quality {quality}")
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        raise WeightsError(f"{entry_path}: weights_file {name!r} is not a file name beside the entry")
    if not isinstance(entry["sha256"], str):
        raise WeightsError(f"{entry_path}: sha256 is not a string")


def build_codec(codec_id: object, config: object, source: str | Path) -> Codec:
    """Build a codec from an id and config read from a file, after checking the config against
    the codec's allowed ranges (nothing is allocated for a config that declares absurd sizes)."""
    if not isinstance(codec_id, str):
        raise WeightsError(f"{source}: the codec id {codec_id!r} is not a string")
    cls = get_codec_class(codec_id)  # UnknownCodecError names the registered ids
    config = cls.validate_config({} if config is None else config)
    try:
        return cls.from_config(config)
    except (TypeError, ValueError, ZeroDivisionError, RuntimeError) as exc:
        raise WeightsError(f"{source}: the {codec_id} config {config} does not build a model ({exc})") from exc


@dataclass(frozen=True)
class LoadedCodec:
    """A codec built from a weights entry (eval mode, tables frozen) and what a file written with it
    records: the quality it was loaded at, the weights' sha256, and the entry it came from."""

    codec: Codec
    quality: int | float
    weights_sha256: str
    entry: dict

    @property
    def codec_id(self) -> str:
        return self.codec.codec_id

    @property
    def media(self) -> str:
        return self.codec.media

    @property
    def quality_range(self) -> tuple[float, float] | None:
        """``(lowest, highest)`` quality of variable-rate weights; ``None`` for fixed-rate ones."""
        return self.codec.quality_range


def load_entry(entry: dict, device: str | torch.device = "cpu", quality: float | None = None) -> LoadedCodec:
    """Build the codec of a weights entry and load its tensors after checking the sha256.

    ``quality`` picks the rate of a variable-rate entry (default: the entry's own quality)."""
    tensor_path = Path(entry["_path"]).parent / entry["weights_file"]
    if not tensor_path.is_file():
        raise WeightsError(f"weights file {tensor_path} is missing")
    digest = sha256_file(tensor_path)
    if digest != entry["sha256"]:
        raise WeightsError(
            f"weights file {tensor_path} fails its sha256 check (expected {entry['sha256'][:16]}…, got {digest[:16]}…)"
        )
    try:
        state = load_file(str(tensor_path))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"cannot read {tensor_path}: {exc}") from exc
    codec = build_codec(entry["codec_id"], entry["config"], tensor_path)
    params = {n for n, _ in codec.named_parameters()}
    state = {k: (v.float() if k in params else v) for k, v in state.items()}
    try:
        codec.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{tensor_path} does not match codec {entry['codec_id']}: {exc}") from exc
    span = codec.quality_range
    if quality is None or span is None:
        if span is None and quality is not None and float(quality) != float(entry["quality"]):
            raise WeightsError(f"{tensor_path.name} codes at quality {entry['quality']} only, not {quality}")
        quality = entry["quality"]
    elif not float(span[0]) <= float(quality) <= float(span[1]):
        raise WeightsError(f"{tensor_path.name} codes qualities {span[0]:g} to {span[1]:g}, not {quality}")
    return LoadedCodec(codec.to(device).eval(), _quality_value(quality), digest, entry)


def load_file_entry(path: str | Path, device: str | torch.device = "cpu", quality: float | None = None) -> LoadedCodec:
    """Load exported weights from their JSON entry (or the ``.safetensors`` next to it)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    return load_entry(read_entry(path), device, quality)


