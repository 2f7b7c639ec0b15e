"""Files of a session folder that belong to nothing: what a crash left (tidied on opening), and what no version,
message or turn in flight uses (listed on opening, removed by ``chatedit sessions --gc``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path

from agent.session.conversation import Conversation
from agent.session.errors import SessionReadOnlyError, SessionStorageError
from agent.session.history import History
from agent.session.lock import LOCK
from tools.atomic import is_temp_file

logger = logging.getLogger(__name__)

KINDS = ("versions", "masks", "drafts", "questions", "references")
"""The session's content-addressed folders."""


def storage_error(path: Path, e: OSError) -> SessionStorageError:
    """The one-line error for a file of the session that could not be written or removed."""
    return SessionStorageError(f"could not write {path}: {e.strerror or e}; free some disk space or check "
                               "the folder's permissions (nothing saved before was lost)")


def unstarted(root: Path) -> bool:
    """Whether the folder ``root`` holds only what making a session leaves before its first file lands (the
    lock file, empty content folders, temp files): a process killed that early left no session to resume."""
    try:
        for path in root.iterdir():
            if path.name == LOCK or is_temp_file(path):
                continue
            if path.name in KINDS and path.is_dir() and not path.is_symlink() \
                    and all(is_temp_file(p) for p in path.iterdir()):
                continue
            return False
    except OSError:
        return False
    return True


def tidy_temps(root: Path) -> None:
    """Remove the temp files a killed writer left in ``root`` and its content folders (call it holding the lock)."""
    for folder in [root, *(root / k for k in KINDS)]:
        for path in folder.glob(".*") if folder.is_dir() else ():
            if is_temp_file(path):
                path.unlink(missing_ok=True)


def tidy(root: Path, history: History, compact: Callable[[str], None]) -> None:
    """Remove temp files a crash left, and finish the raw-to-PNG work it cut short (``compact(image_id)``).

    Raises:
        SessionReadOnlyError: a folder cannot be listed or created.
    """
    used = {v.image for v in history.versions}
    for folder in [root, *(root / k for k in KINDS)]:
        try:
            folder.mkdir(exist_ok=True)
            entries = list(folder.iterdir())
        except OSError as e:
            raise SessionReadOnlyError(f"session {root} cannot be written ({e.strerror or e}); "
                                       "open it read-only, or copy it somewhere writable") from e
        for path in entries:
            if is_temp_file(path):
                path.unlink(missing_ok=True)
                logger.info("removed %s, left by an interrupted write", path)
            elif folder.name == "versions" and path.suffix == ".ppm" and path.stem in used:
                if (folder / f"{path.stem}.png").is_file():
                    path.unlink(missing_ok=True)
                else:
                    compact(path.stem)


def find_strays(root: Path, history: History, conversation: Conversation, in_flight: Collection[str]) -> list[Path]:
    """The files that belong to no version, no message and nothing in ``in_flight`` (logged when there are any).

    Args:
        in_flight: content ids the turn in flight still needs (a pending question's drafts and masks).
    """
    in_flight = set(in_flight)
    used = {"versions": {v.image for v in history.versions} | in_flight,
            "masks": {m for v in history.versions
                      for m in [v.mask, *(r.mask for r in v.steps), *(r.region for r in v.steps)] if m}
                     | in_flight,
            "questions": {m.image for m in conversation.messages if m.image} | in_flight,
            "references": {r.reference.id for v in history.versions for r in v.steps if r.reference}
                          | in_flight,
            "drafts": in_flight}
    strays = [path for kind, ids in used.items() for path in sorted((root / kind).glob("*.*"))
              if path.is_file() and not is_temp_file(path) and path.stem not in ids]
    if strays:
        size = sum(p.stat().st_size for p in strays if p.exists()) / 1e6
        logger.warning("session %s holds %d file(s) (%.1f MB) that belong to no version; "
                       "`chatedit sessions --gc %s` removes them", root, len(strays), size, root)
    return strays


def remove(paths: list[Path]) -> tuple[int, int]:
    """Delete ``paths`` (one already gone is skipped); returns (files, bytes) removed.

    Raises:
        SessionStorageError: a file could not be removed.
    """
    count = size = 0
    for path in paths:
        try:
            n = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise storage_error(path, e) from e
        count, size = count + 1, size + n
    return count, size
