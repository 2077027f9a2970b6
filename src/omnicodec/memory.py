"""Memory limits: refuse a size whose estimated peak memory exceeds the limit, before allocating.

Every size a file declares (an image's height and width, a video's frame size) and every
image read for compression is checked against an estimate of the process's peak memory
before anything that large is allocated, so a small crafted file cannot take the machine.
The limit is ``--max-memory`` (``max_memory=`` in the API); by default it is what the
process holds now plus the memory the system reports available (``MemAvailable`` in
``/proc/meminfo``, else ``os.sysconf``). No torch here: sizes and arithmetic only.
"""

from __future__ import annotations

import os
import re

from .errors import InputError, MemoryLimitError

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes from ``"1500M"``, ``"2G"``, ``"2.5GB"``, ``"800MiB"`` or a plain number of bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
        if m is None:
            raise InputError(f"cannot read the memory size {text!r}; write e.g. 1500M or 2G")
        number = float(m.group(1)) * _UNITS[m.group(2).upper()]
        if not number < 1 << 62:
            raise InputError(f"the memory size {text!r} is too large")
        value = int(number)
    if value <= 0:
        raise InputError(f"the memory limit must be positive, got {text!r}")
    return value


def format_size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


def _meminfo(field: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int:
    """Bytes the system can give without swapping (``MemAvailable``; else free pages)."""
    avail = _meminfo("MemAvailable")
    if avail is not None:
        return avail
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: no limit from the machine


def resident_memory() -> int:
    """Bytes this process holds now (``VmRSS``), or 0 when unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def resolve_limit(max_memory: str | int | None) -> int:
    """The limit in bytes: ``max_memory`` if given, else resident now + available."""
    if max_memory is not None:
        return parse_size(max_memory)
    return resident_memory() + available_memory()


def check_memory(what: str, needed: int, limit: int) -> None:
    """Raise :class:`MemoryLimitError` when this process plus ``needed`` bytes would exceed ``limit``.

    ``what`` names the size being checked (e.g. ``"a 8192x8192 image"``).
    """
    total = resident_memory() + int(needed)
    if total > limit:
        raise MemoryLimitError(
            f"{what} needs about {format_size(total)} of memory (estimate), more than the limit of "
            f"{format_size(limit)}; raise it with --max-memory if the machine has the memory"
        )
