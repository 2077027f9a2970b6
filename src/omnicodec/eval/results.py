"""RD results in CompressAI's JSON schema, plus CSV.

A results file is ``{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...], ...}}`` with one entry per RD point, so our curves and the published
anchors in ``shared/anchors/compressai-results`` load and compare the same way. Extra keys
(``bpp-est``, ``quality``, times, speech or video metrics) are plain lists of the same length.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EvaluationError, InputError
from ..fileio import atomic_write_bytes

MAX_RESULTS_BYTES = 64 << 20  # far above any RD curve's JSON (Kodak's with every image: ~100 KB)


@dataclass
class RDResults:
    name: str
    description: str = ""
    results: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.results.values()}
        if len(lengths) > 1:
            raise EvaluationError(f"{self.name}: result lists differ in length ({sorted(lengths)})")

    @property
    def num_points(self) -> int:
        return len(next(iter(self.results.values()), []))

    def curve(self, metric: str = "psnr-rgb", rate: str = "bpp") -> tuple[list[float], list[float]]:
        """``(rates, qualities)`` sorted by rate; a clear error if a key is missing."""
        for key in (rate, metric):
            if key not in self.results:
                have = ", ".join(sorted(self.results)) or "nothing"
                raise EvaluationError(f"{self.name} has no {key!r} results (it has {have})")
        pairs = sorted(
            (r, q) for r, q in zip(self.results[rate], self.results[metric]) if math.isfinite(r) and math.isfinite(q)
        )
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "results": self.results}

    def save_json(self, path: str | Path) -> None:
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    def save_csv(self, path: str | Path) -> None:
        keys = sorted(self.results)
        rows = [",".join(keys)]
        for i in range(self.num_points):
            rows.append(",".join(repr(float(self.results[k][i])) for k in keys))
        atomic_write_bytes(path, ("\n".join(rows) + "\n").encode())

    @classmethod
    def from_dict(cls, data: dict, source: str = "results") -> RDResults:
        try:
            results = {str(k): [_number(x, source, k, i) for i, x in enumerate(v)]
                       for k, v in data["results"].items() if isinstance(v, list)}
            return cls(str(data.get("name", source)), str(data.get("description", "")), results)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{source} is not in CompressAI's results schema ({exc})") from exc

    @classmethod
    def load(cls, path: str | Path) -> RDResults:
        path = Path(path)
        if path.exists() and not path.is_file():  # a folder, a device such as /dev/zero: never read on and on
            raise InputError(f"{path}: not a results file")
        if path.is_file() and path.stat().st_size > MAX_RESULTS_BYTES:
            raise InputError(f"{path}: {path.stat().st_size} bytes is too large for a results file")
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except (OSError, ValueError, RecursionError, MemoryError) as exc:
            raise InputError(f"{path}: not a JSON results file ({exc})") from exc
        if not isinstance(data, dict):
            raise InputError(f"{path}: not in CompressAI's results schema")
        return cls.from_dict(data, str(path))


def _number(value, source: str, key: str, index: int) -> float:
    """A point's value: a JSON number (NaN allowed: a metric that could not be measured there), never a
    string or a boolean read as one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{source}: point {index} of {key!r} is {value!r}, not a number")
    return float(value)


def load_folder(folder: str | Path) -> list[RDResults]:
    """Every ``*.json`` results file in a folder (not recursive), sorted by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"anchor folder {folder} does not exist")
    return [RDResults.load(p) for p in sorted(folder.glob("*.json"))]


def read_csv(path: str | Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0].keys() if rows else [])}
