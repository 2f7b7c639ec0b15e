"""What an exported PNG says about how its version was made (``chatedit:*`` text chunks), and the tidying of what
an export killed midway left beside its file."""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

from agent.session.history import Version
from tools.atomic import TEMP_SUFFIX

logger = logging.getLogger(__name__)

STALE = 600.0
"""Seconds a temp file beside an export must be left untouched before it counts as a killed export's."""


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


def clear_stale_temps(target: Path, older_than: float = STALE) -> int:
    """Remove the temp files that exports to ``target`` killed midway left beside it (``.NAME.XXXXXXXX.tmp``,
    untouched for ``older_than`` seconds: a live export to the same path, from another process, is never that
    slow); returns how many went. Best effort: what cannot be looked at or removed is left."""
    removed = 0
    try:
        found = list(target.parent.glob(f".{glob.escape(target.name)}.*{TEMP_SUFFIX}"))
    except OSError:
        return 0
    for path in found:
        middle = path.name[len(target.name) + 2: -len(TEMP_SUFFIX)]
        try:
            info = path.lstat()
            if len(middle) != 8 or "." in middle or not path.is_file() or path.is_symlink() \
                    or time.time() - info.st_mtime < older_than:
                continue
            path.unlink()
        except OSError:
            continue
        removed += 1
        logger.info("removed %s, left by an export that was stopped midway", path)
    return removed
