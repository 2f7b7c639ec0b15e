"""Play many scripted sessions: one after another here, in worker processes (``--jobs N``) or on Ray (``--ray``).

Every worker keeps each profile's models loaded between sessions. A session whose worker dies (killed,
out of memory, a lost node) is played once more on a fresh worker, and the summary says so.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.scripted.progress import Progress
from agent.scripted.runner import EXIT_BAD_FILE, EXIT_FAILED, EXIT_OK, OUTPUTS, failures, play
from agent.scripted.script import Script
from agent.scripted.session_file import SessionFileError
from agent.scripted.summary import RunSummary, SessionSummary, session_summary, write_summary
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

    def _toolkit(self, profile: str, engine: str | None = None) -> Any:
        key = f"{profile} {engine or ''}"
        if key not in self._toolkits:
            from tools.loading import resolve_profile
            from tools.toolkit import Toolkit

            self._toolkits[key] = Toolkit(resolve_profile(profile), engine=engine)
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
            record = play(script, out, echo=lambda line: (say(line), crash(line)), toolkit=self._toolkit(script.profile, script.engine),
                          live=self._live)
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


# -- backends: each offers slots (workers); the driver streams jobs to free slots ------------------------------

_WORKER: Worker | None = None


def _init_worker(root: Path, verbose: bool) -> None:
    """A worker process's initializer: one :class:`Worker` for the process's life, the editor imported up front."""
    global _WORKER
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import agent.editor  # noqa: F401  (torch, transformers, diffusers: paid once, before the first session)

    _WORKER = Worker(root, hooks=True)


def _play_in_worker(job: Job) -> JobResult:
    assert _WORKER is not None, "the worker's initializer did not run"
    return _WORKER.play(job)


class Serial:
    """Plays in this process, printing each line as it comes."""

    kind = "serial"

    def __init__(self, root: Path, echo: Echo) -> None:
        self.slots = 1
        self._worker = Worker(root)
        self._echo = echo
        self._jobs: dict[int, Job] = {}

    def submit(self, slot: int, job: Job) -> int:
        self._jobs[job.index] = job
        return job.index

    def wait(self, handles: list[Any]) -> Iterator[tuple[Any, JobResult | None, str | None]]:
        job = self._jobs.pop(handles[0])
        yield handles[0], self._worker.play(job, echo=self._echo), None

    def restart(self, slot: int) -> None:
        raise AssertionError("a serial run has no worker to restart")

    def close(self) -> None:
        pass


class Processes:
    """``slots`` worker processes (spawned), each a one-process :class:`ProcessPoolExecutor` so a death is its own."""

    kind = "processes"

    def __init__(self, slots: int, root: Path, *, verbose: bool = False) -> None:
        import multiprocessing

        self.slots = slots
        self._context = multiprocessing.get_context("spawn")    # no fork of a process holding threads and torch
        self._args = (root, verbose)
        self._pools = [self._pool() for _ in range(slots)]

    def _pool(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(max_workers=1, mp_context=self._context, initializer=_init_worker,
                                           initargs=self._args)

    def submit(self, slot: int, job: Job) -> futures.Future[JobResult]:
        return self._pools[slot].submit(_play_in_worker, job)

    def wait(self, handles: list[Any]) -> Iterator[tuple[Any, JobResult | None, str | None]]:
        done, _ = futures.wait(handles, return_when=futures.FIRST_COMPLETED)
        for future in done:
            try:
                yield future, future.result(), None
            except BrokenProcessPool:
                yield future, None, "its worker process died"

    def restart(self, slot: int) -> None:
        self._pools[slot].shutdown(wait=False, cancel_futures=True)
        self._pools[slot] = self._pool()

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


class SessionActor:
    """A Ray actor: one long-lived worker holding its models, playing the sessions it is sent."""

    def __init__(self, root: Path, verbose: bool) -> None:
        _init_worker(root, verbose)

    def play(self, job: Job) -> JobResult:
        return _play_in_worker(job)


class RayActors:
    """``slots`` :class:`SessionActor` on a Ray cluster (``address``; None: a local one started here)."""

    kind = "ray"

    def __init__(self, slots: int | None, address: str | None, root: Path, *, verbose: bool = False) -> None:
        try:
            import ray
        except ImportError as e:
            raise InvalidInputError("--ray needs Ray, which is not installed: pip install 'chatedit[cluster]'") from e
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            # a local cluster listens on loopback only, with one CPU per actor
            local = {} if address else {"num_cpus": slots or os.cpu_count() or 1, "_node_ip_address": "127.0.0.1"}
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=verbose,
                         logging_level=logging.INFO if verbose else logging.WARNING, **local)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise InvalidInputError(f"--ray {address or ''}: cannot start or reach the Ray cluster "
                                        f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                                        "check the address (ray status shows it)") from e
            self._started = True
        try:
            resources = ray.cluster_resources()
            gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
            self.slots = max(1, slots or int(gpus) or int(cpus))
            if cpus < self.slots:
                logger.warning("the Ray cluster has %s CPUs: %s actors instead of %s", cpus, int(cpus), self.slots)
                self.slots = max(1, int(cpus))
            self.gpus_each = min(1.0, gpus / self.slots) if gpus else 0.0
            self._class = ray.remote(num_cpus=1, num_gpus=self.gpus_each, max_restarts=0,
                                     max_task_retries=0)(SessionActor)
            self._args = (root, verbose)
            self._actors = [self._class.remote(*self._args) for _ in range(self.slots)]
        except BaseException:
            self.close()
            raise

    def submit(self, slot: int, job: Job) -> Any:
        return self._actors[slot].play.remote(job)

    def wait(self, handles: list[Any]) -> Iterator[tuple[Any, JobResult | None, str | None]]:
        from ray.exceptions import NodeDiedError, ObjectLostError, RayActorError, WorkerCrashedError

        ready, _ = self._ray.wait(handles, num_returns=1)
        for ref in ready:
            try:
                yield ref, self._ray.get(ref), None
            except (RayActorError, WorkerCrashedError, NodeDiedError, ObjectLostError) as e:
                yield ref, None, f"its Ray actor died ({type(e).__name__})"

    def restart(self, slot: int) -> None:
        try:
            self._ray.kill(self._actors[slot], no_restart=True)
        except Exception:  # already gone
            logger.debug("the dead actor could not be killed", exc_info=True)
        self._actors[slot] = self._class.remote(*self._args)

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:
                logger.debug("an actor could not be killed", exc_info=True)
        if self._started:
            self._ray.shutdown()


def drive(backend: Any, jobs: list[Job], progress: Progress | None, show: Echo) -> list[JobResult]:
    """Stream ``jobs`` to the backend's free slots until all are played; a job whose worker died is played
    once more (first in line, on a fresh worker). Returns the results in the jobs' order."""
    queue, free = deque(jobs), deque(range(backend.slots))
    running: dict[Any, tuple[int, Job]] = {}
    results: dict[int, JobResult] = {}
    retried: dict[int, str] = {}
    while queue or running:
        while queue and free:
            job, slot = queue.popleft(), free.popleft()
            running[backend.submit(slot, job)] = (slot, job)
        if progress is not None:
            progress.running = len(running)
            progress.show()
        for handle, result, died in list(backend.wait(list(running))):
            slot, job = running.pop(handle)
            if died is not None:
                backend.restart(slot)
                if job.attempt == 1:
                    retried[job.index] = f"{died} during the session; it was played again on a fresh worker"
                    show(f"{job.script.name}: {died}; playing it once more on a fresh worker", True)
                    queue.appendleft(replace(job, attempt=2))
                    free.append(slot)
                    if progress is not None:
                        progress.retried += 1
                    continue
                result = failed_job(job.index, job.source, job.script.name, job.out, EXIT_FAILED,
                                    f"{job.source}: could not run: {died}, twice")
            assert result is not None
            free.append(slot)
            result.summary.retried = retried.get(job.index)
            results[job.index] = result
            if backend.kind != "serial":
                for text, err in result.lines:
                    show(text, err)
            if progress is not None:
                progress.done += 1
                progress.failed += result.code != EXIT_OK
                progress.running = len(running)
                progress.show(finished=True)
    return [results[i] for i in sorted(results)]


def run_sessions(jobs: list[Job], root: Path | None, *, workers: int = 1, ray: str | None = None, verbose: bool = False,
                 done: list[JobResult] | None = None) -> int:
    """Play ``jobs`` (serially, in ``workers`` processes, or on Ray when ``ray`` is an address, "" for a local
    cluster), print each session's lines, write summary.json/.md into ``root`` (None: none); returns the worst
    exit status.

    ``done``: sessions that could not start (a bad file), for the summary.
    """
    progress = Progress(len(jobs)) if len(jobs) > 1 else None

    def show(text: str, err: bool) -> None:
        if progress is not None:
            progress.clear()
        print(text, file=sys.stderr if err else sys.stdout, flush=True)

    start = time.monotonic()
    where = root or Path(".")
    backend: Any = None
    results: list[JobResult] = []
    try:
        if jobs:
            if ray is not None:
                backend = RayActors(min(workers, len(jobs)) if workers > 1 else None, ray or None, where,
                                    verbose=verbose)
            elif workers > 1 and len(jobs) > 1:
                backend = Processes(min(workers, len(jobs)), where, verbose=verbose)
            else:
                backend = Serial(where, show)
            results = drive(backend, jobs, progress, show)
    except InvalidInputError as e:
        show(f"chatedit run: {e}", True)
        return EXIT_BAD_FILE
    finally:
        if backend is not None:
            backend.close()
        if progress is not None:
            progress.close()
    seconds = time.monotonic() - start
    every = sorted([*results, *(done or [])], key=lambda r: r.index)
    status = max((r.code for r in every), default=EXIT_OK)
    if root is not None and (len(every) > 1 or any(r.summary.status != "error" for r in every)):
        run = RunSummary(backend=backend.kind if backend else "serial", workers=getattr(backend, "slots", 1),
                         seconds=seconds, sessions=[r.summary for r in every])
        try:
            _, md = write_summary(run, root)
        except ChatEditError as e:
            show(f"chatedit run: {e}", True)
            return max(status, EXIT_FAILED)
        if len(every) > 1:
            t = run.totals
            show(f"{t['sessions']} sessions: {t['passed']} passed, {t['failed']} failed, {t['errors']} could not run, "
                 f"{t['retried']} retried, {seconds:.1f} s -> {md}", False)
    return status
