"""One writer per session folder: an exclusive OS file lock (``filelock``) that names its holder.

The lock is ``session.lock`` in the folder, held with ``flock`` for as long as the session is open
for writing. The kernel drops it when the holding process ends, however it ends (kill -9 too), so
a lock left by a killed process never blocks. Once it holds the lock, the holder writes who it is
(pid, host, since when) into the lock file, so a second opener is told whom to ask. Before each
write the holder checks that ``session.lock`` is still the file it locked (:meth:`SessionLock.check`):
a folder moved, removed or replaced while open is refused, never written into.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import stat
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from agent.session.errors import SessionLockedError, SessionReadOnlyError, SessionStorageError

logger = logging.getLogger(__name__)

LOCK = "session.lock"
READ_ONLY = "open this one read-only (chatedit --resume DIR --read-only, Editor.open(DIR, read_only=True))"


def _write_owner(fd: int) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "thread": threading.current_thread().name,
             "since": datetime.now().isoformat(timespec="seconds")}
    data = json.dumps(owner).encode("utf-8")
    os.pwrite(fd, data, 0)                  # then cut what is left of the last holder's: never an empty file
    os.ftruncate(fd, len(data))


def _owner(root: Path, wait: float = 0.0) -> dict[str, Any]:
    """Who the lock file names; ``wait``: seconds to wait for a holder that has just taken the lock to write
    its name (the file names none yet, or a process of this host that has ended)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(root / LOCK, "rb") as f:
                owner = json.loads(f.read(4096).decode("utf-8"))
            owner = owner if isinstance(owner, dict) else {}
        except (OSError, ValueError):
            owner = {}
        if _running(owner) or time.monotonic() >= deadline:
            return owner
        time.sleep(0.02)


def _running(owner: dict[str, Any]) -> bool:
    """Whether ``owner`` names a process, one that still runs when it is of this host."""
    pid, host = owner.get("pid"), owner.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(host, str) or pid <= 0:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _mine(owner: dict[str, Any]) -> bool:
    return owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname()


def holder(root: Path, owner: dict[str, Any] | None = None) -> str:
    """Who holds the lock of the session in ``root`` (as ``owner`` names it, None: as its lock file does), as
    words ("pid 4242 on host, since 10:32")."""
    owner = _owner(root) if owner is None else owner
    try:
        when = str(owner.get("since", ""))[:19].replace("T", " ")
        mine = " (this process)" if _mine(owner) else ""
        return f"pid {int(owner['pid'])}{mine} on {str(owner['host'])[:64]}, since {when}"
    except (ValueError, KeyError, TypeError, OverflowError):
        return "another process"


def _refusal(root: Path) -> str:
    """The one-line message for a second opener of the session in ``root``."""
    owner = _owner(root, wait=0.5)
    if _mine(owner):
        when = str(owner.get("since", ""))[:19].replace("T", " ")
        return (f"session {root} is already open in this process (pid {os.getpid()}, since {when}), by another "
                f"Editor; close that one first, or {READ_ONLY}")
    return (f"session {root} is already open in another chatedit ({holder(root, owner)}); close it there, "
            f"or {READ_ONLY}")


def _unlockable(root: Path, error: OSError) -> str:
    """Why the lock of the session in ``root`` could not be taken (not held elsewhere), in one line."""
    path, why = root / LOCK, error.strerror or str(error)
    try:
        mode: int | None = os.lstat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode)
                else "not a regular file")
        return (f"session {root} cannot be opened for editing: its lock file {path} is {kind}, which chatedit "
                f"never makes; move it out of the way and open the session again, or {READ_ONLY}")
    if error.errno in (errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return (f"session {root} cannot be opened for editing: its file system does not support file locks "
                f"({why}); copy the session to a local disk, or {READ_ONLY}")
    if mode is not None and os.access(root, os.W_OK):
        return (f"session {root} cannot be opened for editing: its lock file {path} cannot be opened for writing "
                f"({why}); make it writable for you (or remove it once no other chatedit has the session open) "
                f"and open the session again, or {READ_ONLY}")
    return (f"session {root} cannot be opened for editing: its folder cannot be written ({why}); "
            f"{READ_ONLY.replace('this one', 'it')}, or copy it somewhere writable")


class SessionLock:
    """The exclusive lock of one session folder, taken with :meth:`acquire`, given back with :meth:`release`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = FileLock(root / LOCK, thread_local=False, blocking=False, on_acquired=self._acquired)

    def _acquired(self, fd: int) -> None:
        found = os.fstat(fd)
        self._fd, self._identity = fd, (found.st_dev, found.st_ino)
        _write_owner(fd)

    def acquire(self) -> None:
        """Take the lock now, or fail at once.

        Raises:
            SessionLockedError: another process, or another open Editor here, holds it (the message names it).
            SessionReadOnlyError: the lock cannot be taken here (a folder that cannot be written, a lock file
                that is not a file, a file system without locks), so it cannot be opened for editing.
        """
        try:
            self._lock.acquire()
        except Timeout:
            raise SessionLockedError(_refusal(self.root)) from None
        except OSError as e:
            raise SessionReadOnlyError(_unlockable(self.root, e)) from e
        logger.debug("locked %s", self.root)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def check(self) -> None:
        """Nothing, while ``session.lock`` in the folder is the file this lock holds (or none is held).

        Raises:
            SessionStorageError: the folder was moved, removed or replaced since it was locked; nothing may be
                written there now (another chatedit may be using that path).
        """
        if self._identity is None:
            return
        try:
            found = os.stat(self.root / LOCK, follow_symlinks=False)
            if (found.st_dev, found.st_ino) == self._identity:
                return
        except OSError:
            pass
        raise SessionStorageError(self._gone())

    def _gone(self) -> str:
        """Where the locked folder went, in one line: moved (where to, when the system says), removed or replaced."""
        try:
            now = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            now = ""
        moved = Path(now).parent if now.endswith(os.sep + LOCK) else None
        if moved is not None and moved != self.root:
            return (f"session folder {self.root} was moved to {moved} while it was open, so nothing more is saved "
                    f"from here; close this session and reopen it there (chatedit --resume {moved})")
        if not self.root.exists():
            return (f"session folder {self.root} was removed while it was open, so nothing more can be saved to it; "
                    "close this session")
        return (f"session folder {self.root} was replaced while it was open (its {LOCK} is not the one this session "
                "locked; another chatedit may be using it), so nothing more is saved from here; close this session "
                "and reopen it")

    def release(self) -> None:
        """Give the lock back (nothing happens when it is not held)."""
        self._fd = self._identity = None
        if self._lock.is_locked:
            self._lock.release(force=True)


def remove_session(root: Path) -> None:
    """Remove the session folder ``root`` holding its lock, so that no chatedit has it open meanwhile.

    Raises:
        SessionLockedError: a chatedit has it open (the message names which and what to do).
        OSError: it cannot be removed.
    """
    lock = FileLock(root / LOCK, thread_local=False, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        raise SessionLockedError(f"session {root} is open in another chatedit ({holder(root, _owner(root, 0.5))}), "
                                 "so it cannot be replaced; wait until that one ends, or choose another folder") from None
    try:
        shutil.rmtree(root)
    finally:
        lock.release(force=True)
