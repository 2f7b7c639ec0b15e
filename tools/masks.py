"""Mask operations on bool HxW masks, drawing helpers, and `composite`: the one paste-back of every edit."""

from __future__ import annotations

import colorsys
import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tools.boxes import Box, check_box
from tools.errors import InvalidInputError

logger = logging.getLogger(__name__)

# Up to this radius a morphology kernel is fastest; past it an exact distance transform is (12 MP: ~0.25 s at
# any radius). Both use the same disk (x^2 + y^2 <= px^2), so the result does not depend on the switch.
_KERNEL_MAX_PX = 12


def _mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as a bool HxW array, or raise InvalidInputError saying what was wrong."""
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L")) > 127
    if not isinstance(mask, np.ndarray):
        raise InvalidInputError(f"{name} must be a bool HxW numpy array, got {type(mask).__name__}")
    if mask.ndim != 2 or 0 in mask.shape:
        raise InvalidInputError(f"{name} must be a non-empty 2-D HxW array, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise InvalidInputError(f"{name} must be bool (or numeric, nonzero = inside), got dtype {mask.dtype}")
    return mask > 0


def _radius(px: float, what: str) -> int:
    if isinstance(px, bool) or not isinstance(px, (int, float, np.integer, np.floating)) or not math.isfinite(px):
        raise InvalidInputError(f"{what} radius must be a finite number of pixels, got {px!r}")
    if px < 0:
        raise InvalidInputError(f"{what} radius must be >= 0 pixels, got {px}")
    return int(round(px))


def _disk(px: int) -> np.ndarray:
    yy, xx = np.mgrid[-px : px + 1, -px : px + 1]
    return (xx * xx + yy * yy <= px * px).astype(np.uint8)


def _distance_to_false(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float32) from each True pixel to the nearest False pixel; 0 on False pixels.

    Pixels beyond the image border do not count as False, so a mask touching the border is not eroded there.
    """
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def dilate(mask: np.ndarray, px: float) -> np.ndarray:
    """Grow a mask by ``px`` pixels with a disk (circular ellipse) kernel.

    Args:
        mask: bool HxW.
        px: radius in pixels (rounded to an int); 0 returns a copy.

    Returns:
        bool HxW: every pixel within Euclidean distance ``px`` of ``mask``.
    """
    m = _mask(mask)
    r = _radius(px, "dilate")
    if r == 0 or not m.any():
        return m.copy()
    if r <= _KERNEL_MAX_PX:
        return cv2.dilate(m.astype(np.uint8), _disk(r)).astype(bool)
    return _distance_to_false(~m) <= r


def erode(mask: np.ndarray, px: float) -> np.ndarray:
    """Shrink a mask by ``px`` pixels with a disk kernel (the image border does not erode it).

    Args:
        mask: bool HxW.
        px: radius in pixels (rounded to an int); 0 returns a copy.

    Returns:
        bool HxW: the pixels of ``mask`` farther than ``px`` from every pixel outside it.
    """
    m = _mask(mask)
    r = _radius(px, "erode")
    if r == 0 or m.all():
        return m.copy()
    if r <= _KERNEL_MAX_PX:
        return cv2.erode(m.astype(np.uint8), _disk(r)).astype(bool)
    return _distance_to_false(m) > r


def feather(mask: np.ndarray, px: float) -> np.ndarray:
    """Soft alpha for blending: 1 deep inside ``mask``, ramping down towards its edge, exactly 0 outside it.

    Args:
        mask: bool HxW.
        px: width of the ramp in pixels; 0 gives the hard mask as 0/1.

    Returns:
        float32 HxW in [0, 1]: distance to the nearest outside pixel divided by ``px``, clipped. Edge pixels
        of the mask get 1/px, pixels ``px`` or more inside get 1; pixels outside ``mask`` are 0.0 exactly.
    """
    m = _mask(mask)
    r = float(_radius(px, "feather"))
    if r == 0 or not m.any():
        return m.astype(np.float32)
    alpha = _distance_to_false(m) / np.float32(r)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    alpha[~m] = 0.0
    return alpha.astype(np.float32, copy=False)


def union(*masks: np.ndarray) -> np.ndarray:
    """Pixels in any of the masks (all the same HxW); raises InvalidInputError on no masks or mixed shapes."""
    if not masks:
        raise InvalidInputError("union needs at least one mask, got none")
    ms = [_mask(m, f"mask {i + 1}") for i, m in enumerate(masks)]
    shapes = {m.shape for m in ms}
    if len(shapes) > 1:
        raise InvalidInputError(f"union needs masks of one shape, got {sorted(shapes)}")
    out = ms[0].copy()
    for m in ms[1:]:
        out |= m
    return out


def invert(mask: np.ndarray) -> np.ndarray:
    """The pixels not in ``mask`` (bool HxW)."""
    return ~_mask(mask)


def area(mask: np.ndarray) -> int:
    """Number of True pixels."""
    return int(np.count_nonzero(_mask(mask)))


def bbox(mask: np.ndarray) -> Box | None:
    """Tight XYXY box of the True pixels (x1, y1 exclusive, as floats), or None for an empty mask."""
    m = _mask(mask)
    cols = np.flatnonzero(m.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(m.any(axis=1))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def box_mask(box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Mask of every pixel a box touches, clipped to the image.

    Args:
        box: XYXY pixels; fractional edges cover each pixel they touch (floor x0/y0, ceil x1/y1).
        shape: (h, w) of the image.

    Returns:
        bool HxW; empty when the box lies wholly outside the image.
    """
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"shape must be (h, w), got {shape!r}") from e
    if h <= 0 or w <= 0:
        raise InvalidInputError(f"shape must be positive (h, w), got {shape!r}")
    x0, y0, x1, y1 = check_box(box)
    out = np.zeros((h, w), dtype=bool)
    c0, r0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    c1, r1 = min(w, math.ceil(x1)), min(h, math.ceil(y1))
    if c1 > c0 and r1 > r0:
        out[r0:r1, c0:c1] = True
    return out


def near_box(mask: np.ndarray, box: Box, margin: float = 0.1) -> np.ndarray:
    """The mask kept within its box grown by ``margin`` of its size (at least 2 px); the box itself if nothing is left.

    A box prompt says the object lies inside the box: a stray segmentation blob elsewhere in the
    photo must never be edited, and a step must never edit nothing.
    """
    mask = _mask(mask)
    x0, y0, x1, y1 = check_box(box)
    dx, dy = max(2.0, (x1 - x0) * margin), max(2.0, (y1 - y0) * margin)
    kept = mask & box_mask((x0 - dx, y0 - dy, x1 + dx, y1 + dy), mask.shape)
    return kept if kept.any() else box_mask((x0, y0, x1, y1), mask.shape)


def _rgb_array(image: Image.Image | np.ndarray, name: str) -> np.ndarray:
    """uint8 HxWx3 array of an RGB image (PIL in any mode is converted to RGB)."""
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    raise InvalidInputError(f"{name} must be a PIL RGB image (or uint8 HxWx3 array), got {type(image).__name__}"
                            f"{' with shape ' + str(image.shape) if isinstance(image, np.ndarray) else ''}")


def box_colors(n: int) -> list[tuple[int, int, int]]:
    """The colours of boxes 1..``n`` in :func:`annotate`: distinct and saturated (golden-ratio hue steps, so
    neighbours differ most). Interfaces use them for swatches that match the drawn boxes."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((0.02 + i * 0.618034) % 1.0, 0.85, 1.0)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def annotate(image: Image.Image, boxes: Sequence[Box], labels: Sequence[str] | None = None) -> Image.Image:
    """Draw numbered boxes (1..N) with a tag "N label" for a user to pick from.

    Line width and font size scale with the image, so tags are readable on thumbnails and 4000 px photos.

    Args:
        image: PIL image (any mode; drawn on an RGB copy).
        boxes: XYXY pixel boxes; parts outside the image are clipped.
        labels: optional text per box, shown after its number.

    Returns:
        A new RGB image of the same size; pixels away from the boxes and their tags are unchanged.
    """
    if not isinstance(image, Image.Image):
        raise InvalidInputError(f"image must be a PIL image, got {type(image).__name__}")
    boxes = [check_box(b, f"box {i + 1}") for i, b in enumerate(boxes)]
    if labels is not None and len(labels) != len(boxes):
        raise InvalidInputError(f"labels must match boxes one to one, got {len(labels)} labels for {len(boxes)} boxes")
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    w, h = out.size
    short = min(w, h)
    lw = max(1, round(short / 250))
    font = ImageFont.load_default(size=max(8, round(short / 28)))
    draw = ImageDraw.Draw(out)
    for i, ((x0, y0, x1, y1), color) in enumerate(zip(boxes, box_colors(len(boxes)), strict=True)):
        # clip to the image (x1/y1 exclusive: the last drawable pixel is x1 - 1)
        x0, x1 = min(max(x0, 0.0), w - 1.0), min(max(x1 - 1, 0.0), w - 1.0)
        y0, y1 = min(max(y0, 0.0), h - 1.0), min(max(y1 - 1, 0.0), h - 1.0)
        draw.rectangle((x0, y0, max(x0, x1), max(y0, y1)), outline=color, width=lw)
        text = str(i + 1) if labels is None or not str(labels[i]).strip() else f"{i + 1} {labels[i]}"
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), text, font=font)
        pad = max(1, lw)
        tw, th = tx1 - tx0 + 2 * pad, ty1 - ty0 + 2 * pad
        # the tag sits on the box's top-left corner: above it when there is room, else just inside
        left = min(x0, max(0.0, w - tw))
        top = y0 - th if y0 - th >= 0 else y0
        draw.rectangle((left, top, left + tw - 1, top + th - 1), fill=color)
        ink = (0, 0, 0) if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140 else (255, 255, 255)
        draw.text((left + pad - tx0, top + pad - ty0), text, fill=ink, font=font)
    return out


def overlay(image: Image.Image, mask: np.ndarray, color: tuple[int, int, int] = (255, 64, 64),
            opacity: float = 0.45) -> Image.Image:
    """Tint the masked pixels with ``color`` at ``opacity`` (to show a user what an edit will touch).

    Returns:
        A new RGB image; pixels outside ``mask`` are unchanged.
    """
    arr = _rgb_array(image, "image")
    m = _mask(mask)
    if m.shape != arr.shape[:2]:
        raise InvalidInputError(f"mask shape {m.shape} does not match the image's (h, w) {arr.shape[:2]}")
    if not 0.0 <= float(opacity) <= 1.0:
        raise InvalidInputError(f"opacity must be in [0, 1], got {opacity}")
    if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
        raise InvalidInputError(f"color must be an (r, g, b) triple of 0..255, got {color!r}")
    out = arr.copy()
    tint = np.asarray(color, dtype=np.float32)
    out[m] = np.rint(opacity * tint + (1.0 - opacity) * arr[m].astype(np.float32)).astype(np.uint8)
    return Image.fromarray(out)


def composite(original: Image.Image, generated: Image.Image, region: np.ndarray,
              alpha: np.ndarray | None = None) -> Image.Image:
    """Paste ``generated`` onto ``original`` inside ``region``: THE one place edits are applied.

    Args:
        original: the image before the edit (PIL RGB, W x H).
        generated: the model's output at the same size (PIL RGB, W x H); never resized here.
        region: bool HxW, where pixels may change.
        alpha: optional float HxW in [0, 1] (e.g. `feather`); None means 1 everywhere in ``region``.
            Values outside ``region`` are ignored.

    Returns:
        PIL RGB: bit-identical to ``original`` outside ``region``; inside it
        round(alpha * generated + (1 - alpha) * original) as uint8.

    Raises:
        InvalidInputError: sizes or shapes disagree, or alpha is outside [0, 1].
    """
    orig = _rgb_array(original, "original")
    gen = _rgb_array(generated, "generated")
    if gen.shape != orig.shape:
        raise InvalidInputError(f"generated image (h, w) {gen.shape[:2]} does not match the original's "
                                f"{orig.shape[:2]}; resize it to the original's size first")
    m = _mask(region, "region")
    if m.shape != orig.shape[:2]:
        raise InvalidInputError(f"region shape {m.shape} does not match the original image's (h, w) {orig.shape[:2]}")
    out = orig.copy()
    box = bbox(m)
    if box is None:
        return Image.fromarray(out)
    # work on the region's bounding box only: an object on a 12 MP photo costs its own size, not the photo's
    c0, r0, c1, r1 = (int(v) for v in box)
    mc = m[r0:r1, c0:c1]
    dst = out[r0:r1, c0:c1]
    if alpha is None:
        np.copyto(dst, gen[r0:r1, c0:c1], where=mc[..., None])
        return Image.fromarray(out)
    a = np.asarray(alpha)
    if a.shape != m.shape:
        raise InvalidInputError(f"alpha shape {a.shape} does not match region shape {m.shape}")
    ac = np.where(mc, a[r0:r1, c0:c1], 0.0).astype(np.float32)
    if not (np.isfinite(ac).all() and ac.min() >= 0.0 and ac.max() <= 1.0):
        inside = a[m]
        raise InvalidInputError(f"alpha must be in [0, 1] inside the region, got values in "
                                f"[{np.nanmin(inside):.3g}, {np.nanmax(inside):.3g}]")
    ac = ac[..., None]
    blend = ac * gen[r0:r1, c0:c1].astype(np.float32) + (1.0 - ac) * dst.astype(np.float32)
    np.copyto(dst, np.clip(np.rint(blend), 0, 255).astype(np.uint8), where=mc[..., None])
    return Image.fromarray(out)
