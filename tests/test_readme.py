"""Every code block of README.md runs as written.

Blocks fenced as ``python`` run with the interpreter running the tests; ``bash``, ``sh`` and
``shell`` blocks run in bash with ``omnicodec`` meaning ``python -m omnicodec.cli``. Each block
runs in a fresh temporary folder laid out like the repository's root (``src`` and ``configs``
linked in), so relative paths work and outputs land in the temporary folder. A block that
cannot run here (network installs, the data under ``../shared``, hours of training) carries
``<!-- readme-test: skip: reason -->`` on the line before its fence; the reason is printed
with the skipped test. An unmarked block that fails fails the test. Blocks without a language
(command synopses, layouts, printed figures) are text, not code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUNNABLE = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*:?(.*?)-->")
FENCE = re.compile(r"^```(\S*)\s*$")


def readme_blocks(text: str) -> list[dict]:
    """Fenced blocks: language, first line number, code, and the marker before the fence."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        before = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        marker = MARKER.search(before)
        blocks.append({
            "lang": lang, "line": start + 1, "code": "\n".join(lines[start + 1 : j]),
            "marker": (marker.group(1), marker.group(2).strip()) if marker else None,
        })
        i = j + 1
    return blocks


BLOCKS = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b["lang"] in RUNNABLE or b["marker"]]


def test_the_readme_has_runnable_blocks():
    kinds = {RUNNABLE.get(b["lang"]) for b in BLOCKS if b["marker"] is None}
    assert {"python", "shell"} <= kinds


def test_block_parser_reads_markers_and_languages():
    text = "x\n<!-- readme-test: skip: needs a GPU -->\n```bash\nnvidia-smi\n```\n\n```python\nprint(1)\n```\n```\nA B\n```\n"
    blocks = readme_blocks(text)
    assert [(b["lang"], b["line"], b["code"], b["marker"]) for b in blocks] == [
        ("bash", 3, "nvidia-smi", ("skip", "needs a GPU")), ("python", 7, "print(1)", None), ("", 10, "A B", None),
    ]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b['line']}-{b['lang'] or 'text'}" for b in BLOCKS])
def test_readme_block_runs(block, tmp_path):
    if block["marker"] is not None:
        kind, reason = block["marker"]
        assert kind == "skip", f"README line {block['line']}: unknown marker {kind!r} (only 'skip: reason')"
        assert reason, f"README line {block['line']}: a skip marker needs a reason"
        pytest.skip(f"README line {block['line']}: {reason}")
    for name in ("src", "configs"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    if RUNNABLE[block["lang"]] == "python":
        command = [sys.executable, "-c", block["code"]]
    else:
        prelude = f'set -euo pipefail\nomnicodec() {{ "{sys.executable}" -m omnicodec.cli "$@"; }}\n'
        command = ["bash", "-c", prelude + block["code"]]
    done = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"README block at line {block['line']} failed (exit {done.returncode}); run it or mark it with "
        f"<!-- readme-test: skip: reason -->\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )
