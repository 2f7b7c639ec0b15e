"""Picking among detections: spatial selectors on boxes, and parsing answers to "which one?".

Everything here is deterministic geometry on XYXY pixel boxes; no model is involved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from tools.boxes import Box, box_area, box_center, outer_box


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


# -- answers to a clarification question -------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """A parsed answer to "which one?".

    Attributes:
        kind: ``pick`` (the candidates at ``indices``), ``all``, or ``cancel``.
        indices: 0-based indices into the candidates, for ``pick``.
    """

    kind: Literal["pick", "all", "cancel"]
    indices: tuple[int, ...] = ()


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10}
_SPATIAL_WORDS = {
    "left": "leftmost", "leftmost": "leftmost", "rightmost": "rightmost", "right": "rightmost",
    "top": "topmost", "topmost": "topmost", "upper": "topmost", "higher": "topmost", "highest": "topmost",
    "bottom": "bottommost", "bottommost": "bottommost", "lower": "bottommost", "lowest": "bottommost",
    "biggest": "largest", "largest": "largest", "bigger": "largest", "larger": "largest", "big": "largest",
    "large": "largest", "smallest": "smallest", "smaller": "smallest", "small": "smallest",
    "middle": "center", "center": "center", "centre": "center", "central": "center",
}
_ALL = {"all", "both", "every", "each", "everything", "everyone"}
_CANCEL = {"cancel", "nevermind", "never", "none", "neither", "stop", "abort", "forget", "nothing", "no", "nope"}
_FILLER = {"the", "one", "ones", "please", "number", "nr", "num", "option", "candidate", "box", "on", "side",
           "i", "mean", "meant", "want", "wanted", "pick", "choose", "take", "that", "this", "is", "it", "a",
           "of", "them", "and", "or", "to", "in", "at", "mind", "mean", "thing", "item", "object", "just",
           "only", "corner", "image", "picture", "photo", "thanks", "thank", "you", "most", "hand", "go",
           "with", "let", "s", "do", "yes", "ok", "okay"}


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("never mind", "nevermind").replace("centre", "center")
    return re.findall(r"\d+(?:st|nd|rd|th)?|[a-z]+", text)


def _number(token: str) -> int | None:
    m = re.fullmatch(r"(\d+)(?:st|nd|rd|th)?", token)
    if m:
        digits = m.group(1).lstrip("0") or "0"
        # No candidate list is that long; int() of thousands of digits would raise, so such a token is unclear.
        return int(digits) if len(digits) <= 6 else None
    return _ORDINALS.get(token) or (_NUMBERS.get(token) if token != "one" else None)


def parse_answer(value: str | int, boxes: Sequence[Sequence[float]], *,
                 image_size: tuple[int, int] | None = None) -> Choice | None:
    """Understand an answer to "which one?" about numbered candidates.

    Accepts a number (``2``, ``"#2"``, ``"number 2"``, ``"1 and 3"``), an ordinal (``"the second"``,
    ``"2nd"``, ``"the last one"``), a position (``"the left one"``, ``"right"``, ``"top"``,
    ``"biggest"``, ``"the middle one"``, ``"top left"``, ``"second from the right"``), ``"all"`` /
    ``"both"``, or ``"cancel"`` / ``"never mind"``.

    Args:
        value: the user's answer.
        boxes: the candidates' XYXY boxes, in their numbering order (candidate 1 first).
        image_size: (width, height), for "middle".

    Returns:
        The choice, or None when the answer names no candidate (out of range, unclear, contradictory).
    """
    count = len(boxes)
    if isinstance(value, bool) or count == 0:
        return None
    if isinstance(value, int):
        return Choice("pick", (value - 1,)) if 1 <= value <= count else None
    tokens = _tokens(str(value))
    # "number one" / "option one": here "one" is a number, not "the left one"
    tokens = ["1" if t == "one" and i and tokens[i - 1] in ("number", "option", "candidate", "box", "nr")
              else t for i, t in enumerate(tokens)]
    if not tokens:
        return None
    words = set(tokens)
    if words & _CANCEL and not any(_number(t) for t in tokens):
        return Choice("cancel")
    if words & _ALL:
        return Choice("all")

    items = [_Boxed(tuple(map(float, b))) for b in boxes]
    # "second from the left" / "2nd from right"
    if "from" in words:
        i = tokens.index("from")
        before = [_number(t) for t in tokens[:i] if _number(t)]
        after = [_SPATIAL_WORDS.get(t) for t in tokens[i + 1:] if _SPATIAL_WORDS.get(t)]
        if len(before) == 1 and len(after) == 1 and after[0] in ("leftmost", "rightmost"):
            chosen = select(items, "nth_from_left" if after[0] == "leftmost" else "nth_from_right",
                            n=before[0])
            return Choice("pick", (items.index(chosen[0]),)) if chosen else None
        return None

    numbers = [n for n in (_number(t) for t in tokens) if n]
    if "last" in words:
        numbers.append(count)
    spatial = [_SPATIAL_WORDS[t] for t in tokens if t in _SPATIAL_WORDS]
    unknown = [t for t in tokens if t not in _FILLER and t not in _SPATIAL_WORDS and t != "last"
               and not _number(t) and not (t == "no" and numbers)]
    if unknown:
        return None

    by_place: int | None = None
    if spatial:
        by_place = _place(items, spatial, image_size)
        if by_place is None:
            return None
    if numbers:
        if any(not 1 <= n <= count for n in numbers):
            return None
        picked = tuple(dict.fromkeys(n - 1 for n in numbers))
        if by_place is not None and picked != (by_place,):
            return None                      # "number 1, the right one" when 1 is on the left: ask again
        return Choice("pick", picked)
    if by_place is not None:
        return Choice("pick", (by_place,))
    return None


@dataclass(frozen=True)
class _Boxed:
    box: Box


def _place(items: list[_Boxed], spatial: list[str], image_size: tuple[int, int] | None) -> int | None:
    """Index of the box a set of position words points at ("top left" → nearest the top-left corner)."""
    kinds = list(dict.fromkeys(spatial))
    if len(kinds) == 1:
        return items.index(_pick(items, kinds[0], image_size))
    horizontal = [k for k in kinds if k in ("leftmost", "rightmost")]
    vertical = [k for k in kinds if k in ("topmost", "bottommost")]
    if len(kinds) == 2 and len(horizontal) == 1 and len(vertical) == 1:
        x0, y0, x1, y1 = outer_box([b.box for b in items])
        corner = (x0 if horizontal[0] == "leftmost" else x1, y0 if vertical[0] == "topmost" else y1)
        return min(range(len(items)), key=lambda i: math.dist(box_center(items[i].box), corner))
    return None
