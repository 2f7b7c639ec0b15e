"""Checking a referent's attributes against candidate boxes: colours from the pixels, other words by detection.

A colour attribute ("red", "light blue") is confirmed from the candidate's own pixels: the median
colour of the middle half of its box (objects rarely fill their box; the middle is mostly object),
compared in CIE Lab with the named colour. Any other attribute ("black handle", "wooden") is
confirmed when a detection of the full phrase ("cup black handle") overlaps the candidate. An
attribute that no candidate can be confirmed for is reported back, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from agent.graph.referents import HasBox
from tools.boxes import iou

D = TypeVar("D", bound=HasBox)

HUE_DEGREES = 35.0
"""A chromatic colour matches when the box's hue is within this many degrees of the named colour's."""
MIN_CHROMA = 12.0
"""...and the box is at least this colourful (Lab chroma); below it a box reads as white, grey or black..."""
CHROMA_SHARE = 0.3
"""...and at least this share of the named colour's chroma (a greyish blue is not purple)."""
GREY_LIGHTNESS = 30.0
"""An achromatic colour (white, grey, black) matches a box of low chroma within this much Lab lightness."""
CLOSE_DELTA_E = 25.0
"""Any colour matches a box whose median is within this CIE76 distance of it, whatever the rules above say."""


@dataclass(frozen=True)
class Narrowed(Generic[D]):
    """What an attribute check kept.

    Attributes:
        kept: the candidates every confirmable attribute agrees with (all of them when none is confirmable).
        unconfirmed: the attributes no candidate could be confirmed for, in the user's words.
    """

    kept: list[D]
    unconfirmed: list[str] = field(default_factory=list)


def colour_target(attribute: str) -> tuple[float, float, float] | None:
    """The Lab colour an attribute names ("red", "dark blue"), or None when it is not one colour."""
    from tools.color import parse_color, rgb_to_lab
    from tools.errors import ChatEditError

    try:
        rgb = parse_color(attribute)
    except (ChatEditError, ValueError):
        return None
    lab = rgb_to_lab(np.asarray([rgb], dtype=np.uint8))[0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def box_colour(pixels: np.ndarray, box: Sequence[float]) -> tuple[float, float, float]:
    """The median Lab colour of the middle half of ``box`` (XYXY) in an RGB H×W×3 array."""
    from tools.color import rgb_to_lab

    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = x1 - x0, y1 - y0
    c0, c1 = max(0, int(x0 + bw / 4)), min(w, max(int(x0 + bw / 4) + 1, int(x1 - bw / 4)))
    r0, r1 = max(0, int(y0 + bh / 4)), min(h, max(int(y0 + bh / 4) + 1, int(y1 - bh / 4)))
    patch = pixels[r0:r1, c0:c1].reshape(-1, 3)
    if patch.size == 0:
        patch = pixels.reshape(-1, 3)
    lab = np.median(rgb_to_lab(patch.astype(np.uint8)).reshape(-1, 3), axis=0)
    return float(lab[0]), float(lab[1]), float(lab[2])


def colour_matches(seen: Sequence[float], named: Sequence[float]) -> bool:
    """Whether a box's Lab colour ``seen`` can be called the Lab colour ``named`` (see the constants)."""
    from tools.color import ACHROMATIC_CHROMA

    if math.dist(seen, named) <= CLOSE_DELTA_E:
        return True
    seen_c, named_c = math.hypot(seen[1], seen[2]), math.hypot(named[1], named[2])
    if named_c < ACHROMATIC_CHROMA:
        return seen_c < MIN_CHROMA * 1.5 and abs(seen[0] - named[0]) <= GREY_LIGHTNESS
    if seen_c < max(MIN_CHROMA, CHROMA_SHARE * named_c):
        return False
    turn = math.degrees(math.atan2(seen[2], seen[1]) - math.atan2(named[2], named[1]))
    return abs((turn + 180.0) % 360.0 - 180.0) <= HUE_DEGREES


def narrow(items: Sequence[D], phrase: str, attributes: Sequence[str], *, pixels: np.ndarray,
           detect: Callable[[str], Sequence[Any]], min_relative_score: float, min_iou: float) -> Narrowed[D]:
    """Keep the candidates that every attribute agrees with, attribute by attribute.

    Args:
        items: the candidates (anything with an XYXY ``box``), best first.
        phrase: the kind ("cup"), for the full-phrase detection of non-colour attributes.
        attributes: the user's words ("red", "black handle").
        pixels: the image being edited, RGB H×W×3.
        detect: phrase → detections (each with ``box`` and ``score``), best first.
        min_relative_score: detections of the full phrase below this share of its best score are ignored.
        min_iou: how much a candidate must overlap a full-phrase detection to be confirmed by it.

    Returns:
        The candidates left, and the attributes that no candidate could be confirmed for (those
        attributes narrow nothing).
    """
    kept = list(items)
    unconfirmed: list[str] = []
    words = [a.strip() for a in attributes if a.strip()]
    for attribute in words:
        target = colour_target(attribute)
        if target is not None:
            agree = [d for d in kept if colour_matches(box_colour(pixels, d.box), target)]
        else:
            found = list(detect(" ".join([phrase.strip(), attribute])))
            best = max((f.score for f in found), default=0.0)
            strong = [f for f in found if f.score >= min_relative_score * best]
            agree = [d for d in kept if any(iou(d.box, f.box) >= min_iou for f in strong)]
        if agree:
            kept = agree
        else:
            unconfirmed.append(attribute)
    return Narrowed(kept, unconfirmed)
