"""The one atomic writer: every output goes to a temporary file (or folder) beside its target,
then is renamed into place, so a crash or an error half-way leaves the target as it was.

- Permissions: a temporary file is created with ``os.open(..., 0o666)`` and a temporary
  folder with ``os.mkdir(..., 0o777)``, so the kernel applies the process umask exactly as
  for a plain ``open(path, "w")`` / ``mkdir``. The umask is never read or changed (changing
  it is process-wide and races with other threads).
- Files: :class:`AtomicFile` (streaming, explicit commit / abort) and :func:`atomic_file`
  (a ``with`` block) write a temporary file, fsync it and rename it onto the target; any
  failure removes the temporary file.
- Leftovers: temporary names are ``.NAME.omc-tmp-PID-RANDOM`` (``-old-`` for a folder being
  replaced). A process killed with ``kill -9`` cannot clean up, so before writing ``NAME`` we
  remove the leftovers of ``NAME`` whose process is gone; a rerun removes its own leftovers.
- Folders of video frames carry a manifest (:data:`FRAME_MANIFEST`) naming the files written.
  A folder is replaced only if it is empty or such a previous output holding nothing else,
  and the replacement is one atomic exchange (``renameat2(RENAME_EXCHANGE)`` on Linux), so a
  kill at any moment leaves either the old or the new folder complete at the target path.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, OutputExistsError

FRAME_MANIFEST = ".omnicodec-frames.json"
_LEFTOVER = re.compile(r"\.omc-(?:tmp|old)-(\d+)-[0-9a-f]+(?:\.[A-Za-z0-9]+)?")


def check_output(path: str | Path, force: bool, allow_dir: bool = False) -> Path:
    """Refuse to overwrite an existing ``path`` unless ``force``; refuse directories unless
    ``allow_dir`` (a folder of video frames is itself the output, see :func:`check_frame_folder`)."""
    path = Path(path)
    if path.is_dir() and not allow_dir:
        raise OutputExistsError(f"{path} is a directory")
    if path.exists() and not force:
        # the API's switch is named here; the command line names its own (--force)
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it", path=path)
    if not path.parent.exists():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise NotADirectoryError(f"{path.parent} is a file, not a folder to write {path.name} in")
    return path


def check_not_same_file(input: str | Path, output: str | Path) -> None:
    """Refuse an output that is the input itself: the same path, a symbolic link to it, a hard
    link to it, or a folder that contains it."""
    input, output = Path(input), Path(output)
    if not output.exists() or not input.exists():
        return
    if os.path.samefile(input, output):  # same device and inode: catches symlinks and hard links
        raise InputError(f"input {input} and output {output} are the same file")
    if output.is_dir() and Path(os.path.realpath(input)).is_relative_to(os.path.realpath(output)):
        raise InputError(f"output folder {output} contains the input {input}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    try:  # a zombie (killed, not yet reaped) writes nothing more
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:
        return True


def remove_leftovers(path: str | Path) -> list[Path]:
    """Remove the temporary files and folders of ``path`` left by processes that no longer run."""
    path = Path(path)
    prefix, removed = f".{path.name}.omc-", []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        match = _LEFTOVER.fullmatch(name[len(path.name) + 1 :])
        if match is None or _pid_alive(int(match.group(1))):
            continue
        leftover = path.parent / name
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _temp_name(path: Path, kind: str = "tmp", suffix: str = "") -> Path:
    return path.parent / f".{path.name}.omc-{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def make_temp_file(path: str | Path, suffix: str = "") -> tuple[int, Path]:
    """Create an empty temporary file beside ``path`` with the permissions a plain write would
    give it; returns ``(open descriptor, temporary path)``."""
    path = Path(path)
    remove_leftovers(path)
    while True:
        tmp = _temp_name(path, suffix=suffix)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
        except OSError as exc:  # named after the output the user asked for, not our temporary
            raise type(exc)(exc.errno, f"cannot write here ({exc.strerror})", str(path)) from exc


def make_temp_dir(path: str | Path) -> Path:
    """Create an empty temporary folder beside ``path`` (permissions as a plain ``mkdir``)."""
    path = Path(path)
    remove_leftovers(path)
    while True:
        tmp = _temp_name(path)
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:  # named after the output the user asked for, not our temporary
            raise type(exc)(exc.errno, f"cannot write here ({exc.strerror})", str(path)) from exc


def commit_file(tmp: str | Path, path: str | Path) -> None:
    """Flush ``tmp`` to disk and rename it onto ``path`` (atomic on POSIX)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class CommitOnExit:
    """A writer used in ``with``: :meth:`commit` when the block ends normally, :meth:`abort` when it raises."""

    def commit(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class AtomicFile(CommitOnExit):
    """A file written under a temporary name beside ``path``: :meth:`commit` flushes it to disk
    and renames it onto ``path``; :meth:`abort`, a failed commit, or an exception inside ``with``
    removes it. For streaming writers that commit or abort on their own.

    ``file`` is the open binary file; with ``by_name`` it is ``None`` and a library that writes
    by name (soundfile, ffmpeg) writes to ``tmp``: the empty file already has the permissions of
    a plain write, which opening it again for writing keeps. ``suffix`` ends the temporary name,
    for libraries that choose the format by it."""

    def __init__(self, path: str | Path, suffix: str = "", by_name: bool = False) -> None:
        self.path = Path(path)
        fd, self.tmp = make_temp_file(self.path, suffix)
        if by_name:
            os.close(fd)
        self.file: BinaryIO | None = None if by_name else os.fdopen(fd, "wb")

    def commit(self) -> None:
        try:
            if self.file is not None:
                self.file.close()
            commit_file(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
        self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | Path, suffix: str = "", by_name: bool = False) -> Iterator[BinaryIO | Path]:
    """Yield a binary file (with ``by_name``, the temporary path to write) that replaces ``path``
    when the block ends normally and disappears when it raises; see :class:`AtomicFile`."""
    with AtomicFile(path, suffix, by_name) as out:
        yield out.tmp if by_name else out.file


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


# --- folders of frames -------------------------------------------------------------------------


def check_frame_folder(path: str | Path) -> None:
    """Refuse to replace ``path`` unless it is absent, an empty folder, or a previous frame
    output of omnicodec holding only the files its manifest lists."""
    path = Path(path)
    if path.is_symlink():
        raise OutputExistsError(f"{path} is a symbolic link; give the frame folder itself")
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputExistsError(f"{path} is a file, not a folder of frames")
    names = set(os.listdir(path))
    if not names:
        return
    written = _manifest_files(path)
    if written is None:
        raise OutputExistsError(
            f"{path} is a folder omnicodec did not write; it is not replaced, even with --force "
            "(give a new or empty folder)"
        )
    foreign = sorted(names - written - {FRAME_MANIFEST})
    if foreign:
        raise OutputExistsError(
            f"{path} holds files omnicodec did not write ({', '.join(foreign[:3])}); it is not replaced"
        )


def _manifest_files(folder: Path) -> set[str] | None:
    try:
        manifest = json.loads((folder / FRAME_MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != "omnicodec-frames" or not all(isinstance(f, str) for f in files):
            return None
        return set(files)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def write_frame_manifest(folder: str | Path, files: list[str], info: dict) -> None:
    """Mark ``folder`` as a frame output of omnicodec (so ``--force`` may replace it later)."""
    data = {"format": "omnicodec-frames", "files": list(files), **info}
    with open(Path(folder) / FRAME_MANIFEST, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # file system or kernel without it
        return False
    raise OSError(err, os.strerror(err), str(b))


def commit_dir(tmp: str | Path, path: str | Path) -> None:
    """Move the finished folder ``tmp`` to ``path``, replacing a previous folder (already checked
    with :func:`check_frame_folder`) atomically, then remove the old one."""
    tmp, path = Path(tmp), Path(path)
    if not path.exists():
        os.rename(tmp, path)
        return
    check_frame_folder(path)  # still ours (it may have changed since the first check)
    if _exchange(tmp, path):
        shutil.rmtree(tmp)  # now the old folder
        return
    old = _temp_name(path, "old")  # fallback: two renames; the old folder survives under `old`
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old)
