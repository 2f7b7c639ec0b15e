"""The repaint engine interface, and the one crop → repaint → exact composite path every engine goes through."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from tools import masks
from tools.diffusion_utils import check_int, check_range, native_size
from tools.errors import Cancelled, InvalidInputError
from tools.inpainting import InpaintResult, check_mask, context_crop, default_dilation, local_dilate

Progress = Callable[[int, int], None]

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


Painter = Callable[[Image.Image, Image.Image], Image.Image]
"""Paints one working window: (RGB window, L mask with 255 = repaint) → RGB image of the same size."""


def repaint(image: Image.Image, mask: np.ndarray, paint: Painter, *, resolution: int, multiple: int,
            dilate_px: int | None = None, feather_px: int | None = None,
            cancel: threading.Event | None = None) -> InpaintResult:
    """Crop a window around ``mask`` at native size, let ``paint`` repaint it, composite it back exactly.

    The window is the dilated mask's box plus context (:func:`tools.inpainting.context_crop`), resized
    so its longer side is ``resolution`` and both sides are multiples of ``multiple``. Any coverage of
    a working pixel counts as masked, so the model repaints all of the region; the painted window is
    resized back, feathered inside the region and pasted through :func:`tools.masks.composite`.

    Args:
        image: PIL RGB.
        mask: bool HxW, already checked.
        paint: the engine's model call on the working window.
        resolution: the engine's native longer side; multiple: its size grid.
        dilate_px: grow the mask first (None: :func:`tools.inpainting.default_dilation`).
        feather_px: soft edge inside the grown mask (None: ``dilate_px``).

    Returns:
        InpaintResult; ``seed`` is 0 (the caller sets it).
    """
    if dilate_px is None:
        dilate_px = default_dilation(mask)
    check_int("dilate_px", dilate_px, 0, 10_000)
    if feather_px is None:
        feather_px = dilate_px
    check_int("feather_px", feather_px, 0, 10_000)
    if cancel is not None and cancel.is_set():
        raise Cancelled("the repaint was cancelled; the image is unchanged")
    region = local_dilate(mask, dilate_px)
    x0, y0, x1, y1 = context_crop(region, resolution // 2)
    crop = image.crop((x0, y0, x1, y1))
    size = native_size(crop.size, resolution, multiple)
    working = crop.resize(size.size, Image.Resampling.LANCZOS)
    crop_mask = Image.fromarray(region[y0:y1, x0:x1].astype(np.uint8) * 255, "L")
    working_mask = crop_mask.resize(size.size, Image.Resampling.BOX).point(lambda v: 255 if v > 0 else 0)
    painted = paint(working, working_mask)
    if painted.mode != "RGB":
        painted = painted.convert("RGB")
    if painted.size != crop.size:
        painted = painted.resize(crop.size, Image.Resampling.LANCZOS)
    generated = image.copy()
    generated.paste(painted, (x0, y0))
    alpha = np.zeros(mask.shape, dtype=np.float32)
    alpha[y0:y1, x0:x1] = masks.feather(region[y0:y1, x0:x1], feather_px)
    result = masks.composite(image, generated, region=region, alpha=alpha)
    return InpaintResult(image=result, region=region, crop_box=(float(x0), float(y0), float(x1), float(y1)),
                         seed=0, dilate_px=int(dilate_px), feather_px=int(feather_px), working_size=size.size)


def check_call(image: Image.Image, mask: np.ndarray, prompt: str, *, seed: int, steps: int,
               strength: float) -> tuple[Image.Image, np.ndarray]:
    """The checks every engine makes first: the image as RGB and the mask as bool, or InvalidInputError."""
    if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
        raise InvalidInputError(f"image must be a non-empty PIL image, got {image!r}")
    image = image if image.mode == "RGB" else image.convert("RGB")
    m = check_mask(mask, image.size)
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be a string, got {prompt!r}")
    check_int("steps", steps, 1, 1000)
    check_range("strength", strength, 0.0, 1.0, open_low=True)
    check_int("seed", seed, 0, 2**63 - 1)
    if int(steps * strength) < 1:
        raise InvalidInputError(f"steps * strength must be at least 1 step, got {steps} * {strength}; "
                                f"raise steps or strength")
    return image, m
