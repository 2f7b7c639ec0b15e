"""Writes a session's files in order, on one background thread, so a turn's reply never waits on PNG encoding.

A 12 MP version takes about a second to encode; the user reads the reply meanwhile. Jobs run in
the order they were submitted (an image always lands before the history.json that names it), so
the folder is consistent at every moment: a crash loses only what had not landed yet, and the
history on disk never points at a missing image. A failed job stops the queue; :meth:`Writer.flush`
retries it once and raises :class:`tools.errors.ImageSaveError` if it still fails: what was not
written stays queued (its pixels in memory) until a later flush succeeds.

With ``background=False`` every job runs at once in the caller's thread (the store's default).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tools.errors import ImageSaveError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One file to write: ``run`` writes it, ``label`` names it in an error ("the image of version 3")."""

    label: str
    run: Callable[[], None]


class Writer:
    """An in-order file writer: background (one thread, started when there is work) or immediate."""

    def __init__(self, *, background: bool = False) -> None:
        self.background = background
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._error: ImageSaveError | None = None

    @property
    def error(self) -> ImageSaveError | None:
        """The failure that stopped the queue, if any (cleared once a flush has written everything)."""
        with self._cond:
            return self._error

    @property
    def busy(self) -> bool:
        """Whether some job has not landed yet (queued, running, or stopped by a failure)."""
        with self._cond:
            return bool(self._jobs)

    def submit(self, label: str, run: Callable[[], None]) -> None:
        """Write now (immediate mode; errors raise here) or queue the job behind every earlier one."""
        if not self.background:
            _run(Job(label, run))
            return
        with self._cond:
            self._jobs.append(Job(label, run))
            if self._thread is None and self._error is None:
                # Not a daemon: an interpreter that exits normally waits for the queue to land.
                self._thread = threading.Thread(target=self._drain, name="chatedit-writer", daemon=False)
                self._thread.start()

    def defer(self, label: str, run: Callable[[], None], error: ImageSaveError) -> None:
        """Queue a job that just failed in the caller's thread: the next :meth:`flush` retries it."""
        with self._cond:
            self._jobs.append(Job(label, run))
            if self._error is None:
                self._error = ImageSaveError(f"{label} is not saved yet: {error}")

    def flush(self) -> None:
        """Wait until every queued job has landed; run what is left (after a failure) here, in order.

        Raises:
            ImageSaveError: a job failed again (it and the jobs after it stay queued).
        """
        with self._cond:
            self._cond.wait_for(lambda: self._thread is None)
            while self._jobs:           # after a failure, or a thread that died: retry, in order
                try:
                    _run(self._jobs[0])
                except ImageSaveError as e:
                    self._error = e
                    raise
                self._jobs.popleft()    # (anything else, e.g. Ctrl-C, leaves the job queued for the next flush)
            self._error = None

    def _drain(self) -> None:
        while True:
            with self._cond:
                # Seen empty and marked done under one lock: a submit in between would start no thread.
                if not self._jobs or self._error is not None:
                    self._thread = None
                    self._cond.notify_all()
                    return
                job = self._jobs[0]
            try:
                _run(job)
            except BaseException as e:  # noqa: BLE001 - stop; the job stays queued for flush to retry
                failure = e if isinstance(e, ImageSaveError) else \
                    ImageSaveError(f"the writer stopped: {type(e).__name__}: {e}")
                logger.error("%s", failure)
                with self._cond:
                    self._error = failure
                    self._thread = None
                    self._cond.notify_all()
                if not isinstance(e, Exception):
                    raise
                return
            with self._cond:
                self._jobs.popleft()


def _run(job: Job) -> None:
    try:
        job.run()
    except ImageSaveError as e:
        raise ImageSaveError(f"{job.label} is not saved yet: {e}") from e
    except Exception as e:  # an encoder failure is a save failure too; never a dead thread with a silent queue
        raise ImageSaveError(f"{job.label} is not saved yet: {type(e).__name__}: {e}") from e
