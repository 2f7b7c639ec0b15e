"""Spatial selectors on fixed detections (answers to "which one?": tests/test_commands.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agent.graph.referents import reading_order, select


@dataclass(frozen=True)
class Det:
    box: tuple[float, float, float, float]
    score: float = 0.5
    label: str = "cup"


# A 600x400 image with four cups: small top-left, big bottom-left, medium in the middle, small right.
A = Det((10, 10, 60, 50), 0.9)        # top-left, small (2000)
B = Det((20, 250, 220, 390), 0.8)     # bottom-left, largest (28000)
C = Det((260, 160, 360, 240), 0.7)    # centre (8000)
D = Det((520, 100, 580, 140), 0.6)    # right, smallest (2400)? -> 60*40 = 2400
DETS = [A, B, C, D]
SIZE = (600, 400)


@pytest.mark.parametrize(("selector", "n", "expected"), [
    ("leftmost", None, A),            # centre x 35 < 120
    ("rightmost", None, D),
    ("topmost", None, A),
    ("bottommost", None, B),
    ("largest", None, B),
    ("smallest", None, A),
    ("center", None, C),
    ("nth_from_left", 2, B),
    ("nth_from_left", 3, C),
    ("nth_from_right", 1, D),
    ("nth_from_right", 2, C),
])
def test_each_selector_picks_the_right_box(selector, n, expected):
    assert select(DETS, selector, n=n, image_size=SIZE) == [expected]


def test_all_and_none_keep_every_box_and_nth_past_the_end_keeps_none():
    assert select(DETS, "all") == DETS
    assert select(DETS, None) == DETS
    assert select(DETS, "nth_from_left", n=5) == []
    assert select([], "leftmost") == []


def test_ties_go_to_the_better_scored_detection():
    twin_a, twin_b = Det((0, 0, 10, 10), 0.9), Det((0, 20, 10, 30), 0.4)
    assert select([twin_a, twin_b], "leftmost") == [twin_a]


def test_bad_selector_is_an_error():
    with pytest.raises(ValueError, match="unknown selector"):
        select(DETS, "diagonal")
    with pytest.raises(ValueError, match="needs n"):
        select(DETS, "nth_from_left")


def test_reading_order_is_left_to_right():
    assert reading_order([D, C, A, B]) == [A, B, C, D]
