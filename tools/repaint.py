"""The one crop → repaint → exact composite path every repaint engine (SD, SDXL, FLUX.2 klein) goes through."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tools import masks
from tools.boxes import Box
from tools.diffusion_utils import check_int, check_range, following_size, native_size
from tools.errors import Cancelled, InvalidInputError

WORKING = ("crop", "native")
"""Working sizes: ``crop`` follows the crop up to the model's native resolution (a small object is not
upscaled), ``native`` always brings the crop's longer side to it."""

Progress = Callable[[int, int], None]
"""Told (step, total) as a call runs."""

Painter = Callable[[Image.Image, Image.Image], Image.Image]
"""Paints one working window: (RGB window, L mask with 255 = repaint) → RGB image of the same size."""


@dataclass(frozen=True)
class InpaintResult:
    """One inpainting call's outcome.

    Attributes:
        image: PIL RGB at the input's full size.
        region: bool HxW, the dilated mask: exactly where pixels may differ from the input; every
            pixel outside it equals the input bit for bit.
        crop_box: XYXY pixels of the window the model saw (the region's box plus context).
        seed: the seed that reproduces it.
        dilate_px: how far the caller's mask was grown.
        feather_px: width of the soft edge blended inside ``region``.
        working_size: (width, height) the model ran at.
    """

    image: Image.Image
    region: np.ndarray
    crop_box: Box
    seed: int
    dilate_px: int = 0
    feather_px: int = 0
    working_size: tuple[int, int] = (0, 0)


def default_dilation(mask: np.ndarray) -> int:
    """Dilation radius that scales with the object: 5% of its size, 3 px to 2% of the image diagonal."""
    h, w = mask.shape
    cap = max(3, round(0.02 * math.hypot(w, h)))
    return int(min(cap, max(3, round(0.05 * math.sqrt(masks.area(mask))))))


def check_mask(mask: np.ndarray, size: tuple[int, int], what: str = "mask") -> np.ndarray:
    """``mask`` as bool HxW for an image of ``size`` (w, h), or InvalidInputError naming the problem."""
    if isinstance(mask, Image.Image) or not isinstance(mask, np.ndarray):
        raise InvalidInputError(f"{what} must be a bool HxW numpy array, got {type(mask).__name__}")
    if mask.shape != (size[1], size[0]):
        raise InvalidInputError(f"{what} shape {mask.shape} does not match the image's (h, w) {(size[1], size[0])}")
    m = mask if mask.dtype == bool else mask > 0
    if not m.any():
        raise InvalidInputError(f"{what} is empty (no pixel selected); select the region to edit first")
    return m


def local_dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """:func:`tools.masks.dilate` computed on the mask's neighbourhood only (same result, cheap on 12 MP)."""
    x0, y0, x1, y1 = (int(v) for v in masks.bbox(mask))
    h, w = mask.shape
    r0, r1, c0, c1 = max(0, y0 - px - 1), min(h, y1 + px + 1), max(0, x0 - px - 1), min(w, x1 + px + 1)
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = masks.dilate(mask[r0:r1, c0:c1], px)
    return out


def context_crop(region: np.ndarray, min_side: int, multiple: int = 1) -> tuple[int, int, int, int]:
    """A window around ``region`` with context: as square as the image allows, inside it, containing the region.

    Args:
        region: bool HxW, not empty.
        min_side: the window's side is at least this (where the image is that large).
        multiple: the side is rounded up to a multiple of this (where the image allows), so a window
            the model runs at its own size needs no resampling.

    Returns:
        (x0, y0, x1, y1) integers, x1/y1 exclusive.
    """
    h, w = region.shape
    x0, y0, x1, y1 = (int(v) for v in masks.bbox(region))
    longest = max(x1 - x0, y1 - y0)
    side = max(min_side, longest + 2 * max(16, longest // 4))
    side = -(-side // multiple) * multiple

    def span(lo: int, hi: int, limit: int) -> tuple[int, int]:
        size = min(side, limit)
        start = (lo + hi) // 2 - size // 2
        start = min(max(0, start), limit - size)
        return start, start + size

    (cx0, cx1), (cy0, cy1) = span(x0, x1, w), span(y0, y1, h)
    return cx0, cy0, cx1, cy1


def check_call(image: Image.Image, mask: np.ndarray, prompt: str, *, seed: int, steps: int, strength: float,
               negative_prompt: str = "") -> tuple[Image.Image, np.ndarray]:
    """The checks every engine makes first: the image as RGB and the mask as bool, or InvalidInputError."""
    if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
        raise InvalidInputError(f"image must be a non-empty PIL image, got {image!r}")
    image = image if image.mode == "RGB" else image.convert("RGB")
    m = check_mask(mask, image.size)
    if not isinstance(prompt, str) or not isinstance(negative_prompt, str):
        raise InvalidInputError(f"prompt and negative_prompt must be strings, got {prompt!r} and "
                                f"{negative_prompt!r}")
    check_int("steps", steps, 1, 1000)
    check_range("strength", strength, 0.0, 1.0, open_low=True)
    check_int("seed", seed, 0, 2**63 - 1)
    if int(steps * strength) < 1:
        raise InvalidInputError(f"steps * strength must be at least 1 step, got {steps} * {strength}; "
                                f"raise steps or strength")
    return image, m


@dataclass(frozen=True)
class Framing:
    """How an engine frames the window its model sees.

    Attributes:
        resolution: the model's native longer side in pixels.
        multiple: the size grid: working sides are multiples of this.
        context: the window's side is at least this share of ``resolution`` (where the image allows).
        snap: round the window's side up to ``multiple`` too (a window run at its own size is not resampled).
        working: ``native`` brings the window's longer side to ``resolution``; ``crop`` follows the
            window's own size up to it (:func:`tools.diffusion_utils.following_size`).
    """

    resolution: int
    multiple: int
    context: float = 0.5
    snap: bool = False
    working: str = "native"


def repaint(image: Image.Image, mask: np.ndarray, paint: Painter, framing: Framing, *, dilate_px: int | None = None,
            feather_px: int | None = None, cancel: threading.Event | None = None) -> InpaintResult:
    """Crop a window around ``mask``, let ``paint`` repaint it at the working size, composite it back exactly.

    The window is the dilated mask's box plus context (:func:`context_crop`), resized to the working
    size ``framing`` gives. Any coverage of a working pixel counts as masked, so the model repaints
    all of the region; the painted window is resized back, feathered inside the region and pasted
    through :func:`tools.masks.composite`: every pixel outside the region equals the input.

    Args:
        image: PIL RGB.
        mask: bool HxW, already checked.
        paint: the engine's model call on the working window.
        framing: the engine's window and working size.
        dilate_px: grow the mask first (None: :func:`default_dilation`).
        feather_px: soft edge inside the grown mask (None: ``dilate_px``).
        cancel: when already set, Cancelled is raised before anything runs.

    Returns:
        InpaintResult; ``seed`` is 0 (the caller sets it).
    """
    if dilate_px is None:
        dilate_px = default_dilation(mask)
    check_int("dilate_px", dilate_px, 0, 10_000)
    if feather_px is None:
        feather_px = dilate_px
    check_int("feather_px", feather_px, 0, 10_000)
    if framing.working not in WORKING:
        raise InvalidInputError(f"working size must be one of {', '.join(WORKING)}, got {framing.working!r}")
    if cancel is not None and cancel.is_set():
        raise Cancelled("the repaint was cancelled; the image is unchanged")
    region = local_dilate(mask, dilate_px)
    grid = framing.multiple
    x0, y0, x1, y1 = context_crop(region, int(framing.context * framing.resolution), grid if framing.snap else 1)
    crop = image.crop((x0, y0, x1, y1))
    sizing = native_size if framing.working == "native" else following_size
    size = sizing(crop.size, framing.resolution, grid)
    working = crop.resize(size.size, Image.Resampling.LANCZOS)
    crop_mask = Image.fromarray(region[y0:y1, x0:x1].astype(np.uint8) * 255, "L")
    working_mask = crop_mask.resize(size.size, Image.Resampling.BOX).point(lambda v: 255 if v > 0 else 0)
    painted = paint(working, working_mask)
    if painted.mode != "RGB":
        painted = painted.convert("RGB")
    if painted.size != crop.size:
        painted = painted.resize(crop.size, Image.Resampling.LANCZOS)
    # the region lies inside the window: composite the window alone (a 100 MP photo costs one copy, not five)
    inside = region[y0:y1, x0:x1]
    window = masks.composite(crop, painted, region=inside, alpha=masks.feather(inside, feather_px))
    result = image.copy()
    result.paste(window, (x0, y0))
    return InpaintResult(image=result, region=region, crop_box=(float(x0), float(y0), float(x1), float(y1)),
                         seed=0, dilate_px=int(dilate_px), feather_px=int(feather_px), working_size=size.size)
