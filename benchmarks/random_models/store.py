"""Cache folders of random-weight builds: a stamp names what was built, a build goes to a temporary folder renamed
into place, so a folder is either complete and current or rebuilt."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger("random_weights")

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
"""``index.json`` plus one folder of config files per model."""
BUILD_VERSION = "1"
"""Bump when the builder's output changes: folders built by an older version are rebuilt."""
DONE = ".complete"
"""The completion marker: holds the stamp of the build that wrote the folder."""


def fingerprint(folder: Path) -> str:
    """16 hex digits of :data:`BUILD_VERSION` and every ``*.json`` under ``folder`` (relative names and bytes)."""
    digest = hashlib.sha256(BUILD_VERSION.encode())
    for path in sorted(folder.rglob("*.json")):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def build_into(target: Path, stamp: str, write: Callable[[Path], None], what: str) -> Path:
    """Return ``target``, first calling ``write(folder)`` unless its marker already holds ``stamp``.

    ``write`` fills a temporary folder next to ``target``; with the marker written it replaces
    ``target`` (readable by all, so a shared cache works). ``what`` names the build in the log.
    """
    marker = target / DONE
    if marker.exists() and marker.read_text() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        logger.info("building random-weight %s in %s", what, target)
        write(tmp)
        (tmp / DONE).write_text(stamp)
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        gc.collect()
    return target
