"""The repaint engine interface; the one crop → repaint → exact composite path every engine goes through is
:func:`tools.repaint.repaint` (re-exported here)."""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from tools.errors import InvalidInputError
from tools.repaint import Framing, InpaintResult, Painter, Progress, check_call, repaint  # noqa: F401 - re-exported

ENGINES = ("sd", "sdxl", "flux2-klein")
"""Engine names (``--engine``): SD 1.5 inpainting, SDXL inpainting 0.1, FLUX.2 [klein] 4B."""
FAMILY = {"sd": "sd-inpaint", "sdxl": "sdxl-inpaint", "flux2-klein": "flux2-klein"}
"""Engine name → the ``ModelSpec.family`` of its inpainting model."""
ENGINE_OF = {family: name for name, family in FAMILY.items()}
"""Inpainting family → engine name."""


def check_engine(name: str) -> str:
    """``name`` if it is an engine, else InvalidInputError listing the engines."""
    if name not in ENGINES:
        raise InvalidInputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return name


@runtime_checkable
class RepaintEngine(Protocol):
    """What chatedit asks of a repaint engine.

    An engine repaints the masked part of an image from a prompt (and, where it can, a reference
    image). Its contract is :meth:`inpaint`'s: the model sees a window around the dilated mask at
    its native resolution, sides on its size grid; the result is pasted back through
    :func:`tools.masks.composite`, so every pixel outside ``InpaintResult.region`` equals the input
    bit for bit, at any size and mode, over any number of edits.

    Attributes:
        name: the engine (one of :data:`ENGINES`), recorded in provenance.
        family: its model's ``ModelSpec.family``.
        resolution: native longer side in pixels (512 for SD 1.5, 1024 for SDXL and FLUX.2 klein).
        multiple: the size grid: working sides are multiples of this (8 for SD, 16 for FLUX.2).
        references: whether :meth:`inpaint` takes a ``reference`` image.
    """

    name: str
    family: str
    resolution: int
    multiple: int
    references: bool

    def inpaint(self, image: Image.Image, mask: np.ndarray, prompt: str, *, negative_prompt: str = "",
                reference: Image.Image | None = None, seed: int = 0, steps: int = 30,
                guidance_scale: float | None = None, strength: float = 1.0, dilate_px: int | None = None,
                feather_px: int | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> InpaintResult:
        """Repaint ``mask`` (grown by ``dilate_px``) to match ``prompt``; leave every other pixel alone.

        Args:
            image: PIL, any size and mode (the result is RGB).
            mask: bool HxW, True where to repaint.
            prompt: what the region should show.
            negative_prompt: what it should not show (engines without one ignore it).
            reference: an image whose look or object the region should take ("make the cup look
                like this"); InvalidInputError on an engine whose ``references`` is False.
            seed: equal arguments give an equal image.
            steps: denoising steps; guidance_scale: text guidance (None: the engine's default).
            strength: how far to move from the input, in (0, 1].
            dilate_px, feather_px: grow the mask, soften its edge inside the grown mask (None: defaults).
            progress: told (0, total) before the model runs, then (step, total) after each step.
            cancel: when set, the call stops after the current step and raises Cancelled.
        """
        ...


def check_reference(reference: Image.Image | None, engine: RepaintEngine | None = None) -> Image.Image | None:
    """A reference image as PIL RGB (alpha dropped), None kept.

    Raises:
        InvalidInputError: not a non-empty PIL image, or ``engine`` takes no reference images.
    """
    if reference is None:
        return None
    if not isinstance(reference, Image.Image) or reference.width < 1 or reference.height < 1:
        raise InvalidInputError(f"reference must be a non-empty PIL image, got {reference!r}")
    if engine is not None and not engine.references:
        raise InvalidInputError(f"the {engine.name} engine cannot use a reference image; choose the flux2-klein "
                                f"engine (--engine flux2-klein) for edits from a reference")
    return reference if reference.mode == "RGB" else reference.convert("RGB")

