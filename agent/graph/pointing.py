"""Pointing: a click, several clicks (positive or negative) and/or a dragged box on the current image.

The person points, then says "make this red": the pointed region is SAM 2's mask from the clicks and
the box, kept near them. :func:`read_pointing` checks what a caller gives (one-line
:class:`InvalidInputError` for anything bad), :func:`pointed_mask` outlines it, :func:`region_box` is
where it is, :func:`pick` says which numbered candidate of a question it lands on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.boxes import Box, box_area, clip_box, iou
from tools.errors import InvalidInputError

MAX_POINTS = 32
"""More clicks than this in one pointing are refused."""

POINT_SIDE = 0.25
"""A click alone marks a square this fraction of the image's shorter side around it (an add's box, the
fallback mask)."""

GRID = 256
"""A mask from clicks alone keeps the parts connected to a click, found on a grid of at most this many cells a side."""


class Pointing(BaseModel):
    """Where the person pointed, in pixels of the image it was given for (checked and clipped to it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    box: list[float] | None = None
    """A dragged box (x0, y0, x1, y1), clipped to the image."""
    points: list[list[float]] = Field(default_factory=list)
    """Clicks (x, y)."""
    labels: list[bool] = Field(default_factory=list)
    """One per click: True "this", False "not this"."""

    @property
    def positives(self) -> list[list[float]]:
        return [p for p, keep in zip(self.points, self.labels, strict=True) if keep]

    def to_json(self) -> dict[str, Any]:
        """The pointing as a transcript / log records it: ``box`` and ``points`` as [x, y, positive]."""
        out: dict[str, Any] = {}
        if self.box is not None:
            out["box"] = [round(v, 1) for v in self.box]
        if self.points:
            out["points"] = [[round(p[0], 1), round(p[1], 1), keep] for p, keep in zip(self.points, self.labels,
                                                                                      strict=True)]
        return out

    def describe(self) -> str:
        """"box [10, 20, 80, 90]", "point (40, 50)", "points (40, 50), not (60, 50)"."""
        parts = []
        if self.box is not None:
            parts.append("box [" + ", ".join(f"{v:.0f}" for v in self.box) + "]")
        if self.points:
            said = [("" if keep else "not ") + f"({p[0]:.0f}, {p[1]:.0f})" for p, keep in zip(self.points, self.labels,
                                                                                            strict=True)]
            parts.append(("point " if len(said) == 1 else "points ") + ", ".join(said))
        return " and ".join(parts)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{what} must be a number, got {_short(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{what} must be a finite number, got {_short(value)}")
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _pair(value: Any, what: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 2:
        raise InvalidInputError(f"{what} must be (x, y), got {_short(value)}")
    return _number(value[0], f"{what}'s x"), _number(value[1], f"{what}'s y")


def _inside(x: float, y: float, size: tuple[int, int], what: str) -> list[float]:
    w, h = size
    if not (0 <= x < w and 0 <= y < h):
        raise InvalidInputError(f"{what} ({x:g}, {y:g}) lies outside the {w}x{h} image; point inside the picture")
    return [x, y]


def read_pointing(*, point: Any = None, box: Any = None, points: Any = None,
                  size: tuple[int, int]) -> Pointing | None:
    """The checked pointing for an image of ``size`` = (w, h), or None when nothing was pointed at.

    Args:
        point: (x, y): one positive click.
        box: (x0, y0, x1, y1) with x1 > x0 and y1 > y0; clipped to the image.
        points: [(x, y, positive), ...] (or (x, y): positive); at most :data:`MAX_POINTS`.

    Raises:
        InvalidInputError: a wrong shape, a non-number, NaN or infinity, a click outside the image,
            a box that is inverted or lies outside it, or only negative clicks.
    """
    if point is None and box is None and points is None:
        return None
    clicks: list[list[float]] = []
    labels: list[bool] = []
    if point is not None:
        clicks.append(_inside(*_pair(point, "the point"), size, "the point"))
        labels.append(True)
    if points is not None:
        if isinstance(points, (str, bytes)) or not isinstance(points, (Sequence, np.ndarray)) or not len(points):
            raise InvalidInputError(f"points must be a list of (x, y, positive), got {_short(points)}")
        if len(points) + len(clicks) > MAX_POINTS:
            raise InvalidInputError(f"at most {MAX_POINTS} points, got {len(points)}")
        for i, raw in enumerate(points, 1):
            what = f"point {i}"
            if isinstance(raw, (str, bytes)) or not isinstance(raw, (Sequence, np.ndarray)) or len(raw) not in (2, 3):
                raise InvalidInputError(f"{what} must be (x, y, positive), got {_short(raw)}")
            positive = True
            if len(raw) == 3:
                if not isinstance(raw[2], (bool, np.bool_)):
                    raise InvalidInputError(f"{what}'s third value says positive (true) or negative (false), "
                                            f"got {_short(raw[2])}")
                positive = bool(raw[2])
            clicks.append(_inside(*_pair(raw[:2], what), size, what))
            labels.append(positive)
    checked: list[float] | None = None
    if box is not None:
        if isinstance(box, (str, bytes)) or not isinstance(box, (Sequence, np.ndarray)) or len(box) != 4:
            raise InvalidInputError(f"the box must be (x0, y0, x1, y1), got {_short(box)}")
        x0, y0, x1, y1 = (_number(v, "the box's " + n) for v, n in zip(box, ("x0", "y0", "x1", "y1"), strict=True))
        if not (x1 > x0 and y1 > y0):
            raise InvalidInputError(f"the box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is empty or inverted; "
                                    "it needs x1 > x0 and y1 > y0")
        clipped = clip_box((x0, y0, x1, y1), size)
        if clipped is None:
            raise InvalidInputError(f"the box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the "
                                    f"{size[0]}x{size[1]} image; drag over the picture")
        checked = [float(v) for v in clipped]
    if checked is None and not any(labels):
        raise InvalidInputError("only \"not this\" clicks were given; click on the thing itself (or drag a box) too")
    return Pointing(box=checked, points=clicks, labels=labels)


def region_box(pointing: Pointing, size: tuple[int, int]) -> Box:
    """Where the pointed region is, before it is outlined: the box, or a square around the positive clicks
    (:data:`POINT_SIDE` of the shorter side, grown to hold every positive click)."""
    if pointing.box is not None:
        return tuple(pointing.box)  # type: ignore[return-value]
    w, h = size
    xs, ys = [p[0] for p in pointing.positives], [p[1] for p in pointing.positives]
    half = max(4.0, POINT_SIDE * min(w, h) / 2)
    box = (min(xs) - half, min(ys) - half, max(xs) + half + 1, max(ys) + half + 1)
    return clip_box(box, size) or (0.0, 0.0, float(w), float(h))


def pointed_mask(tools: Any, image: Any, pointing: Pointing) -> np.ndarray:
    """SAM 2's bool H×W mask of the pointed region (through ``tools.segment_pointed``), kept near it.

    With a box the toolkit keeps the mask near the box. From clicks alone only the parts of the mask
    connected to a positive click are kept (the clicked object, not a stray blob elsewhere); a mask
    that holds no positive click gives way to the region box (an edit never lands away from where
    the person pointed).
    """
    from tools.masks import box_mask

    shape = (image.size[1], image.size[0])
    mask = np.asarray(tools.segment_pointed(image, box=pointing.box, points=pointing.points or None,
                                            labels=pointing.labels or None), dtype=bool)
    if mask.shape != shape:
        raise InvalidInputError(f"the segmenter gave a mask of shape {mask.shape} for a {shape[1]}x{shape[0]} image")
    if pointing.box is not None:
        return mask
    held = connected(mask, pointing.positives)
    return held if held is not None else box_mask(region_box(pointing, image.size), shape)


def connected(mask: np.ndarray, seeds: Sequence[Sequence[float]], *, grid: int = GRID) -> np.ndarray | None:
    """The parts of ``mask`` connected to the ``seeds`` (x, y), or None when no seed lies on it.

    Connectivity is found on blocks (a grid of at most ``grid`` cells a side, a block counting when
    any of its pixels is in the mask), so blobs closer than a block are one part.
    """
    h, w = mask.shape
    step = max(1, math.ceil(max(h, w) / grid))
    rows, cols = math.ceil(h / step), math.ceil(w / step)
    padded = np.zeros((rows * step, cols * step), dtype=bool)
    padded[:h, :w] = mask
    blocks = padded.reshape(rows, step, cols, step).any(axis=(1, 3))
    reached = np.zeros_like(blocks)
    for x, y in seeds:
        if mask[min(h - 1, int(y)), min(w - 1, int(x))]:
            reached[int(y) // step, int(x) // step] = True
    if not reached.any():
        return None
    for _ in range(rows * cols):
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= blocks
        if np.array_equal(grown, reached):
            break
        reached = grown
    return mask & np.repeat(np.repeat(reached, step, axis=0), step, axis=1)[:h, :w]


def pick(candidates: Sequence[Sequence[float]], pointing: Pointing) -> int | None:
    """The index of the candidate box the pointing lands on, or None.

    A box: the candidate it overlaps most (intersection over union). Clicks: the
    smallest candidate holding every positive click and no negative one.
    """
    if pointing.box is not None:
        best, index = 0.0, None
        for i, c in enumerate(candidates):
            share = iou(pointing.box, c)
            if share > best:
                best, index = share, i
        return index
    holding = [i for i, c in enumerate(candidates)
               if all(_holds(c, p) for p in pointing.positives)
               and not any(_holds(c, p) for p, keep in zip(pointing.points, pointing.labels, strict=True) if not keep)]
    return min(holding, key=lambda i: box_area(candidates[i])) if holding else None


def _holds(box: Sequence[float], p: Sequence[float]) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]



POINTING_WORDS = frozenset({"here", "there", "this", "this one", "that one", "this thing", "this part", "this area",
                            "this spot", "this region", "this object", "the thing i pointed at", "what i pointed at",
                            "the pointed region", "the selection", "the selected area", "the marked area"})
"""Phrases that mean the pointed region (a planner may write them as a referent's phrase)."""


def refers_to_pointing(referent: Any, pointing: Pointing | None) -> bool:
    """Whether ``referent`` means the pointed region: it says ``pointed``, or, when something was pointed
    at, it is "it"/"that" (``last_edited``) or a pointing word ("this", "here")."""
    if referent is None:
        return False
    if referent.pointed:
        return True
    return pointing is not None and (referent.last_edited
                                     or " ".join(referent.phrase.lower().split()) in POINTING_WORDS)


def aim(plan: Any, pointing: Pointing | None) -> Any:
    """``plan`` with every referent that means the pointed region (:func:`refers_to_pointing`) marked
    ``pointed`` (and no longer ``last_edited``; a pointing word is not kept as a phrase to detect)."""
    if pointing is None or plan is None:
        return plan
    steps = []
    for step in plan.steps:
        ref = step.referent
        if step.action != "global" and refers_to_pointing(ref, pointing):
            phrase = "" if " ".join(ref.phrase.lower().split()) in POINTING_WORDS else ref.phrase
            ref = ref.model_copy(update={"pointed": True, "last_edited": False, "phrase": phrase, "box": None})
            step = step.model_copy(update={"referent": ref})
        steps.append(step)
    return plan.model_copy(update={"steps": steps})
