"""What an answer means among a question's candidates: the boxes it names (:func:`resolve`), a click's
candidate (:func:`pick_pointed`), and how to say the forms an answer may take (:func:`forms`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from agent.graph.answers import Answer
from agent.graph.items import Item, Side, Unclear, quote
from agent.graph.moves import NUMBER_WORDS
from tools.boxes import box_area, box_center, outer_box

Box = Sequence[float]
ColourOf = Callable[[Box], tuple[float, float, float]]
"""A box's typical colour in Lab (the median of its middle), for "the red one"."""


@dataclass(frozen=True)
class Resolved:
    """What an answer means: the boxes to act on, a cancel, or (``boxes`` empty) a clause saying why not."""

    kind: Literal["pick", "all", "cancel", "unclear"]
    boxes: tuple[tuple[float, ...], ...] = ()
    why: str = ""


@dataclass
class _Pool:
    boxes: list[tuple[float, ...]]
    size: tuple[int, int] | None
    colour_of: ColourOf | None
    colours: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    def lab(self, i: int) -> tuple[float, float, float]:
        if i not in self.colours:
            assert self.colour_of is not None
            self.colours[i] = self.colour_of(self.boxes[i])
        return self.colours[i]


def _by_side(pool: _Pool, side: Side) -> list[int]:
    """Indices ordered by how far they are toward ``side`` (first = most)."""
    idx = list(range(len(pool.boxes)))
    c = [box_center(b) for b in pool.boxes]
    if side == "center":
        return sorted(idx, key=lambda i: math.dist(c[i], _middle(pool)))
    key = {"leftmost": lambda i: c[i][0], "rightmost": lambda i: -c[i][0],
           "topmost": lambda i: c[i][1], "bottommost": lambda i: -c[i][1]}[side]
    return sorted(idx, key=key)


_TIE = 0.1
"""Two boxes whose places (as a share of their size) or sizes differ by at most this are a tie."""


def _distinct(pool: _Pool, ranked: list[int], at: int, side: Side) -> None:
    """Raise :class:`Unclear` when the box ranked ``at`` toward ``side`` ties with a neighbour (two cups side by
    side are neither "the top one")."""
    if side == "center":
        middle = _middle(pool)
        place = [math.dist(box_center(b), middle) for b in pool.boxes]
        extent = sorted(max(b[2] - b[0], b[3] - b[1]) for b in pool.boxes)[len(pool.boxes) // 2]
    else:
        axis = 0 if side in ("leftmost", "rightmost") else 1
        place = [box_center(b)[axis] for b in pool.boxes]
        extent = sorted(b[axis + 2] - b[axis] for b in pool.boxes)[len(pool.boxes) // 2]
    for other in (at - 1, at + 1):
        if 0 <= other < len(ranked) and abs(place[ranked[at]] - place[ranked[other]]) <= _TIE * max(extent, 1.0):
            word = {"leftmost": "far left", "rightmost": "far right", "topmost": "high", "bottommost": "low",
                    "center": "near the middle"}[side]
            raise Unclear(f"more than one of them is about as {word}")


def _middle(pool: _Pool) -> tuple[float, float]:
    """The point "the middle one" is nearest to: the image's centre (else the boxes' extent's)."""
    return (pool.size[0] / 2, pool.size[1] / 2) if pool.size else box_center(outer_box(pool.boxes))


def _one(pool: _Pool, item: Item, order: Sequence[int]) -> list[int]:
    """What an item's description picks from ``pool`` (numbers are handled by the caller)."""
    picks: list[list[int]] = []
    n = len(pool.boxes)
    if item.from_last:
        if item.from_last > n:
            raise Unclear(f"there are only {n} of them")
        if item.count and not item.side:                            # "the last two"
            if item.count > n:
                raise Unclear(f"there are only {n} of them")
            picks.append(sorted(order[n - item.count:]))
        else:
            picks.append([order[n - item.from_last]])
    if item.side:
        ranked = _by_side(pool, item.side)
        if item.count:
            if item.count > n:
                raise Unclear(f"there are only {n} of them")
            picks.append(sorted(ranked[: item.count]))
        else:
            if item.nth > n:
                raise Unclear(f"there are only {n} of them")
            _distinct(pool, ranked, item.nth - 1, item.side)
            picks.append([ranked[item.nth - 1]])
    if item.corner:
        x0, y0, x1, y1 = outer_box(pool.boxes)
        h, v = item.corner
        corner = (x0 if h == "leftmost" else x1, y0 if v == "topmost" else y1)
        picks.append([min(range(n), key=lambda i: math.dist(box_center(pool.boxes[i]), corner))])
    if item.size:
        def measure(i: int) -> float:
            x0, y0, x1, y1 = pool.boxes[i]
            return {"largest": box_area(pool.boxes[i]), "smallest": -box_area(pool.boxes[i]),
                    "tallest": y1 - y0, "shortest": -(y1 - y0), "widest": x1 - x0, "narrowest": -(x1 - x0)}[
                item.size or "largest"]
        sizes = sorted((measure(i) for i in range(n)), reverse=True)
        if n > 1 and abs(sizes[0] - sizes[1]) <= _TIE * max(abs(sizes[0]), abs(sizes[1])):
            raise Unclear(f"{quote(item.words)} fits more than one: they are about the same size")
        picks.append([max(range(n), key=measure)])
    if item.shade or item.colour:
        if pool.colour_of is None:
            raise Unclear("I can't compare colours here")
        if item.colour:
            from tools.color import parse_color, rgb_to_lab
            import numpy as np

            target = tuple(float(v) for v in rgb_to_lab(np.array(parse_color(item.colour), dtype=np.uint8)))
            dist = sorted((math.dist(pool.lab(i), target), i) for i in range(n))
            if dist[0][0] > 60 or (n > 1 and dist[0][0] > 0.75 * dist[1][0]):
                what = "none of them looks" if dist[0][0] > 60 else "more than one of them looks"
                raise Unclear(f"{what} clearly {item.colour}")
            picks.append([dist[0][1]])
        if item.shade:
            light = [pool.lab(i)[0] for i in range(n)]
            pick = max(range(n), key=lambda i: light[i] if item.shade == "lightest" else -light[i])
            picks.append([pick])
    chosen = picks[0] if picks else []
    if any(p != chosen for p in picks[1:]):
        raise Unclear(f"{quote(item.words)} does not fit any single one of them")
    return chosen


def _evaluate(item: Item, pool: _Pool, numbered: Sequence[tuple[float, ...]]) -> list[int]:
    """Indices into ``pool`` that ``item`` names; numbers point at the numbered candidates."""
    shown = len(numbered)
    by_number: list[int] = []
    for k in item.numbers:
        if not 1 <= k <= shown:
            raise Unclear(f"there is no number {k}; the numbers go from 1 to {shown}")
        box = tuple(numbered[k - 1])
        by_number.append(next(i for i, b in enumerate(pool.boxes) if b == box))
    order = sorted(range(len(pool.boxes)), key=lambda i: (box_center(pool.boxes[i])[0], box_center(pool.boxes[i])[1]))
    if not item.described:
        return list(dict.fromkeys(by_number))
    described = _one(pool, item, order)
    if by_number and sorted(set(by_number)) != sorted(described):
        raise Unclear(f"{quote(item.words)} contradicts itself")
    return described


def resolve(answer: Answer, candidates: Sequence[Box], *, matches: Sequence[Box] | None = None,
            want: int | None = None, image_size: tuple[int, int] | None = None,
            colour_of: ColourOf | None = None) -> Resolved:
    """Turn a parsed answer into boxes.

    Args:
        answer: from :func:`read_reply`.
        candidates: the numbered candidates' boxes (candidate 1 first).
        matches: every match's box (shown or not): what "all" means; None: the candidates.
        want: how many the step means (the answer must pick that many, or say "all").
        image_size: (width, height), for "the middle one".
        colour_of: a box's Lab colour, for "the red one" / "the dark one" (None: colours unreadable).
    """
    shown = [tuple(float(v) for v in b) for b in candidates]
    if not shown:
        return Resolved("unclear", why="there is nothing to choose from")
    if answer.kind == "cancel":
        return Resolved("cancel")
    every = [tuple(float(v) for v in b) for b in (matches or ())] or list(shown)
    for box in shown:
        if box not in every:
            every.append(box)
    try:
        if answer.kind == "all":
            if answer.said is not None and not answer.items and answer.said != len(every):
                raise Unclear(f"there are {len(every)} of them, not {answer.said}; say which ones")
            pool = _Pool(every, image_size, colour_of)
            dropped = {i for item in answer.items for i in _evaluate(item, pool, shown)}
            kept = tuple(b for i, b in enumerate(every) if i not in dropped)
            if not kept:
                raise Unclear("that leaves none of them")
            return Resolved("all", kept)
        pool = _Pool(shown, image_size, colour_of)
        parts = [_evaluate(item, pool, shown) for item in answer.items]
        for a, b in answer.appositions:
            if sorted(parts[a]) != sorted(parts[b]):
                raise Unclear(f"{quote(answer.items[a].words)} and {quote(answer.items[b].words)} "
                               "are different ones")
        picked = list(dict.fromkeys(i for p in parts for i in p))
        if answer.negated:
            picked = [i for i in range(len(shown)) if i not in picked]
            if not picked:
                raise Unclear("that leaves none of them")
            if want is None and len(picked) > 1:
                raise Unclear("that leaves " + " and ".join(str(i + 1) for i in picked) + "; which of those")
        if want is not None and len(picked) != want:
            raise Unclear(f"that names {len(picked)}, but the instruction is about {want}")
        return Resolved("pick", tuple(shown[i] for i in picked))
    except Unclear as e:
        return Resolved("unclear", why=str(e))


def forms(count: int, want: int | None = None) -> str:
    """The answer forms that work, for a follow-up question (``want``: how many the step means)."""
    last = f"1-{count}" if count > 1 else "1"
    if want is not None and want > 1:
        spelled = {v: k for k, v in NUMBER_WORDS.items()}.get(want, str(want))
        return (f"Answer with {want} numbers ({last}, like \"1 and 3\"), positions (\"the {spelled} on the left\"), "
                "\"all\", \"all except 2\", or \"cancel\".")
    return (f"Answer with a number ({last}) or several (\"1 and 3\"), a position (\"the left one\", "
            "\"second from the right\"), a size or colour (\"the biggest\", \"the red one\"), \"all\", "
            "\"all except 2\", or \"cancel\".")


# -- pointing as an answer ------------------------------------------------------------------------------

def pick_pointed(candidates: Sequence[dict], pointing: object) -> int | None:
    """The number of the question's candidate a pointing lands on ("this one" with a click inside box 2 → 2):
    the smallest box holding the click(s), or the box a dragged box overlaps most; None when none."""
    from agent.graph.pointing import Pointing, pick

    if not isinstance(pointing, Pointing) or not candidates:
        return None
    index = pick([c["box"] for c in candidates], pointing)
    return int(candidates[index]["number"]) if index is not None else None

