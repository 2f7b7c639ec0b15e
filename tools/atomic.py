"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"
"""Temp files are ``.<name>.<random>.tmp`` beside their target; one left by a crash is safe to delete."""


def is_temp_file(path: Path) -> bool:
    """Whether ``path`` is a temp file :func:`atomic_write` left behind (a crash in the middle of a write)."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], None], *, durable: bool = True,
                 mode: int | None = None) -> None:
    """Write ``data`` (bytes, or a function that writes to the open file) to ``path`` atomically.

    The bytes go to a temp file in the same folder, which then replaces ``path`` (``os.replace``).
    With ``durable`` the temp file is fsynced before the rename and the folder after it, so the new
    file survives a power cut as well as a killed process. ``mode``: the new file's permissions
    (default: the temp file's 0600).

    Raises:
        OSError: the file could not be written (the temp file is removed; ``path`` is untouched).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                data(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so the names just created or renamed in it survive a power cut (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def aside_name(path: Path, tag: str = "damaged") -> Path:
    """A free name beside ``path`` to keep a damaged file under: ``NAME.damaged``, else ``NAME.damaged.2``, ..."""
    kept, n = path.with_name(f"{path.name}.{tag}"), 1
    while kept.exists() or kept.is_symlink():
        n += 1
        kept = path.with_name(f"{path.name}.{tag}.{n}")
    return kept
