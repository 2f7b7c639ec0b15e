"""How boxes stand to each other: relations between referents, ranking by a selector, and where an added object goes.

Everything here is deterministic geometry on XYXY pixel boxes (y grows downwards); no model is
involved. The rules, for a candidate box C and an anchor box A:

- ``left_of`` / ``right_of``: C's centre lies on that side of A's centre and at most half of C's
  width lies within A's horizontal span. Candidates that also share some vertical span with A are
  preferred; only when none does are the others (on the right side, at any height) kept.
- ``above`` / ``below``: the same, turned a quarter: C's centre above (below) A's centre, at most half
  of C's height within A's vertical span; sharing some horizontal span is preferred.
- ``next_to``: C and A share some vertical span and the horizontal gap between them is at most half
  the wider box's width, with at most half of the narrower box inside the other across; when no
  candidate is that close, the single nearest candidate (by the gap between the boxes).
- ``on``: C's centre lies within A's horizontal span, C's bottom edge lies between a little above A's
  top edge (a tenth of C's height) and three quarters of the way down A, and C's centre is above A's
  centre (a cup on a table, a dog on a sofa: the thing on top stands on the anchor's upper part).
- ``in``: at least 60% of C's area lies inside A, and C is smaller than A.
- ``in_front_of`` / ``behind``: C and A overlap, and C's bottom edge is lower (higher) than A's: in a
  photo the nearer of two overlapping things usually stands lower in the frame.

A candidate that is the anchor itself (IoU at least 0.8 with it) never stands in a relation to it.
With several anchors a candidate qualifies when the relation holds to any of them (the caller
narrows the anchors first when the user said which). Kept candidates come nearest first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TypeVar

from agent.graph.referents import HasBox, reading_order
from tools.boxes import Box, box_area, box_center, box_gap, clamp_box, iou, overlap_spans

D = TypeVar("D", bound=HasBox)

BESIDE = frozenset({"next_to", "left_of", "right_of", "above", "below"})
"""Places an added object goes beside its referent (never over it); ``on``/``in`` paint inside its box."""

WORDS = {"left_of": "left of", "right_of": "right of", "above": "above", "below": "below", "next_to": "next to",
         "on": "on", "in": "in", "in_front_of": "in front of", "behind": "behind"}
"""Each relation as a reply says it ("the cup left of the plate", "added a bird next to the rocket")."""

SAME = 0.8
"""IoU at which a candidate counts as the anchor itself."""

MIN_SIDE = 4
"""An added object's box is at least this many pixels across and down, or there is no room for it."""


def holds(relation: str, c: Sequence[float], a: Sequence[float], *, strict: bool = True) -> bool:
    """Whether box ``c`` stands in ``relation`` to box ``a`` (the module docstring gives the rules).

    ``strict`` False drops the preference of the directional relations (the shared span) and of
    ``next_to`` (the closeness): only the side is checked.
    """
    if iou(c, a) >= SAME:
        return False
    cw, ch, aw, ah = c[2] - c[0], c[3] - c[1], a[2] - a[0], a[3] - a[1]
    (cx, cy), (ax, ay) = box_center(c), box_center(a)
    hx, vy = overlap_spans(c, a)
    if relation in ("left_of", "right_of"):
        side = cx < ax if relation == "left_of" else cx > ax
        return side and hx <= 0.5 * cw and (vy > 0 or not strict)
    if relation in ("above", "below"):
        side = cy < ay if relation == "above" else cy > ay
        return side and vy <= 0.5 * ch and (hx > 0 or not strict)
    if relation == "next_to":
        if not strict:
            return True
        apart = max(c[0], a[0]) - min(c[2], a[2])            # negative when they overlap across
        return vy > 0 and apart <= 0.5 * max(cw, aw) and hx <= 0.5 * min(cw, aw)
    if relation == "on":
        return a[0] <= cx <= a[2] and a[1] - 0.1 * ch <= c[3] <= a[1] + 0.75 * ah and cy < ay
    if relation == "in":
        return box_area(c) > 0 and hx * vy >= 0.6 * box_area(c) and box_area(c) < box_area(a)
    if relation in ("in_front_of", "behind"):
        return hx > 0 and vy > 0 and (c[3] > a[3] if relation == "in_front_of" else c[3] < a[3])
    raise ValueError(f"unknown relation {relation!r}")


def related(items: Sequence[D], anchors: Sequence[Sequence[float]], relation: str) -> list[D]:
    """The items standing in ``relation`` to any of ``anchors``, nearest first.

    The directional relations fall back to their loose form, and ``next_to`` to the one nearest
    item, only when no item meets the strict form (see the module docstring).
    """
    if not anchors:
        return []

    def distance(d: D) -> tuple[float, float]:
        return min((box_gap(d.box, a), math.dist(box_center(d.box), box_center(a))) for a in anchors)

    kept = [d for d in items if any(holds(relation, d.box, a) for a in anchors)]
    if not kept and relation != "next_to":
        kept = [d for d in items if any(holds(relation, d.box, a, strict=False) for a in anchors)]
    elif not kept:
        others = [d for d in items if all(iou(d.box, a) < SAME for a in anchors)]
        kept = sorted(others, key=distance)[:1]
    return sorted(kept, key=distance)


def ranked(items: Sequence[D], selector: str, image_size: tuple[int, int] | None = None) -> list[D]:
    """Items in the order a spatial selector prefers them: leftmost first for ``leftmost``, and so on.

    ``center`` ranks by distance to the image centre (or, without ``image_size``, to the centre of
    the boxes' extent); ``all`` and None keep reading order (left to right).
    """
    def key(d: D) -> float:
        x, y = box_center(d.box)
        if selector == "leftmost":
            return x
        if selector == "rightmost":
            return -x
        if selector == "topmost":
            return y
        if selector == "bottommost":
            return -y
        if selector == "largest":
            return -box_area(d.box)
        if selector == "smallest":
            return box_area(d.box)
        if image_size is not None:
            return math.dist((x, y), (image_size[0] / 2, image_size[1] / 2))
        x0, y0 = min(b.box[0] for b in items), min(b.box[1] for b in items)
        x1, y1 = max(b.box[2] for b in items), max(b.box[3] for b in items)
        return math.dist((x, y), ((x0 + x1) / 2, (y0 + y1) / 2))

    if selector in (None, "all"):
        return reading_order(items)
    if selector not in ("leftmost", "rightmost", "topmost", "bottommost", "largest", "smallest", "center"):
        raise ValueError(f"selector {selector!r} does not rank boxes")
    return sorted(items, key=key)        # stable: among equals the better-scoring detection stays first


# -- where an added object goes ------------------------------------------------------------------

_SMALL = re.compile(r"\b(small|little|tiny|mini|miniature|baby)\b", re.IGNORECASE)
_BIG = re.compile(r"\b(big|large|huge|giant|enormous|tall)\b", re.IGNORECASE)


def clearance(image_size: tuple[int, int]) -> int:
    """The gap kept between an added object's box and its referent's, in pixels.

    The inpainter grows a mask by at most 2% of the image diagonal (at least 3 px) before painting
    (:func:`tools.inpainting.default_dilation`); two pixels more keep that growth off the referent.
    """
    w, h = image_size
    return max(3, round(0.02 * math.hypot(w, h))) + 2


def object_scale(content: str) -> float:
    """How large an added object is against its referent, from the content's size words."""
    if _SMALL.search(content):
        return 0.5
    if _BIG.search(content):
        return 1.0
    return 0.8


def beside(anchor: Sequence[float], place: str, image_size: tuple[int, int], *, scale: float = 0.8,
           gap_px: int | None = None) -> Box | None:
    """The box for a new object placed beside ``anchor`` (XYXY), never overlapping it.

    The box is ``scale`` times the anchor's size (shrunk, keeping its shape, to the room there is),
    ``gap_px`` (default :func:`clearance`) away from the anchor and inside the image. Left and right
    of it, the new box stands on the anchor's bottom edge (the same ground); above and below it, the
    box is centred on the anchor across. ``next_to`` takes the side (left or right) with more room.

    Args:
        anchor: the referent's box.
        place: one of :data:`BESIDE`.
        image_size: (width, height).

    Returns:
        The new box in whole pixels, or None when there is less than :data:`MIN_SIDE` pixels of room
        on that side.
    """
    if place not in BESIDE:
        raise ValueError(f"place {place!r} is not beside; expected one of {', '.join(sorted(BESIDE))}")
    w, h = image_size
    ax0, ay0, ax1, ay1 = clamp_box(anchor, image_size)
    g = clearance(image_size) if gap_px is None else gap_px
    rooms = {"left_of": ax0 - g, "right_of": w - ax1 - g, "above": ay0 - g, "below": h - ay1 - g}
    if place == "next_to":
        place = "left_of" if rooms["left_of"] > rooms["right_of"] else "right_of"
    room = rooms[place]
    if room < MIN_SIDE:
        return None
    bw, bh = max(1.0, (ax1 - ax0) * scale), max(1.0, (ay1 - ay0) * scale)
    across = place in ("left_of", "right_of")
    f = min(1.0, room / bw if across else w / bw, h / bh if across else room / bh)
    bw, bh = max(MIN_SIDE, math.floor(bw * f)), max(MIN_SIDE, math.floor(bh * f))
    if across:
        x0 = math.floor(ax0 - g) - bw if place == "left_of" else math.ceil(ax1 + g)
        y1 = min(h, max(bh, round(ay1)))
        return (float(x0), float(y1 - bh), float(x0 + bw), float(y1))
    y0 = math.floor(ay0 - g) - bh if place == "above" else math.ceil(ay1 + g)
    x0 = min(max(0, round((ax0 + ax1) / 2 - bw / 2)), w - bw)
    return (float(x0), float(y0), float(x0 + bw), float(y0 + bh))
