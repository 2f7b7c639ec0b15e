"""Tiny random-weight models of the real architectures, built locally from configs (no network).

Each family's builder writes a folder with ``save_pretrained`` that the production loaders read
through the very same ``from_pretrained`` path as the real models. Pictures are noise; the
mechanics are real.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from tools.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

BUILDERS: dict[str, str] = {
    "llava": "tools.tiny.llava:build",
    "grounding-dino": "tools.tiny.vision:build_grounding_dino",
    "sam2": "tools.tiny.vision:build_sam2",
    "sd-inpaint": "tools.tiny.diffusion:build_sd_inpaint",
    "sdxl-inpaint": "tools.tiny.diffusion:build_sdxl_inpaint",
    "instruct-pix2pix": "tools.tiny.diffusion:build_instruct_pix2pix",
    "sd": "tools.tiny.diffusion:build_sd",
    "flux2-klein": "tools.tiny.flux2:build",
    "lcm-lora": "tools.tiny.diffusion:build_lcm_lora",
}
"""Family name → ``module:function`` that writes the model into an empty folder."""

_DONE = ".complete"
BUILD = "built by chatedit.tools.tiny, version 2\n"
"""Written into the marker; a folder from another builder version is rebuilt (version 2: the same
model on every machine — tokenizers are built, not trained)."""


def ensure(family: str, root: Path) -> Path:
    """Return ``root/family``, building the tiny model there first if it is missing.

    The build goes to a temporary folder that is renamed into place, so a crash or a
    concurrent build never leaves a half-written model behind.
    """
    if family not in BUILDERS:
        raise ModelUnavailableError(f"no tiny model for family {family!r}; known: {', '.join(sorted(BUILDERS))}")
    target = Path(root) / family
    if _complete(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    module_name, func_name = BUILDERS[family].split(":")
    build = getattr(importlib.import_module(module_name), func_name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=root))
    try:
        logger.info("building tiny %s model in %s", family, target)
        build(tmp)
        (tmp / _DONE).write_text(BUILD)
        if target.exists() and not _complete(target):   # half built, or by an older builder
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not _complete(target):  # a leftover, not a concurrent success
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _complete(target: Path) -> bool:
    marker = target / _DONE
    return marker.is_file() and marker.read_text() == BUILD
