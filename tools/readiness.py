"""Before a run starts: the models a profile needs that are not on this machine and cannot be fetched now,
and a cache folder that cannot be written, each said in one line with what to do."""

from __future__ import annotations

import os
from pathlib import Path

from tools.profiles import ENGINE_SPECS, ModelSpec, Profile


def needed(profile: Profile, *, engine: str | None = None, quality: str | None = None,
           served: bool = False) -> list[ModelSpec]:
    """The models a session on ``profile`` may load, each once: every role's (the planner's unless it is
    ``served``), the ``engine``'s inpainting model in place of the profile's, and the LCM-LoRA for ``fast``."""
    specs = profile.specs()
    if served:
        specs.pop("planner")
    if engine in ENGINE_SPECS and not profile.random_weights:
        specs["inpainting"] = ENGINE_SPECS[engine]
    wanted = list(specs.values())
    if (quality or profile.quality) == "fast" and profile.lcm_lora is not None:
        wanted.append(profile.lcm_lora)
    unique: dict[str, ModelSpec] = {}
    for spec in wanted:
        unique.setdefault(spec.model_id, spec)
    return list(unique.values())


def missing(profile: Profile, **kwargs: object) -> list[ModelSpec]:
    """The :func:`needed` models that are neither a tiny build, a local folder, nor in the Hugging Face cache."""
    from tools.loading import is_cached

    return [spec for spec in needed(profile, **kwargs) if not is_cached(spec.model_id)]  # type: ignore[arg-type]


def unavailable(profile: Profile, *, engine: str | None = None, quality: str | None = None, served: bool = False,
                reachable: bool | None = None) -> str | None:
    """One line when models ``profile`` needs are not cached and cannot be downloaded now (``HF_HUB_OFFLINE``
    is set, or the hub does not answer); None when every one is here or can be fetched.

    Args:
        reachable: whether the Hugging Face hub answers (None: try it, up to 2 s, only when something is missing).
    """
    from tools.loading import hub_reachable, is_offline

    absent = missing(profile, engine=engine, quality=quality, served=served)
    if not absent:
        return None
    offline = is_offline()
    if not offline and (hub_reachable() if reachable is None else reachable):
        return None
    total = sum(spec.download_gb for spec in absent)
    listed = ", ".join(f"{spec.model_id} ({_gb(spec.download_gb)})" for spec in absent)
    count = f"{len(absent)} model{'s' if len(absent) > 1 else ''}"
    if offline:
        why, fix = "HF_HUB_OFFLINE is set", "unset HF_HUB_OFFLINE and run again with network to download them once"
    else:
        why, fix = "the Hugging Face hub cannot be reached", "run again with network to download them once"
    return (f"profile {profile.name} needs {count} that {'are' if len(absent) > 1 else 'is'} not on this machine "
            f"and {why}: {listed}; {_gb(total)} in all. To get them, {fix} into the Hugging Face cache (or run "
            f"`hf download ID` for each on a machine with network and copy its cache over); or use --profile tiny, "
            "which works offline (random weights: the pictures are noise).")


def _gb(size: float) -> str:
    return f"{size:.1f} GB" if size >= 1 else f"{size * 1000:.0f} MB"


def cache_problem() -> str | None:
    """One line when chatedit's own cache folder (``$CHATEDIT_CACHE`` or ``~/.cache/chatedit``: the tiny models,
    the planner's saved prompt) cannot be created or written; None when it can."""
    from tools.loading import cache_dir

    folder = cache_dir()
    given = os.environ.get("CHATEDIT_CACHE")
    name = f"CHATEDIT_CACHE={given}" if given else f"chatedit's cache folder {folder}"
    fix = "point CHATEDIT_CACHE at a folder you can write" + (", or unset it" if given else "")
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return f"{name} cannot be created ({_blocker(folder)}); {fix}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{name} cannot be written (permission denied); {fix}"
    return None


DTYPES = ("float16", "fp16", "bfloat16", "bf16", "float32", "fp32")
"""What ``CHATEDIT_DTYPE`` may be (:func:`tools.device.parse_dtype` reads the same names)."""


def environment_problem() -> str | None:
    """One line when a ``CHATEDIT_*`` setting read before any model loads is unusable: ``CHATEDIT_DTYPE``, or the
    cache folder (:func:`cache_problem`); None when they are fine. Read without importing torch."""
    dtype = os.environ.get("CHATEDIT_DTYPE", "")
    if dtype.strip() and dtype.strip().lower() not in DTYPES:          # empty is unset, as tools.device reads it
        return (f"CHATEDIT_DTYPE must be float16, bfloat16 or float32, got {dtype!r}; set one of them or unset it "
                "(the default suits the device)")
    return cache_problem()


def unwritable(folder: Path) -> str | None:
    """Why ``folder`` (existing or to be made) cannot hold files, in words ("/etc/hostname is a file, not a
    folder", "permission denied"), without making it; None when it can."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                return f"{part} is a file, not a folder"
            return None if os.access(part, os.W_OK | os.X_OK) else f"{part} cannot be written (permission denied)"
    return "its drive is missing"


def _blocker(folder: Path) -> str:
    """Why ``folder`` cannot be made: the nearest existing part of it that is a file, or a permission."""
    for part in (folder, *folder.parents):
        if part.exists():
            return f"{part} is a file, not a folder" if not part.is_dir() else "permission denied"
    return "its drive is missing"


def fallback_advice(note: str) -> str:
    """What to add to ``auto``'s note when it fell back to tiny ("... lite wanted, but ..."): how big the wanted
    profile's models are and how to get them ("" when the note names no wanted profile)."""
    from tools.loading import is_offline
    from tools.profiles import PROFILES

    wanted = next((p for name, p in PROFILES.items() if f": {name} wanted, but " in note), None)
    if wanted is None:
        return ""
    size = _gb(sum(spec.download_gb for spec in missing(wanted)))
    how = "unset HF_HUB_OFFLINE and run once with network" if is_offline() else "run once with network"
    return (f"; to use {wanted.name}'s real models ({size} to download), {how}: they go into the Hugging Face "
            "cache (README 'Profiles and models')")
