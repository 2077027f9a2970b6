"""The house rules, read from the source: imports flow one way, and nothing outside ``codecs/`` reads a
codec's private attributes (drivers use the streaming contract of ``codecs/base.py`` only)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "omnicodec"
# each package, and the packages it must not import (directly or through a relative import)
FORBIDDEN = {
    "coding": {"entropy_models", "codecs", "media", "train", "eval", "api", "cli", "zoo", "datasets", "layers"},
    "layers": {"entropy_models", "codecs", "media", "train", "eval", "api", "cli", "zoo"},
    "entropy_models": {"codecs", "media", "train", "eval", "api", "cli", "zoo"},
    "codecs": {"media", "train", "eval", "api", "cli", "zoo"},
    "zoo": {"media", "train", "eval", "api", "cli", "batch"},
    "media": {"train", "eval", "api", "cli", "batch"},
    "eval": {"api", "cli", "train"},
    "batch": {"api", "cli", "train", "eval"},
    "train": {"api", "cli", "batch"},
    "datasets": {"media", "train", "eval", "api", "cli", "batch"},
}
# train may name a codec's parts (it builds and converts them)
DRIVERS = ["media", "api.py", "cli.py", "batch", "eval", "train", "zoo"]
# a codec's parts: what a driver would reach for if it bypassed the contract
CODEC_INSIDES = {"latent", "intra", "inter", "g_a", "g_s", "h_a", "h_s", "gains", "skip_threshold", "context_frames",
                 "analyse_chunk", "synthesise_chunk", "compress_chunk", "decompress_chunk", "compress_frame",
                 "decompress_frame", "entropy_params", "intra_period"}


def modules(*where: str) -> list[Path]:
    files = []
    for w in where:
        p = SRC / w
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


def imported_packages(path: Path, source: str | None = None) -> set[str]:
    """Top-level omnicodec packages the module at ``path`` imports (``source``: its text, if not the file's)."""
    package = path.relative_to(SRC).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = list(package[:-1])[: len(package) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names] if not node.module else [target]
            elif node.module and node.module.startswith("omnicodec"):
                names = [node.module.split(".")[1:]]
            else:
                continue
            found |= {parts[0].removesuffix(".py") for parts in names if parts}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("omnicodec.")}
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    offenders = {
        str(path.relative_to(SRC)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in modules(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_check_sees_relative_and_absolute_imports():
    """The check itself can fail: a codec module importing a driver is found, however it spells it."""
    ecc = SRC / "codecs" / "speech" / "ecc.py"
    for line in ("from ...media import driver", "from ... import media", "from omnicodec.media.driver import encode",
                 "import omnicodec.media.driver"):
        assert "media" in imported_packages(ecc, ecc.read_text() + "\n" + line + "\n"), line
    assert "media" not in imported_packages(ecc)


def private_reads(path: Path, source: str | None = None) -> list[str]:
    """``obj._name`` and ``obj.<codec part>`` reads on anything but ``self`` / ``cls``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in ("self", "cls"):
            continue
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        if private or (node.attr in CODEC_INSIDES and "train" not in path.relative_to(SRC).parts):
            found.append(f"{path.relative_to(SRC)}:{node.lineno} .{node.attr}")
    return found


def test_drivers_never_read_a_codecs_private_attributes():
    reads = [r for path in modules(*DRIVERS) for r in private_reads(path)]
    assert reads == []


def test_the_private_read_check_finds_a_bypass():
    speech = SRC / "media" / "speech.py"
    bypass = "def f(model):\n    return model.context_frames * 160, model._quality(3)\n"
    assert private_reads(speech, bypass) == ["media/speech.py:2 .context_frames", "media/speech.py:2 ._quality"]
