"""Picking among detections: spatial selectors on boxes (answers to "which one?" are read in
:mod:`agent.graph.commands`).

Everything here is deterministic geometry on XYXY pixel boxes; no model is involved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, TypeVar

from tools.boxes import box_area, box_center, outer_box


class HasBox(Protocol):
    """Anything with a ``box`` (a :class:`tools.grounding.Detection`, a candidate record...)."""

    @property
    def box(self) -> Sequence[float]: ...


D = TypeVar("D", bound=HasBox)

SPATIAL = ("leftmost", "rightmost", "topmost", "bottommost", "largest", "smallest", "center")
"""Selectors that pick one box by geometry alone."""


def reading_order(items: Sequence[D]) -> list[D]:
    """Items sorted left to right (then top to bottom): the order candidates are numbered in."""
    return sorted(items, key=lambda d: (box_center(d.box)[0], box_center(d.box)[1]))


def _pick(items: Sequence[D], word: str, image_size: tuple[int, int] | None) -> D:
    keys = {
        "leftmost": lambda d: box_center(d.box)[0],
        "rightmost": lambda d: -box_center(d.box)[0],
        "topmost": lambda d: box_center(d.box)[1],
        "bottommost": lambda d: -box_center(d.box)[1],
        "largest": lambda d: -box_area(d.box),
        "smallest": lambda d: box_area(d.box),
    }
    if word == "center":
        cx, cy = _frame_center(items, image_size)
        return min(items, key=lambda d: math.dist(box_center(d.box), (cx, cy)))
    # min() keeps the first of equal keys: items come best-score first, so ties go to the better detection.
    return min(items, key=keys[word])


def _frame_center(items: Sequence[HasBox], image_size: tuple[int, int] | None) -> tuple[float, float]:
    if image_size is not None:
        return image_size[0] / 2.0, image_size[1] / 2.0
    return box_center(outer_box([d.box for d in items]))


def select(items: Sequence[D], selector: str | None, *, n: int | None = None,
           image_size: tuple[int, int] | None = None) -> list[D]:
    """Apply a plan's spatial selector to detections.

    Args:
        items: detections (anything with an XYXY ``box``), best score first.
        selector: one of :data:`agent.graph.plan.Selector`, or None (keep all: the caller decides).
        n: the 1-based index for ``nth_from_left`` / ``nth_from_right``.
        image_size: (width, height), for ``center`` (None: the centre of the boxes' extent).

    Returns:
        The chosen items: one for a spatial selector, all for ``all``/None, none when ``n`` is past
        the end or there is nothing to choose from.
    """
    if not items:
        return []
    if selector in (None, "all"):
        return list(items)
    if selector in SPATIAL:
        return [_pick(items, selector, image_size)]
    if selector in ("nth_from_left", "nth_from_right"):
        if n is None or n < 1:
            raise ValueError(f"selector {selector} needs n >= 1, got {n}")
        ordered = reading_order(items)
        if selector == "nth_from_right":
            ordered = ordered[::-1]
        return [ordered[n - 1]] if n <= len(ordered) else []
    raise ValueError(f"unknown selector {selector!r}; expected one of {', '.join(SPATIAL)}, "
                     "nth_from_left, nth_from_right, all")
