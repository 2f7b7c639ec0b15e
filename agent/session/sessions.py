"""Saved sessions on disk: where they live, which there are, and which wait on an answer."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent.session.conversation import CONVERSATION, Conversation
from agent.session.store import HISTORY, is_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionSummary:
    """One saved session, as ``chatedit sessions`` lists it (read only; opening it changes nothing).

    Attributes:
        path: the session folder.
        modified: when its ``history.json`` last changed, in seconds since the epoch (``os.stat``).
        versions: how many versions it holds, the original (v0) included; None when the session is
            damaged (its history or checkpoints could not be read).
        awaiting_answer: whether the conversation stopped on a question the user has not answered
            (always False for a damaged session).
    """

    path: Path
    modified: float
    versions: int | None
    awaiting_answer: bool

    @property
    def name(self) -> str:
        """The folder's name."""
        return self.path.name

    @property
    def damaged(self) -> bool:
        """Whether the session's history or checkpoints could not be read."""
        return self.versions is None

    @property
    def last_change(self) -> str:
        """``modified`` as local time, ``YYYY-MM-DD HH:MM``."""
        return datetime.fromtimestamp(self.modified).strftime("%Y-%m-%d %H:%M")


def sessions_root() -> Path:
    """The folder new sessions go to by default (``$XDG_DATA_HOME/chatedit/sessions``)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "chatedit" / "sessions"


def default_session_dir() -> Path:
    """A new folder name under :func:`sessions_root` (the date and time, numbered when taken)."""
    base, stamp = sessions_root(), datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = base / stamp, 1
    while path.exists():
        i += 1
        path = base / f"{stamp}-{i}"
    return path


def list_sessions(root: Path | None = None) -> list[SessionSummary]:
    """The sessions in ``root``, most recently changed first.

    Args:
        root: the folder to look in; default :func:`sessions_root`. A missing folder has no
            sessions; sub-folders that are not sessions (no ``history.json``) are skipped.

    Returns:
        One summary per session; a damaged session is listed as such, never raised.
    """
    return [_summarize(path) for path in _newest_first(sessions_root() if root is None else root)]


def latest_session(root: Path | None = None) -> SessionSummary | None:
    """The most recently changed session in ``root`` (default :func:`sessions_root`), damaged or not; None if none."""
    paths = _newest_first(sessions_root() if root is None else root)
    return _summarize(paths[0]) if paths else None


def _newest_first(root: Path) -> list[Path]:
    paths = [p for p in (root.iterdir() if root.is_dir() else ()) if is_session(p) and (p / HISTORY).is_file()]
    return sorted(paths, key=lambda p: (p / HISTORY).stat().st_mtime, reverse=True)


def _summarize(path: Path) -> SessionSummary:
    versions: int | None
    try:
        versions = len(json.loads((path / HISTORY).read_text(encoding="utf-8"))["versions"])
        awaiting = _awaiting_answer(path)
    except Exception as error:  # noqa: BLE001 - a damaged session is listed as such, never a crash
        logger.warning("session %s is damaged: %s", path, error)
        versions, awaiting = None, False
    return SessionSummary(path=path, modified=(path / HISTORY).stat().st_mtime, versions=versions,
                          awaiting_answer=awaiting)


def _awaiting_answer(path: Path) -> bool:
    """Whether the session in ``path`` waits on an answer: its conversation log ends in a question."""
    messages = Conversation(path / CONVERSATION, writable=False).recent(1)
    return bool(messages) and messages[0].kind == "question"
