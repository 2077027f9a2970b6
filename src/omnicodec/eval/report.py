"""Writing an evaluation: results JSON and CSV, per-item CSV, RD plot and BD-rate table."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EvaluationError
from ..fileio import atomic_write_bytes
from .bdrate import bd_psnr, bd_rate
from .plot import plot_rd
from .results import RDResults


def bdrate_table(
    test: RDResults, anchors: list[RDResults], metric: str = "psnr-rgb", rate: str = "bpp", method: str = "pchip"
) -> list[dict]:
    """BD-rate (and BD-quality) of ``test`` against each anchor; rows say why when undefined."""
    rows = []
    r_t, q_t = test.curve(metric, rate)
    for anchor in anchors:
        row = {"anchor": anchor.name, "bd_rate_pct": None, "bd_quality": None, "note": ""}
        try:
            r_a, q_a = anchor.curve(metric, rate)
            row["bd_rate_pct"] = bd_rate(r_a, q_a, r_t, q_t, method)
            row["bd_quality"] = bd_psnr(r_a, q_a, r_t, q_t, method)
        except EvaluationError as exc:
            row["note"] = str(exc)
        rows.append(row)
    return rows


def format_bdrate_table(test_name: str, rows: list[dict], metric: str, method: str) -> str:
    lines = [f"BD-rate of {test_name} against each anchor at equal {metric} ({method}; negative = fewer bits)"]
    width = max([len(r["anchor"]) for r in rows] + [6])
    for r in rows:
        if r["bd_rate_pct"] is None:
            lines.append(f"  {r['anchor']:{width}s}  n/a  ({r['note']})")
        else:
            lines.append(f"  {r['anchor']:{width}s}  {r['bd_rate_pct']:+8.2f} %   {r['bd_quality']:+.3f} ({metric})")
    return "\n".join(lines)


def write_report(
    results: RDResults,
    rows: list[dict],
    out_dir: str | Path,
    anchors: list[RDResults] | None = None,
    metric: str = "psnr-rgb",
    method: str = "pchip",
) -> dict[str, Path]:
    """Write NAME.json, NAME.csv, NAME-items.json, NAME.png and, with anchors, NAME-bdrate.txt."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = results.name.replace("/", "-")
    paths = {"json": out / f"{stem}.json", "csv": out / f"{stem}.csv", "items": out / f"{stem}-items.json"}
    results.save_json(paths["json"])
    results.save_csv(paths["csv"])
    atomic_write_bytes(paths["items"], (json.dumps(rows, indent=1, default=str) + "\n").encode())
    rate = "bpp" if "bpp" in results.results else "kbps"
    if metric in results.results:
        paths["plot"] = plot_rd([results], out / f"{stem}.png", metric, rate, results.description, anchors)
    if anchors and metric in results.results:
        table = bdrate_table(results, anchors, metric, rate, method)
        paths["bdrate"] = out / f"{stem}-bdrate.txt"
        atomic_write_bytes(paths["bdrate"], (format_bdrate_table(results.name, table, metric, method) + "\n").encode())
    return paths
