"""What an exported PNG says about how its version was made, as ``chatedit:*`` text chunks."""

from __future__ import annotations

from pathlib import Path

from agent.session.history import Version


def png_text(info: Version, number: int, session: Path, *, profile: str = "") -> dict[str, str]:
    """The text chunks for version ``number`` (``info``) of the session in ``session``: the instruction,
    the version, first seed and every step's seed, models, references, who planned it."""
    metadata = {"chatedit:version": str(number), "chatedit:session": str(session)}
    if profile:
        metadata["chatedit:profile"] = profile
    if info.instruction:
        metadata["chatedit:instruction"] = info.instruction
    if info.seed is not None:
        metadata["chatedit:seed"] = str(info.seed)
    if info.seeds:
        metadata["chatedit:seeds"] = ", ".join(str(s) for s in info.seeds)
    if info.models:
        metadata["chatedit:models"] = ", ".join(f"{k}={v}" for k, v in info.models.items())
    references = [r.reference for r in info.steps if r.reference is not None]
    if references:
        metadata["chatedit:reference"] = "; ".join(
            f"{r.name or 'an image'} sha256={r.id} used={'yes' if r.used else 'no'}" for r in references)
    if info.planned_by:
        metadata["chatedit:planned_by"] = ", ".join(f"{k}={v}" for k, v in info.planned_by.items())
    return metadata
