"""Which repaint engine a profile runs: ``--engine``, else the first of ``Profile.engines`` the memory plan fits."""

from __future__ import annotations

import logging
from dataclasses import replace

from tools.device import Placement
from tools.engines.base import ENGINE_OF, FAMILY, check_engine
from tools.memory import HEADROOM_GB, OFFLOADED_SHARE, MemoryPlan, plan_memory
from tools.profiles import ENGINE_SPECS, TINY_PREFIX, ModelSpec, Profile

logger = logging.getLogger(__name__)


def engine_name(profile: Profile) -> str:
    """The engine ``profile``'s inpainting model is (``sd``, ``sdxl``, ``flux2-klein``)."""
    return ENGINE_OF.get(profile.inpainting.family, profile.inpainting.family)


def edit_steps(profile: Profile, tool: object = None) -> int:
    """Steps an edit runs when its caller gives none: the profile's when they were asked for (``--steps``),
    else ``tool``'s own (FLUX.2 klein's 4, a quality's ``default_steps``), else the profile's."""
    own = None if profile.steps_asked else getattr(tool, "default_steps", None)
    return int(own or profile.steps)


def engine_spec(profile: Profile, engine: str) -> ModelSpec:
    """The model of ``engine`` at ``profile``'s scale: a tiny build for a tiny profile, the released model otherwise."""
    check_engine(engine)
    if profile.inpainting.is_tiny:
        return ModelSpec(f"{TINY_PREFIX}{FAMILY[engine]}", FAMILY[engine])
    return ENGINE_SPECS[engine]


def with_engine(profile: Profile, engine: str, why: str = "asked for") -> Profile:
    """``profile`` repainting with ``engine`` (its inpainting spec replaced; the choice is final).

    Raises:
        InvalidInputError: an unknown engine name.
    """
    spec = profile.inpainting if engine_name(profile) == engine else engine_spec(profile, engine)
    note = f"{profile.banner}; engine {engine} ({why})"
    return replace(profile, inpainting=spec, engines=(), note=note)


def _fits(profile: Profile, plan: MemoryPlan) -> bool:
    """Whether the repaint model fits the plan's budget beside the planner: resident, or with its
    pipeline offloaded (about :data:`tools.memory.OFFLOADED_SHARE` of it on the GPU at once)."""
    if plan.mode == "resident":
        return True
    budget = plan.budget_gb or 0.0
    return profile.planner.vram_gb + OFFLOADED_SHARE * profile.inpainting.vram_gb <= budget


def choose_engine(profile: Profile, placement: Placement, *, memory: MemoryPlan | None = None,
                  vram_gb: float | None = None) -> tuple[str, str]:
    """Pick from ``profile.engines`` (best first) the first that fits beside the planner.

    On CUDA an engine fits when the memory plan keeps everything resident, or when the planner
    and its offloaded pipeline fit the budget; the last engine is the fallback. Without CUDA the
    fallback is taken (FLUX.2 klein's 16 GB of weights would have to sit in RAM).

    Args:
        memory: a plan whose budget to use (``--vram-gb``); None: plan from the free VRAM.
        vram_gb: plan for this much free VRAM instead of asking CUDA.

    Returns:
        (engine, why in a few words).
    """
    engines = profile.engines or (engine_name(profile),)
    for engine in engines:
        check_engine(engine)
    if len(engines) == 1:
        return engines[0], "the profile's"
    if not placement.is_cuda:
        return engines[-1], "no CUDA"
    for engine in engines[:-1]:
        candidate = replace(profile, inpainting=engine_spec(profile, engine))
        given = None if memory is None or memory.budget_gb is None else memory.budget_gb + HEADROOM_GB
        plan = plan_memory(candidate, placement, vram_gb=vram_gb if given is None else given)
        if _fits(candidate, plan):
            how = "fits resident" if plan.mode == "resident" else "fits with offload"
            return engine, f"{how} in {plan.budget_gb:.1f} GB"
    return engines[-1], f"{engines[0]} does not fit beside the planner"


def resolve_engine(profile: Profile, placement: Placement, engine: str | None = None, *,
                   memory: MemoryPlan | None = None) -> Profile:
    """``profile`` with its engine settled: ``engine`` when given, else :func:`choose_engine`'s pick.

    Raises:
        InvalidInputError: an unknown engine name.
    """
    if engine is not None:
        return with_engine(profile, check_engine(engine))
    if not profile.engines:
        return profile
    chosen, why = choose_engine(profile, placement, memory=memory)
    logger.info("engine %s (%s)", chosen, why)
    return with_engine(profile, chosen, why)
