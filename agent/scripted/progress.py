"""A progress bar for many sessions on stderr: counts and time left; plain lines when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    """``75`` → ``"1:15"``, ``3725`` → ``"1:02:05"``."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Sessions done of ``total``, failed, retried and running, with the elapsed time and an estimate of what is left.

    On a terminal one line is redrawn in place (:meth:`clear` it before printing other lines); elsewhere
    (a log, a pipe) each finished session adds one plain line.
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, width: int = 24) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.done = self.failed = self.retried = self.running = 0
        self._start = time.monotonic()
        self._shown = False

    def line(self) -> str:
        """``[######------] 3/8 sessions, 1 failed, 2 running, 0:42 elapsed, about 1:10 left``."""
        elapsed = time.monotonic() - self._start
        parts = [f"{self.done}/{self.total} sessions"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.retried:
            parts.append(f"{self.retried} retried")
        if self.running:
            parts.append(f"{self.running} running")
        parts.append(f"{clock(elapsed)} elapsed")
        if 0 < self.done < self.total:
            parts.append(f"about {clock(elapsed / self.done * (self.total - self.done))} left")
        filled = self.width * self.done // max(self.total, 1)
        return f"[{'#' * filled}{'-' * (self.width - filled)}] " + ", ".join(parts)

    def show(self, *, finished: bool = False) -> None:
        """Redraw the bar (terminal), or write a line when a session has finished (elsewhere)."""
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
            self._shown = True
        elif finished:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Take the bar off the terminal line, so other output starts at the line's beginning."""
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
