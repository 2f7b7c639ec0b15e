"""One writer per session folder: an exclusive OS file lock (``filelock``) that names its holder.

The lock is ``session.lock`` in the folder, held with ``flock`` for as long as the session is open
for writing. The kernel drops it when the holding process ends, however it ends (kill -9 too), so
a lock left by a killed process never blocks. Once it holds the lock, the holder writes who it is
(pid, host, since when) into the lock file, so a second opener is told whom to ask.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from agent.session.errors import SessionLockedError, SessionReadOnlyError

logger = logging.getLogger(__name__)

LOCK = "session.lock"


def _write_owner(fd: int) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "thread": threading.current_thread().name,
             "since": datetime.now().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode("utf-8"), 0)


def holder(root: Path) -> str:
    """Who holds the lock of the session in ``root``, as words ("pid 4242 on host, since 10:32")."""
    try:
        with open(root / LOCK, "rb") as f:
            owner = json.loads(f.read(4096).decode("utf-8"))
        when = str(owner.get("since", ""))[:19].replace("T", " ")
        mine = " (this process)" if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname() \
            else ""
        return f"pid {int(owner['pid'])}{mine} on {str(owner['host'])[:64]}, since {when}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "another process"


class SessionLock:
    """The exclusive lock of one session folder, taken with :meth:`acquire`, given back with :meth:`release`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = FileLock(root / LOCK, thread_local=False, blocking=False, on_acquired=_write_owner)

    def acquire(self) -> None:
        """Take the lock now, or fail at once.

        Raises:
            SessionLockedError: another process, or another open Editor here, holds it (the message names it).
            SessionReadOnlyError: the folder cannot be written, so it cannot be opened for editing.
        """
        try:
            self._lock.acquire()
        except Timeout:
            raise SessionLockedError(
                f"session {self.root} is already open in another chatedit ({holder(self.root)}); close it there, "
                "or open this one read-only (chatedit --resume DIR --read-only, Editor.open(DIR, read_only=True))"
            ) from None
        except OSError as e:
            raise SessionReadOnlyError(
                f"session {self.root} cannot be opened for editing: its folder cannot be written "
                f"({e.strerror or e}); open it read-only (--read-only, read_only=True), or copy it somewhere "
                "writable") from e
        logger.debug("locked %s", self.root)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        """Give the lock back (nothing happens when it is not held)."""
        if self._lock.is_locked:
            self._lock.release(force=True)
