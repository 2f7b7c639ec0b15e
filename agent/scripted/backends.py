"""Where sessions are played: here (:class:`Serial`), in worker processes (:class:`Processes`) or on Ray actors
(:class:`RayActors`). Each offers ``slots`` long-lived workers; :func:`agent.scripted.parallel.drive` streams
jobs to the free ones and restarts a slot whose worker died.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from agent.scripted.worker import Echo, Job, JobResult, Worker
from tools.errors import InvalidInputError

logger = logging.getLogger(__name__)

_WORKER: Worker | None = None


def _init_worker(root: Path, verbose: bool, threads: int | None = None) -> None:
    """A worker process's initializer: one :class:`Worker` for the process's life, the editor imported up front.

    ``threads``: CPU threads for torch in this worker (None: torch's default), so workers share the cores
    instead of each taking them all (Ray already sets OMP_NUM_THREADS to an actor's CPUs).
    """
    global _WORKER
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    import agent.editor  # noqa: F401  (torch, transformers, diffusers: paid once, before the first session)

    if threads is not None:
        import torch

        torch.set_num_threads(threads)

    _WORKER = Worker(root, hooks=True)


def _play_in_worker(job: Job) -> JobResult:
    assert _WORKER is not None, "the worker's initializer did not run"
    return _WORKER.play(job)


def _threads(workers: int) -> int:
    """Torch threads per worker process: $OMP_NUM_THREADS when set (the same count gives the same pixels:
    a CPU edit's last bits depend on it), else this machine's CPUs shared among the workers."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else max(1, (os.cpu_count() or 1) // workers)


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
        self._args = (root, verbose, _threads(slots))
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


def _check_reachable(address: str) -> None:
    """Refuse an address ``host:port`` (or ``ray://host:port``) that does not answer within 2 s, in one line:
    Ray itself keeps retrying an unreachable head for a minute or more, printing its own warnings."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if hostport == "auto" or not sep or not port.isdigit():
        return                                          # "auto", or a form Ray reads itself: Ray decides
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
    except (OSError, ValueError) as e:
        why = "no such host" if isinstance(e, socket.gaierror) else (getattr(e, "strerror", None) or str(e) or
                                                                    type(e).__name__)
        raise InvalidInputError(f"--ray {address}: nothing answers there ({why}); start the cluster's head "
                                "(ray start --head) or check the address (ray status shows it)") from e


class RayActors:
    """``slots`` :class:`SessionActor` on a Ray cluster (``address``; None: a local one started here).

    ``slots`` None: one per GPU of the cluster, else one per CPU; never more than ``limit`` (the sessions).
    """

    kind = "ray"

    def __init__(self, slots: int | None, address: str | None, root: Path, *, limit: int | None = None,
                 verbose: bool = False) -> None:
        try:
            import ray
        except ImportError as e:
            raise InvalidInputError("--ray needs Ray, which is not installed: pip install 'chatedit[cluster]'") from e
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address:
                _check_reachable(address)
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
            self.slots = max(1, min(slots or int(gpus) or int(cpus), limit or 1 << 30))
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
        from ray.exceptions import RayError

        ready, _ = self._ray.wait(handles, num_returns=1)
        for ref in ready:
            try:
                yield ref, self._ray.get(ref), None
            except RayError as e:  # the actor or its node died, its result was lost: the worker is gone
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
