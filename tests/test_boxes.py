"""Box arithmetic on XYXY pixel boxes: clipping, scaling, the outer box, area, IoU and validation."""

from __future__ import annotations

import pytest

from tools.boxes import (box_area, box_center, box_gap, check_box, clamp_box, clip_box, iou, outer_box,
                         overlap_spans, scale_box)
from tools.errors import InvalidInputError


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((5, 5, 5, 5), (5, 5, 5, 5)) == 0.0            # empty boxes: no division by zero


def test_area_and_center():
    assert box_area((10, 20, 40, 60)) == 1200.0
    assert box_area((40, 20, 10, 60)) == 0.0                  # inverted: empty
    assert box_center((10, 20, 40, 60)) == (25.0, 40.0)


def test_clip_keeps_what_is_inside_and_refuses_less_than_a_pixel():
    assert clip_box([-5, -5, 50, 50], (40, 30)) == (0.0, 0.0, 40.0, 30.0)
    assert clip_box((10, 10, 20, 20), (40, 30)) == (10.0, 10.0, 20.0, 20.0)
    assert clip_box((39.5, 0, 60, 10), (40, 30)) is None      # half a pixel across
    assert clip_box((50, 50, 60, 60), (40, 30)) is None       # wholly outside
    assert clamp_box((50, 50, 60, 60), (40, 30)) == (50.0, 50.0, 40.0, 30.0)   # clamp alone may leave it empty


def test_scale_grows_and_shrinks_around_the_centre_within_the_image():
    assert scale_box((10, 10, 30, 20), 2.0, (100, 100)) == (0.0, 5.0, 40.0, 25.0)
    assert scale_box((10, 10, 30, 20), 0.5, (100, 100)) == (15.0, 12.5, 25.0, 17.5)
    assert scale_box((80, 80, 100, 100), 2.0, (100, 100)) == (70.0, 70.0, 100.0, 100.0)


def test_outer_box_holds_them_all():
    assert outer_box([(10, 20, 30, 40), [5, 25, 20, 50]]) == (5.0, 20.0, 30.0, 50.0)
    assert outer_box([]) is None


@pytest.mark.parametrize(("box", "message"), [
    ((1, 2, 3), "must be 4 numbers"),
    ((0, 0, float("nan"), 5), "must be finite"),
    ((10, 0, 5, 5), "x0 <= x1"),
])
def test_check_quotes_the_bad_box(box, message):
    with pytest.raises(InvalidInputError, match=message):
        check_box(box)
    assert check_box([1, 2, 3, 4]) == (1.0, 2.0, 3.0, 4.0)


def test_gap_and_overlap_spans():
    assert box_gap((0, 0, 10, 10), (13, 14, 20, 20)) == 5.0
    assert box_gap((0, 0, 10, 10), (5, 5, 20, 20)) == 0.0
    assert overlap_spans((0, 0, 10, 10), (5, 8, 20, 20)) == (5.0, 2.0)
    assert overlap_spans((0, 0, 10, 10), (12, 0, 20, 10)) == (0.0, 10.0)
