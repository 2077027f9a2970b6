"""Atomic file output: write to a temporary file next to the target, then rename.

A crash or an error half-way leaves the target untouched (and no temporary file behind).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import OutputExistsError


def check_output(path: str | Path, force: bool, allow_dir: bool = False) -> Path:
    """Refuse to overwrite an existing ``path`` unless ``force``; refuse directories unless
    ``allow_dir`` (a folder of video frames is itself the output)."""
    path = Path(path)
    if path.is_dir() and not allow_dir:
        raise OutputExistsError(f"{path} is a directory")
    if path.exists() and not force:
        # the API's switch is named here; the command line names its own (--force)
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it", path=path)
    if not path.parent.exists():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    return path


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on success it replaces ``path``, on error it disappears."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
