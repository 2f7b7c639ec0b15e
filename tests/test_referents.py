"""Spatial selectors on fixed detections, and answers to "which one?"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agent.graph.referents import Choice, parse_answer, reading_order, select


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


# Candidates as shown to the user, numbered left to right: 1 = left cup, 2 = right cup.
TWO = [(40, 100, 200, 300), (380, 80, 560, 240)]   # the right one sits higher


@pytest.mark.parametrize(("answer", "expected"), [
    (1, Choice("pick", (0,))),
    (2, Choice("pick", (1,))),
    ("2", Choice("pick", (1,))),
    ("#2", Choice("pick", (1,))),
    ("number 2", Choice("pick", (1,))),
    ("number one", Choice("pick", (0,))),
    ("no. 2", Choice("pick", (1,))),
    ("the second", Choice("pick", (1,))),
    ("the second one", Choice("pick", (1,))),
    ("2nd", Choice("pick", (1,))),
    ("first", Choice("pick", (0,))),
    ("the last one", Choice("pick", (1,))),
    ("the left one", Choice("pick", (0,))),
    ("left", Choice("pick", (0,))),
    ("The RIGHT one!", Choice("pick", (1,))),
    ("the one on the right", Choice("pick", (1,))),
    ("top", Choice("pick", (1,))),
    ("the lower one", Choice("pick", (0,))),
    ("biggest", Choice("pick", (0,))),     # 160x200 > 180x160
    ("the smaller one", Choice("pick", (1,))),
    ("1 and 2", Choice("pick", (0, 1))),
    ("second from the right", Choice("pick", (0,))),
    ("all", Choice("all")),
    ("both of them", Choice("all")),
    ("cancel", Choice("cancel")),
    ("never mind", Choice("cancel")),
    ("neither", Choice("cancel")),
])
def test_answers_that_name_a_candidate(answer, expected):
    assert parse_answer(answer, TWO, image_size=SIZE) == expected


@pytest.mark.parametrize("answer", [0, 3, "3", "the fifth", "banana", "", "   ", "the purple one",
                                    "number 1, the right one", "third from the left", True,
                                    "1" * 5000, "number " + "9" * 5000])   # long digit runs: unclear, never a crash
def test_answers_that_do_not_are_none(answer):
    assert parse_answer(answer, TWO, image_size=SIZE) is None


def test_top_left_picks_the_box_nearest_that_corner():
    boxes = [A.box, B.box, C.box, D.box]
    assert parse_answer("the top left one", boxes) == Choice("pick", (0,))
    assert parse_answer("bottom left", boxes) == Choice("pick", (1,))
    assert parse_answer("the middle one", boxes, image_size=SIZE) == Choice("pick", (2,))
