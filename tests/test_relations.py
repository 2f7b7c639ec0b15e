"""Relations between boxes, ranking by a selector, where an added object goes, and colour attributes: pure geometry."""

from __future__ import annotations

import numpy as np
import pytest

from agent.graph.attributes import box_colour, colour_matches, colour_target, narrow
from agent.graph.relations import BESIDE, beside, clearance, holds, ranked, related
from tools.boxes import box_gap
from tests.agent_fakes import det

PLATE = (100, 100, 200, 150)
SIZE = (400, 300)


@pytest.mark.parametrize(("relation", "box", "expected"), [
    ("left_of", (40, 110, 90, 150), True),          # beside it on the left, same height
    ("left_of", (150, 110, 190, 150), False),        # inside its right half
    ("left_of", (210, 110, 250, 150), False),        # on the right
    ("left_of", (70, 110, 120, 150), True),           # overlaps a little, centre still left
    ("left_of", (40, 10, 90, 50), False),             # left but far above: strict needs a shared height
    ("right_of", (210, 110, 250, 150), True),
    ("right_of", (40, 110, 90, 150), False),
    ("above", (120, 20, 180, 90), True),
    ("above", (120, 160, 180, 200), False),
    ("below", (120, 160, 180, 200), True),
    ("next_to", (205, 105, 245, 150), True),          # a few pixels to the right
    ("next_to", (320, 105, 360, 150), False),         # too far
    ("next_to", (120, 110, 180, 140), False),         # inside, not next to
    ("on", (130, 60, 170, 110), True),                # a cup standing on the plate's top edge
    ("on", (130, 160, 170, 200), False),              # below it
    ("on", (10, 60, 50, 110), False),                 # not over it
    ("in", (120, 110, 150, 140), True),
    ("in", (90, 110, 150, 140), True),                # mostly inside
    ("in", (50, 110, 110, 140), False),
    ("in_front_of", (150, 120, 230, 180), True),      # overlapping, bottom lower
    ("in_front_of", (150, 80, 230, 130), False),      # overlapping, bottom higher: behind
    ("behind", (150, 80, 230, 130), True),
    ("behind", (250, 80, 300, 130), False),           # not overlapping
])
def test_relations_hold_by_the_documented_rules(relation, box, expected):
    assert holds(relation, box, PLATE) is expected


def test_a_box_is_never_related_to_itself():
    for relation in ("left_of", "next_to", "in", "on", "in_front_of", "behind"):
        assert not holds(relation, PLATE, PLATE)


def test_related_prefers_the_strict_form_and_orders_nearest_first():
    near, far, high = det((60, 110, 90, 150)), det((10, 110, 40, 150)), det((40, 0, 80, 30))
    assert related([far, high, near], [PLATE], "left_of") == [near, far]
    assert related([high], [PLATE], "left_of") == [high]             # only a loose match: kept
    assert related([det((250, 0, 300, 30))], [PLATE], "left_of") == []


def test_next_to_falls_back_to_the_single_nearest():
    a, b = det((300, 100, 330, 150)), det((360, 100, 390, 150))
    assert related([b, a], [PLATE], "next_to") == [a]


def test_several_anchors_any_of_them_counts():
    other = (300, 100, 350, 150)
    cup = det((260, 110, 290, 150))                               # left of the second plate only
    assert related([cup], [PLATE, other], "left_of") == [cup]
    assert related([cup], [PLATE], "left_of") == []


def test_ranked_orders_by_the_selector():
    boxes = [det((50, 0, 60, 10)), det((10, 0, 30, 40)), det((80, 20, 90, 30))]
    assert [d.box[0] for d in ranked(boxes, "leftmost")] == [10, 50, 80]
    assert [d.box[0] for d in ranked(boxes, "rightmost")] == [80, 50, 10]
    assert [d.box[0] for d in ranked(boxes, "largest")] == [10, 50, 80]
    with pytest.raises(ValueError, match="does not rank"):
        ranked(boxes, "nth_from_left")


@pytest.mark.parametrize("place", sorted(BESIDE))
@pytest.mark.parametrize("anchor", [PLATE, (5, 5, 60, 290), (330, 200, 398, 298), (150, 2, 250, 40)])
def test_beside_never_overlaps_the_anchor_and_stays_inside(place, anchor):
    box = beside(anchor, place, SIZE)
    if box is None:
        return
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1]
    assert x1 - x0 >= 4 and y1 - y0 >= 4
    assert box_gap(box, anchor) >= clearance(SIZE)                       # the inpainter's growth cannot reach it


def test_beside_sides_and_sizes():
    assert beside(PLATE, "left_of", SIZE)[2] <= PLATE[0] - clearance(SIZE)
    assert beside(PLATE, "right_of", SIZE)[0] >= PLATE[2] + clearance(SIZE)
    assert beside(PLATE, "above", SIZE)[3] <= PLATE[1] - clearance(SIZE)
    assert beside(PLATE, "below", SIZE)[1] >= PLATE[3] + clearance(SIZE)
    assert beside(PLATE, "next_to", SIZE)[0] >= PLATE[2]            # more room on the right
    assert beside(PLATE, "left_of", SIZE)[3] == PLATE[3]            # standing on the same ground
    x0, y0, x1, y1 = beside(PLATE, "right_of", SIZE, scale=0.5)
    assert (x1 - x0, y1 - y0) == (50, 25)
    assert beside((0, 0, 10, 300), "left_of", SIZE) is None          # no room at the edge
    with pytest.raises(ValueError, match="not beside"):
        beside(PLATE, "on", SIZE)


def _two_colours() -> np.ndarray:
    pixels = np.full((60, 120, 3), 255, np.uint8)
    pixels[10:50, 10:50] = (200, 30, 30)                               # red
    pixels[10:50, 70:110] = (30, 60, 200)                              # blue
    return pixels


@pytest.mark.parametrize(("name", "left", "right"), [("red", True, False), ("blue", False, True),
                                                     ("dark red", True, False), ("green", False, False),
                                                     ("white", False, False)])
def test_colour_attributes_are_read_from_the_box_pixels(name, left, right):
    pixels = _two_colours()
    target = colour_target(name)
    assert target is not None
    assert colour_matches(box_colour(pixels, (5, 5, 55, 55)), target) is left
    assert colour_matches(box_colour(pixels, (65, 5, 115, 55)), target) is right


def test_narrow_keeps_agreeing_candidates_and_reports_unconfirmed_attributes():
    pixels = _two_colours()
    red, blue = det((5, 5, 55, 55)), det((65, 5, 115, 55))
    calls = []

    def detect(phrase):
        calls.append(phrase)
        return [det((64, 6, 114, 54), 0.9)] if phrase == "cup with a handle" else []

    kw = {"pixels": pixels, "detect": detect, "min_relative_score": 0.5, "min_iou": 0.5}
    assert narrow([red, blue], "cup", ["red"], **kw).kept == [red]
    none = narrow([red, blue], "cup", ["green"], **kw)
    assert none.kept == [red, blue] and none.unconfirmed == ["green"]
    assert narrow([red, blue], "cup", ["with a handle"], **kw).kept == [blue] and calls == ["cup with a handle"]
    assert colour_target("black top") is None and colour_target("with a handle") is None
