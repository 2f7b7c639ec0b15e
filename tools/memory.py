"""The memory plan: every model resident when the GPU has room, else diffusion offload and on-demand loading.

Chosen once, from the free VRAM at start (or a budget the user gives), and shown in the status line.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tools.device import Placement
from tools.errors import InvalidInputError
from tools.profiles import Profile

logger = logging.getLogger(__name__)

CORE_ROLES = ("planner", "grounding", "segmentation", "inpainting")
"""The models every local edit uses; global edits and DiffEdit add theirs when first asked for."""
HEADROOM_GB = 1.5
"""VRAM kept free for activations, the CUDA context and fragmentation."""
OFFLOADED_SHARE = 0.65
"""With model CPU offload a diffusion pipeline holds about its UNet on the GPU: this share of the whole."""

Mode = Literal["resident", "offload", "cpu"]


@dataclass(frozen=True)
class MemoryPlan:
    """How models share the GPU.

    Attributes:
        mode: ``resident`` (all models stay on the GPU), ``offload`` (diffusion pipelines use
            model CPU offload; any model is unloaded, least recently used first, when the next one
            would not fit), or ``cpu`` (no GPU: everything lives in RAM).
        budget_gb: VRAM the models may take (free VRAM less headroom); None on the CPU.
        need_gb: estimated VRAM of the core models (planner, grounding, SAM 2, inpainting) all resident.
    """

    mode: Mode
    budget_gb: float | None
    need_gb: float

    @property
    def offload(self) -> bool:
        return self.mode == "offload"

    def short(self) -> str:
        """A few words for the status line: ``all resident 17.5/77.2 GB``, ``offload, 6.5 GB``."""
        if self.mode == "cpu":
            return "CPU RAM"
        if self.mode == "resident":
            return f"all resident {self.need_gb:.1f}/{self.budget_gb:.1f} GB"
        return f"offload, {self.budget_gb:.1f} GB"

    def describe(self) -> str:
        """One line for the status bar: ``memory: all resident (17.5 of 77.2 GB)``."""
        if self.mode == "cpu":
            return "memory: CPU (models in RAM)"
        if self.mode == "resident":
            return f"memory: all resident ({self.need_gb:.1f} of {self.budget_gb:.1f} GB)"
        return (f"memory: offload ({self.need_gb:.1f} GB needed, {self.budget_gb:.1f} GB free): "
                "diffusion CPU offload, other models on demand")


def resident_need(profile: Profile) -> float:
    """Estimated VRAM (GB) with the core models resident, from the profile's per-model figures."""
    return sum(profile.spec(role).vram_gb for role in CORE_ROLES)


def plan_memory(profile: Profile, placement: Placement, *, vram_gb: float | None = None,
                headroom_gb: float = HEADROOM_GB) -> MemoryPlan:
    """Choose a :class:`MemoryPlan` for ``profile`` on ``placement``.

    Args:
        profile: whose models (their ``vram_gb`` estimates) must fit.
        placement: where they run; anything but CUDA gets the ``cpu`` plan.
        vram_gb: plan for a GPU of this much free memory instead of asking CUDA (``--vram-gb``:
            share a GPU, or try the 8 GB plan on a larger card).
        headroom_gb: kept free for activations and the CUDA context.
    """
    need = resident_need(profile)
    if not placement.is_cuda:
        return MemoryPlan("cpu", None, need)
    if vram_gb is None:
        import torch

        device = torch.device(placement.device)
        free, _total = torch.cuda.mem_get_info(device)
        vram_gb = free / 2**30
    if vram_gb <= 0:
        raise InvalidInputError(f"vram_gb must be positive, got {vram_gb!r}")
    budget = max(0.5, vram_gb - headroom_gb)
    mode: Mode = "resident" if need <= budget else "offload"
    plan = MemoryPlan(mode, budget, need)
    logger.info("%s", plan.describe())
    return plan


class Residency:
    """Keeps the loaded models within the plan's VRAM budget, unloading the least recently used first.

    Models (the toolkit's, and the agent's planner) tell it before they load (:meth:`admit`), once
    loaded (:meth:`add`, with a callback that unloads them) and on each use (:meth:`touch`). On
    the CPU and in the ``resident`` plan with room to spare it never unloads anything.
    """

    def __init__(self, plan: MemoryPlan) -> None:
        self.plan = plan
        self._loaded: OrderedDict[str, tuple[float, Callable[[], None]]] = OrderedDict()
        self._lock = threading.RLock()
        self.unloads = 0
        """How many times a model was unloaded to make room (reloads cost time: benchmarks report it)."""

    @property
    def loaded(self) -> list[str]:
        """Roles whose models are loaded, least recently used first."""
        with self._lock:
            return list(self._loaded)

    @property
    def used_gb(self) -> float:
        with self._lock:
            return sum(cost for cost, _ in self._loaded.values())

    def admit(self, role: str, cost_gb: float) -> None:
        """Make room for ``role`` (about ``cost_gb``): unload least recently used models until it fits."""
        budget = self.plan.budget_gb
        if budget is None:
            return
        with self._lock:
            while self._loaded and self.used_gb + cost_gb > budget:
                victim = next((r for r in self._loaded if r != role), None)
                if victim is None:
                    break
                cost, unload = self._loaded.pop(victim)
                logger.info("unloading %s (%.1f GB) to make room for %s", victim, cost, role)
                unload()
                self.unloads += 1
            if self._loaded and self.used_gb + cost_gb > budget:
                logger.warning("%s (%.1f GB) may not fit the %.1f GB budget", role, cost_gb, budget)
        free_accelerator_memory()

    def add(self, role: str, cost_gb: float, unload: Callable[[], None]) -> None:
        """Record that ``role`` is loaded (as the most recently used) and how to unload it."""
        with self._lock:
            self._loaded[role] = (cost_gb, unload)
            self._loaded.move_to_end(role)

    def touch(self, role: str) -> None:
        with self._lock:
            if role in self._loaded:
                self._loaded.move_to_end(role)

    def drop(self, role: str) -> None:
        """Forget ``role`` (it unloaded itself)."""
        with self._lock:
            self._loaded.pop(role, None)


def free_accelerator_memory() -> None:
    """Return freed GPU memory to the driver (after models were dropped)."""
    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measured_gb(before: int) -> float | None:
    """GPU memory allocated since ``before`` bytes (None without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return max(0.0, (torch.cuda.memory_allocated() - before) / 2**30)


def allocated() -> int:
    """Bytes of GPU memory allocated now (0 without CUDA)."""
    import torch

    return torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
