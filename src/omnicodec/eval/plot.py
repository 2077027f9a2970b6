"""RD curve plots (matplotlib, written to PNG without a display)."""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingToolError
from .results import RDResults

LABELS = {"psnr-rgb": "PSNR-RGB [dB]", "ms-ssim-rgb": "MS-SSIM (RGB)", "pesq-wb": "PESQ-WB", "stoi": "STOI"}


def plot_rd(
    curves: list[RDResults],
    out: str | Path,
    metric: str = "psnr-rgb",
    rate: str = "bpp",
    title: str = "",
    anchors: list[RDResults] | None = None,
    max_rate: float | None = None,
) -> Path:
    """Measured ``curves`` (solid, with markers) and ``anchors`` (dashed) on one RD plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the [eval] extras
        raise MissingToolError("plots need matplotlib (pip install -e '.[eval]')") from exc
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for group, style in ((anchors or [], "--"), (curves, "-o")):
        for c in group:
            if metric not in c.results or rate not in c.results:
                continue
            r, q = c.curve(metric, rate)
            if max_rate is not None:
                q = [v for v, x in zip(q, r) if x <= max_rate]
                r = [x for x in r if x <= max_rate]
            single = len(r) == 1  # one operating point (e.g. Codec2 at its one rate): a marker, not a line
            look = ("s" if style == "--" else "o") if single else style
            ax.plot(r, q, look, label=c.name, markersize=5 if single else 3, linewidth=1.2 if style == "--" else 1.6)
    ax.set_xlabel("bits per pixel" if rate == "bpp" else rate)
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    plt.close(fig)
    return out
