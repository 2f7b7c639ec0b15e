"""Tidies a session's files on one background thread: a version's raw pixels become a PNG after the reply.

Nothing a reply announces waits on this thread: a version is durable (its raw pixels fsynced, its
history entry written) before the reply. What runs here is only the slow lossless re-encoding
(about a second at 12 MP) that makes the folder small. A job that fails leaves the raw file in
place (still the version's pixels) and is tried again the next time the session is opened.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One file to tidy: ``run`` does it, ``label`` names it in the log ("the PNG of version 3")."""

    label: str
    run: Callable[[], None]


class Writer:
    """An in-order background worker (one thread, started when there is work), or immediate."""

    def __init__(self, *, background: bool = True) -> None:
        self.background = background
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.failures: list[str] = []
        """One line per job that failed (its raw file stays; reopening tries again)."""

    @property
    def busy(self) -> bool:
        """Whether some job has not finished yet."""
        with self._cond:
            return bool(self._jobs) or self._thread is not None

    def submit(self, label: str, run: Callable[[], None]) -> None:
        """Run the job now (immediate mode) or queue it behind every earlier one."""
        if not self.background:
            self._run(Job(label, run))
            return
        with self._cond:
            self._jobs.append(Job(label, run))
            if self._thread is None:
                # Not a daemon: an interpreter that exits normally lets the queue finish first.
                self._thread = threading.Thread(target=self._drain, name="chatedit-writer", daemon=False)
                self._thread.start()

    def flush(self) -> None:
        """Wait until every queued job has finished (failed jobs are logged, never raised)."""
        with self._cond:
            self._cond.wait_for(lambda: self._thread is None and not self._jobs)

    def _drain(self) -> None:
        try:
            while True:
                with self._cond:
                    # Seen empty and marked done under one lock: a submit in between starts a new thread.
                    if not self._jobs:
                        return
                    job = self._jobs.popleft()
                self._run(job)
        finally:                                   # however the thread ends, flush never waits on it again
            with self._cond:
                self._thread = None
                if self._jobs:                     # it ended early (a BaseException): the rest still runs
                    self._thread = threading.Thread(target=self._drain, name="chatedit-writer", daemon=False)
                    self._thread.start()
                self._cond.notify_all()

    def _run(self, job: Job) -> None:
        try:
            job.run()
        except Exception as e:  # noqa: BLE001 - tidying only: the raw file stays, reopening tries again
            line = f"{job.label} was not written: {type(e).__name__}: {e}"
            logger.warning("%s", line)
            with self._cond:
                self.failures.append(line)
