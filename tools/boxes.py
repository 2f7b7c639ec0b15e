"""Box arithmetic on XYXY pixel boxes: validation, clipping to an image, scaling, the outer box, area, IoU, gaps."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tools.errors import InvalidInputError

Box = tuple[float, float, float, float]
"""XYXY in pixels of the image: x0, y0 inclusive, x1, y1 exclusive (a 1-pixel mask at (3, 4) is (3, 4, 4, 5))."""


def check_box(box: Sequence[float], what: str = "box") -> Box:
    """``box`` as four finite floats with x0 <= x1 and y0 <= y1.

    Args:
        box: four numbers (x0, y0, x1, y1).
        what: how the message names the box (``"box 2"``).

    Raises:
        InvalidInputError: not four numbers, not finite, or inverted.
    """
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{what} must be 4 numbers (x0, y0, x1, y1), got {box!r}") from e
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise InvalidInputError(f"{what} must be finite numbers, got {box!r}")
    if x1 < x0 or y1 < y0:
        raise InvalidInputError(f"{what} must have x0 <= x1 and y0 <= y1 (XYXY), got {box!r}")
    return (x0, y0, x1, y1)


def clamp_box(box: Sequence[float], size: tuple[int, int]) -> Box:
    """``box`` with each edge moved inside a ``size`` = (w, h) image; it may come out empty."""
    w, h = size
    x0, y0, x1, y1 = (float(v) for v in box)
    return (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))


def clip_box(box: Sequence[float], size: tuple[int, int]) -> Box | None:
    """``box`` clipped to a ``size`` = (w, h) image, or None when less than a pixel of it (across or down) is inside."""
    x0, y0, x1, y1 = clamp_box(box, size)
    return (x0, y0, x1, y1) if x1 - x0 >= 1 and y1 - y0 >= 1 else None


def scale_box(box: Sequence[float], factor: float, size: tuple[int, int]) -> Box:
    """``box`` scaled by ``factor`` around its centre, then clamped to a ``size`` = (w, h) image."""
    x0, y0, x1, y1 = box
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * factor / 2, (y1 - y0) * factor / 2
    return clamp_box((cx - hw, cy - hh, cx + hw, cy + hh), size)


def outer_box(boxes: Sequence[Sequence[float]]) -> Box | None:
    """The smallest box holding every box of ``boxes``; None for no boxes."""
    if not boxes:
        return None
    return (float(min(b[0] for b in boxes)), float(min(b[1] for b in boxes)),
            float(max(b[2] for b in boxes)), float(max(b[3] for b in boxes)))


def box_center(box: Sequence[float]) -> tuple[float, float]:
    """The (x, y) centre of a box."""
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def box_area(box: Sequence[float]) -> float:
    """Area in square pixels; 0 for an empty or inverted box."""
    x0, y0, x1, y1 = box
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes, in [0, 1] (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def overlap_spans(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """How far two boxes' spans overlap across and down, in pixels (0 where they are apart)."""
    return (max(0.0, min(a[2], b[2]) - max(a[0], b[0])), max(0.0, min(a[3], b[3]) - max(a[1], b[1])))


def box_gap(a: Sequence[float], b: Sequence[float]) -> float:
    """The distance between two boxes' nearest edges, in pixels (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)
