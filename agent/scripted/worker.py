"""A worker that plays scripted sessions one after another, keeping each profile's models loaded between them."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.scripted.runner import EXIT_BAD_FILE, EXIT_FAILED, EXIT_OK, OUTPUTS, failures, play
from agent.scripted.script import Script
from agent.scripted.session_file import SessionFileError
from agent.scripted.summary import SessionSummary, session_summary
from tools.errors import ChatEditError, InvalidInputError

logger = logging.getLogger(__name__)

CRASH_HOOK = "CHATEDIT_TEST_CRASH"
"""Test hook, ``NAME@MARKER``: a worker process (never the serial run) playing session NAME kills itself
(SIGKILL) after the session's first turn, unless the file MARKER exists; it creates MARKER first, so it
happens once."""

Echo = Callable[[str, bool], None]
"""Told each output line as it is made: (text, whether it goes to stderr)."""


@dataclass(frozen=True)
class Job:
    """One session to play into ``out``; ``attempt`` 2 is the retry after its worker died."""

    index: int
    source: str
    script: Script
    out: Path
    attempt: int = 1


@dataclass
class JobResult:
    """What playing a job came to: its exit status, its output lines and its line in the summary."""

    index: int
    code: int
    summary: SessionSummary
    lines: list[tuple[str, bool]] = field(default_factory=list)
    """(text, to stderr) in the order printed."""


def failed_job(index: int, source: str, name: str, out: Path, code: int, message: str) -> JobResult:
    """The result of a session that could not run (its summary says why)."""
    summary = SessionSummary(name=name, source=source, out=str(out), status="error", exit=code, error=message)
    return JobResult(index=index, code=code, summary=summary, lines=[(message, True)])


def clear_partial(out: Path) -> None:
    """Remove what a run killed mid-session left in ``out`` (the runner's own outputs, when a run began there)."""
    if not (out / "session").is_dir():
        return
    for name in OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


def _crash_hook(name: str) -> Callable[[str], None]:
    hook = os.environ.get(CRASH_HOOK, "")
    wanted, _, marker = hook.partition("@")
    if not hook or wanted != name or not marker:
        return lambda _: None

    def after(line: str) -> None:
        if line.startswith("  turn 1 ") and not Path(marker).exists():
            Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return after


class Worker:
    """Plays sessions one after another, keeping each profile's toolkit (its models) and live planner loaded.

    Args:
        root: the output root (summary paths are relative to it).
        hooks: honour :data:`CRASH_HOOK` (worker processes and actors only).
    """

    def __init__(self, root: Path, *, hooks: bool = False) -> None:
        self.root = root
        self.hooks = hooks
        self.name = f"{socket.gethostname()} pid {os.getpid()}"
        self._toolkits: dict[str, Any] = {}
        self._planners: dict[str, Any] = {}

    def _toolkit(self, profile: str, engine: str | None = None, quality: str | None = None) -> Any:
        key = f"{profile} {engine or ''} {quality or ''}"
        if key not in self._toolkits:
            from dataclasses import replace

            from tools.loading import resolve_profile
            from tools.toolkit import Toolkit

            resolved = resolve_profile(profile)
            self._toolkits[key] = Toolkit(replace(resolved, quality=quality) if quality else resolved, engine=engine)
        return self._toolkits[key]

    def _live(self, editor: Any) -> Any:
        from agent.scripted.runner import _live_planner

        if editor.profile.name not in self._planners:
            self._planners[editor.profile.name] = _live_planner(editor)
        return self._planners[editor.profile.name]

    def play(self, job: Job, echo: Echo | None = None) -> JobResult:
        """Play ``job`` (never raises for the session's own failures: they are its result)."""
        lines: list[tuple[str, bool]] = []

        def say(text: str, err: bool = False) -> None:
            lines.append((text, err))
            if echo is not None:
                echo(text, err)

        script, out = job.script, job.out
        crash = _crash_hook(script.name) if self.hooks else (lambda _: None)
        code, message, record = EXIT_OK, None, None
        start = time.monotonic()
        try:
            if job.attempt > 1:
                clear_partial(out)
            say(f"{script.name}: {script.image_source}, profile {script.profile} -> {out}")
            record = play(script, out, echo=lambda line: (say(line), crash(line)),
                          toolkit=self._toolkit(script.profile, script.engine, script.quality), live=self._live)
        except SessionFileError as e:
            code, message = EXIT_BAD_FILE, str(e)
        except InvalidInputError as e:
            code, message = EXIT_BAD_FILE, f"{job.source}: {e}"
        except (ChatEditError, OSError) as e:  # the disk filled, a folder vanished mid-run: one line, traceback under -v
            logger.info("the run of %s failed", job.source, exc_info=True)
            code, message = EXIT_FAILED, f"{job.source}: could not run: {e}"
        except Exception as e:  # a bug must end this session only, not the whole run
            logger.exception("the run of %s failed", job.source)
            code, message = EXIT_FAILED, f"{job.source}: could not run: {type(e).__name__}: {e} (a bug: please report it)"
        if record is None:
            result = failed_job(job.index, job.source, script.name, out, code, message or "")
            if echo is not None:
                echo(message or "", True)
            result.lines[:0] = lines
        else:
            failed = failures(record)
            for line in failed:
                say(line, True)
            verdict = "passed" if not failed else f"FAILED ({len(failed)} expectation(s))"
            say(f"{script.name}: {verdict}, {len(record.turns)} turns, {len(record.versions) - 1} versions, "
                f"{record.timings['total_s']:.1f} s -> {out / 'transcript.md'}")
            code = EXIT_OK if not failed else EXIT_FAILED
            result = JobResult(index=job.index, code=code, lines=lines,
                               summary=session_summary(record, out, source=job.source, root=self.root, exit=code))
        result.summary.worker = self.name
        result.summary.timings.setdefault("total_s", round(time.monotonic() - start, 3))
        return result


