"""Edit quality (fast, balanced, best): the sampler, steps, guidance and working size of each diffusion tool."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tools.errors import InvalidInputError
from tools.profiles import Profile

logger = logging.getLogger(__name__)

QUALITIES = ("fast", "balanced", "best")
"""``fast``: LCM-LoRA, 4 steps, no classifier-free guidance, where the profile has an LCM-LoRA for its
inpainting model (lite: SD 1.5), else as ``balanced``; ``balanced``: the profile's scheduler and steps
(DPM-Solver++ 20 on full and lite) with guidance; ``best``: the model's own scheduler, at least 30
steps, at its native resolution."""
LCM_STEPS = 4
BEST_STEPS = 30
GUIDANCE = 7.5
LCM_FAMILIES = frozenset({"sd-inpaint"})
"""Inpainting families an SD 1.5 LCM-LoRA fits (the diffusers docs use it with SD 1.5 inpainting).
InstructPix2Pix is left out: its 8-channel UNet was fine-tuned apart from the LoRA's base, and its
image guidance needs classifier-free guidance, which LCM turns off."""


@dataclass(frozen=True)
class Sampling:
    """How one diffusion tool samples.

    Attributes:
        scheduler: a name of :data:`tools.diffusion_utils.SCHEDULERS`.
        steps: denoising steps per call.
        guidance_scale: text guidance (1: none, half the UNet batch).
        lcm_lora: fuse the profile's LCM-LoRA into the UNet first.
        working: ``crop`` (the working size follows the crop, up to native) or ``native`` (always native).
    """

    scheduler: str
    steps: int
    guidance_scale: float = GUIDANCE
    lcm_lora: bool = False
    working: str = "crop"


def check_quality(quality: str) -> str:
    """``quality`` if it is one of :data:`QUALITIES`, else InvalidInputError naming them."""
    if quality not in QUALITIES:
        raise InvalidInputError(f"unknown quality {quality!r}; choose one of {', '.join(QUALITIES)}")
    return quality


def sampling(profile: Profile, role: str, family: str | None = None) -> Sampling:
    """How ``role``'s tool (``inpainting``, ``instruct``, ``base``) samples at ``profile.quality``.

    Args:
        profile: the profile (its ``quality``, ``scheduler``, ``steps`` and ``lcm_lora``).
        role: the tool's role.
        family: the loaded model's family (None: the profile's for ``role``); an engine swapped in
            (SDXL on lite) gets no SD 1.5 LoRA.
    """
    quality = check_quality(profile.quality)
    family = family or profile.spec(role).family
    if quality == "best":
        return Sampling("default", max(BEST_STEPS, profile.steps), working="native")
    if quality == "fast" and role == "inpainting" and profile.lcm_lora is not None and family in LCM_FAMILIES:
        return Sampling("lcm", LCM_STEPS, 1.0, lcm_lora=True)
    return Sampling(profile.scheduler, profile.steps)


def apply_quality(tool: Any, profile: Profile) -> Sampling:
    """Set a loaded Inpainter or InstructEditor up for ``profile.quality``: its scheduler (and the
    LCM-LoRA, fused), its default steps and guidance, and for inpainting its working size.

    Raises:
        ModelUnavailableError: the LCM-LoRA is needed and cannot be had (one line: how to get it,
            or ``--quality balanced``).
    """
    from tools.diffusion_utils import use_scheduler
    from tools.inpainting import Inpainter

    role = "inpainting" if isinstance(tool, Inpainter) else "instruct"
    chosen = sampling(profile, role, getattr(tool, "family", None))
    if chosen.lcm_lora:
        from tools.lora import load_lcm_lora

        load_lcm_lora(tool.pipe, lcm_lora_path(profile))
    else:
        use_scheduler(tool.pipe, chosen.scheduler)
    tool.default_steps, tool.default_guidance = chosen.steps, chosen.guidance_scale
    if hasattr(tool, "working"):
        tool.working = chosen.working
    logger.info("%s at quality %s: %s, %d steps, guidance %s", role, profile.quality, chosen.scheduler,
                chosen.steps, chosen.guidance_scale)
    return chosen


def lcm_lora_path(profile: Profile) -> Any:
    """The local folder of ``profile``'s LCM-LoRA (downloaded once, like every model).

    Raises:
        ModelUnavailableError: the profile has none, or it is not cached and cannot be downloaded.
    """
    from tools.errors import ModelUnavailableError
    from tools.loading import model_path

    if profile.lcm_lora is None:
        raise ModelUnavailableError(f"profile {profile.name} has no LCM-LoRA; use --quality balanced")
    try:
        return model_path(profile.lcm_lora)
    except ModelUnavailableError as e:
        raise ModelUnavailableError(f"--quality fast needs the LCM-LoRA adapter: {e}; or use --quality "
                                    f"balanced") from e
