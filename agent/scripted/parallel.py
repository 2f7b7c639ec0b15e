"""Play many scripted sessions: one after another here, in worker processes (``--jobs N``) or on Ray (``--ray``).

Every worker keeps each profile's models loaded between sessions. A session whose worker dies (killed,
out of memory, a lost node) is played once more on a fresh worker, and the summary says so.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.scripted.backends import Processes, RayActors, Serial
from agent.scripted.progress import Progress
from agent.scripted.runner import EXIT_BAD_FILE, EXIT_FAILED, EXIT_OK
from agent.scripted.summary import RunSummary, write_summary
from agent.scripted.worker import Echo, Job, JobResult, failed_job
from tools.errors import ChatEditError, InvalidInputError


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


def run_sessions(jobs: list[Job], root: Path | None, *, workers: int | None = None, ray: str | None = None,
                 verbose: bool = False, done: list[JobResult] | None = None) -> int:
    """Play ``jobs`` (serially, in ``workers`` processes, or on Ray when ``ray`` is an address, "" for a local
    cluster), print each session's lines, write summary.json/.md into ``root`` (None: none); returns the worst
    exit status. ``workers`` None: serially here, or on Ray one actor per GPU, else per CPU.

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
                backend = RayActors(workers, ray or None, where, limit=len(jobs), verbose=verbose)
            elif workers is not None and workers > 1 and len(jobs) > 1:
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
