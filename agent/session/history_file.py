"""A session's history.json on disk: reading it (or saying how to recover), its hard-linked backup."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PIL import Image

from agent.session.errors import SessionDamagedError
from agent.session.history import History, HistoryFormatError

logger = logging.getLogger(__name__)

HISTORY = "history.json"
BACKUP = "history.json.bak"
ORIGINAL = "original.png"
MAX_HISTORY_BYTES = 256 * 1024 * 1024
"""A history.json larger than this is refused as damaged (100 000 versions take far less)."""


def is_session(path: str | Path) -> bool:
    """Whether ``path`` is a session folder (it holds a history.json, or its backup)."""
    return (Path(path) / HISTORY).is_file() or (Path(path) / BACKUP).is_file()


def keep_backup(root: Path) -> None:
    """Make the current history.json also ``history.json.bak`` (a hard link: no copy), before it is replaced.

    A failure is logged, never raised: the new history is still written.
    """
    path = root / HISTORY
    try:
        if path.is_file():
            backup_tmp = root / f".{BACKUP}.link.tmp"
            backup_tmp.unlink(missing_ok=True)
            os.link(path, backup_tmp)
            os.replace(backup_tmp, root / BACKUP)
    except OSError as e:
        logger.warning("could not keep %s: %s", BACKUP, e)


def read_history(root: Path) -> History:
    """The session's version tree.

    Raises:
        SessionDamagedError: history.json is missing or damaged; the message says how to recover.
    """
    path = root / HISTORY
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            raise HistoryFormatError(f"it is {path.stat().st_size // 2 ** 20} MB, more than a history can be")
        data = json.loads(path.read_bytes())
        return History.from_json(data)
    except FileNotFoundError:
        reason = "it is missing"
    except (ValueError, RecursionError, HistoryFormatError) as e:
        reason = str(e) if isinstance(e, HistoryFormatError) else \
            ("it is nested too deeply" if isinstance(e, RecursionError) else f"it is not JSON: {e}")
    except OSError as e:
        reason = f"it cannot be read: {e.strerror or e}"
    backup = root / BACKUP
    hint = (f"the history before the last change is in {BACKUP}: copy it over {HISTORY} to reopen the session "
            "(the last change may be lost)" if backup.is_file() and path.exists() and _readable(backup) else
            f"the versions' images are safe in {root / 'versions'}; export the one you want with an image viewer, "
            f"or start again from {root / ORIGINAL}")
    if not path.exists() and backup.is_file() and _readable(backup):
        hint = f"copy {BACKUP} to {HISTORY} to reopen the session (the last change may be lost)"
    raise SessionDamagedError(f"{path} is damaged ({reason}); {hint}")


def _readable(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            return False
        History.from_json(json.loads(path.read_bytes()))
        return True
    except (OSError, ValueError, RecursionError, HistoryFormatError):
        return False


def original_size(root: Path) -> tuple[int, int]:
    """(width, height) of the session's original.png.

    Raises:
        SessionDamagedError: it is missing or cannot be read.
    """
    path = root / ORIGINAL
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise SessionDamagedError(f"{path} cannot be read ({type(e).__name__}: {e}); the session needs its "
                                  "original image: put it back") from e
