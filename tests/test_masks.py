"""Mask operations: exact invariants (composite never touches pixels outside its region, radii are exact)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tools import masks
from tools.errors import InvalidInputError


def _random_image(w: int, h: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _disk(shape: tuple[int, int], cy: int, cx: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# ---- composite: the one paste-back ---------------------------------------------------------------------------------


def test_composite_outside_region_is_bit_identical_at_odd_size():
    h, w = 517, 333
    original, generated = _random_image(w, h, 1), _random_image(w, h, 2)
    region = _disk((h, w), 250, 160, 90) | masks.box_mask((10.5, 20, 40.2, 70.9), (h, w))
    alpha = masks.feather(region, 7)
    out = masks.composite(original, generated, region, alpha)
    o, g, r = np.asarray(original), np.asarray(generated), np.asarray(out)
    assert out.mode == "RGB" and out.size == (w, h)
    assert np.array_equal(r[~region], o[~region])
    expected = np.rint(alpha[region, None] * g[region] + (1 - alpha[region, None]) * o[region].astype(np.float64))
    assert np.abs(r[region].astype(int) - expected).max() == 0
    deep = alpha == 1.0
    assert deep.any() and np.array_equal(r[deep], g[deep])
    # without alpha the region is the generated image exactly
    hard = np.asarray(masks.composite(original, generated, region))
    assert np.array_equal(hard[region], g[region]) and np.array_equal(hard[~region], o[~region])


def test_composite_ignores_alpha_outside_region():
    original, generated = _random_image(20, 10, 3), _random_image(20, 10, 4)
    region = masks.box_mask((0, 0, 5, 10), (10, 20))
    out = masks.composite(original, generated, region, np.ones((10, 20), np.float32))
    assert np.array_equal(np.asarray(out)[:, 5:], np.asarray(original)[:, 5:])


def test_composite_validates_sizes_and_alpha():
    original = _random_image(30, 20, 5)
    region = np.ones((20, 30), bool)
    with pytest.raises(InvalidInputError, match=r"\(21, 30\).*\(20, 30\)"):
        masks.composite(original, _random_image(30, 21, 6), region)
    with pytest.raises(InvalidInputError, match=r"\(20, 31\).*\(20, 30\)"):
        masks.composite(original, original, np.ones((20, 31), bool))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        masks.composite(original, original, region, np.full((20, 30), 1.5))


# ---- morphology ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 4, 12, 13, 30])  # both sides of the kernel / distance-transform switch
def test_dilate_grows_by_exact_radius(r):
    shape = (101, 121)
    dot = np.zeros(shape, bool)
    dot[50, 60] = True
    assert np.array_equal(masks.dilate(dot, r), _disk(shape, 50, 60, r))


@pytest.mark.parametrize("r", [3, 20])
def test_erode_shrinks_by_exact_radius(r):
    shape = (120, 140)
    rect = masks.box_mask((30, 25, 110, 100), shape)
    # a disk fits in a rectangle exactly where its centre is r inside every side
    assert np.array_equal(masks.erode(rect, r), masks.box_mask((30 + r, 25 + r, 110 - r, 100 - r), shape))
    blob = _disk(shape, 60, 70, 45)  # away from the border erosion is the dual of dilation
    assert np.array_equal(masks.erode(blob, r), ~masks.dilate(~blob, r))
    edge = np.zeros(shape, bool)
    edge[:, :30] = True  # touches the image border: only its inner side erodes
    assert masks.bbox(masks.erode(edge, r)) == (0.0, 0.0, float(30 - r), float(shape[0]))


def test_zero_radius_returns_copy():
    m = _disk((20, 20), 10, 10, 4)
    for op in (masks.dilate, masks.erode):
        out = op(m, 0)
        assert np.array_equal(out, m) and out is not m
    with pytest.raises(InvalidInputError, match="-2"):
        masks.dilate(m, -2)


def test_feather_zero_outside_one_inside_ramping():
    shape = (80, 90)
    m = masks.box_mask((20, 10, 70, 70), shape)
    alpha = masks.feather(m, 8)
    assert alpha.dtype == np.float32 and alpha.shape == shape
    assert (alpha[~m] == 0.0).all()
    assert (alpha[masks.erode(m, 8)] == 1.0).all()
    assert 0.0 < alpha[40, 20] < 0.2  # edge pixel of the mask
    row = alpha[40, 20:30]
    assert (np.diff(row) >= 0).all() and row[-1] == 1.0
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert np.array_equal(masks.feather(m, 0), m.astype(np.float32))


def test_feather_on_large_image_keeps_invariants():
    m = np.zeros((3000, 4000), bool)
    m[500:2500, 1000:3500] = True
    grown = masks.dilate(m, 16)
    alpha = masks.feather(grown, 24)
    assert (alpha[~grown] == 0).all() and alpha[1500, 2000] == 1.0 and 0 < alpha[1500, 1000 - 16] < 0.1


# ---- set operations and geometry ---------------------------------------------------------------------------------


def test_union_invert_area_bbox():
    a = masks.box_mask((0, 0, 4, 3), (10, 12))
    b = masks.box_mask((6, 5, 9, 10), (10, 12))
    u = masks.union(a, b)
    assert masks.area(u) == 12 + 15 and masks.area(masks.invert(u)) == 120 - 27
    assert masks.bbox(u) == (0.0, 0.0, 9.0, 10.0)
    assert masks.bbox(b) == (6.0, 5.0, 9.0, 10.0)
    assert masks.bbox(np.zeros((5, 5), bool)) is None
    dot = np.zeros((5, 5), bool)
    dot[3, 2] = True
    assert masks.bbox(dot) == (2.0, 3.0, 3.0, 4.0)
    with pytest.raises(InvalidInputError, match="shape"):
        masks.union(a, np.zeros((3, 3), bool))


def test_box_mask_clipping_and_fractions():
    m = masks.box_mask((-5.0, 2.5, 3.2, 100.0), (6, 8))
    assert masks.bbox(m) == (0.0, 2.0, 4.0, 6.0) and masks.area(m) == 16
    assert masks.area(masks.box_mask((20, 20, 30, 30), (6, 8))) == 0
    assert masks.area(masks.box_mask((0, 0, 8, 6), (6, 8))) == 48
    with pytest.raises(InvalidInputError, match="x0 <= x1"):
        masks.box_mask((5, 0, 1, 3), (6, 8))


def test_bbox_and_box_mask_round_trip():
    m = masks.box_mask((3, 4, 17, 9), (20, 20))
    assert np.array_equal(masks.box_mask(masks.bbox(m), m.shape), m)


# ---- drawing -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(40, 30), (640, 480), (4000, 3000)])
def test_annotate_draws_only_near_boxes(size):
    w, h = size
    image = Image.new("RGB", size, (128, 128, 128))
    boxes = [(0.1 * w, 0.3 * h, 0.4 * w, 0.7 * h), (0.6 * w, 0.5 * h, 0.95 * w, 1.2 * h)]
    out = masks.annotate(image, boxes, ["dog", "cat"])
    assert out.size == image.size and out.mode == "RGB"
    changed = (np.asarray(out) != np.asarray(image)).any(axis=2)
    # the tags sit on the boxes' top-left corners; allow a margin of one tag height around each box
    margin = max(14, round(min(w, h) / 28) * 2)
    near = masks.union(*(masks.box_mask((x0 - margin, y0 - margin, x1 + margin * 4, y1 + margin), (h, w))
                         for x0, y0, x1, y1 in boxes))
    assert changed.any() and not changed[~near].any()
    # each box's outline is drawn in its own colour
    a = np.asarray(out)
    assert tuple(a[round(0.5 * h), round(0.1 * w)]) != tuple(a[round(0.75 * h), round(0.6 * w)])
    assert changed[round(0.5 * h), round(0.1 * w)] and changed[round(0.75 * h), round(0.6 * w)]


def test_annotate_checks_labels():
    with pytest.raises(InvalidInputError, match="2 labels for 1 boxes"):
        masks.annotate(Image.new("RGB", (50, 50)), [(1, 1, 20, 20)], ["a", "b"])


def test_overlay_changes_only_masked_pixels(chelsea):
    h, w = chelsea.height, chelsea.width
    m = _disk((h, w), h // 2, w // 2, min(h, w) // 4)
    out = masks.overlay(chelsea, m)
    diff = (np.asarray(out) != np.asarray(chelsea)).any(axis=2)
    assert out.size == chelsea.size and not diff[~m].any() and diff[m].mean() > 0.9
    with pytest.raises(InvalidInputError, match="mask shape"):
        masks.overlay(chelsea, np.ones((3, 3), bool))


def test_near_box_drops_stray_blobs_and_falls_back_to_the_box():
    from tools.masks import near_box

    mask = np.zeros((100, 200), bool)
    mask[20:40, 20:40] = True                      # the object, inside its box
    mask[80:95, 150:190] = True                    # a stray blob far away
    kept = near_box(mask, (15, 15, 45, 45))
    assert kept[20:40, 20:40].all() and not kept[80:, 150:].any()
    assert not kept[:, 48:].any()                  # nothing beyond the box + 10% (at least 2 px)
    only_stray = np.zeros((100, 200), bool)
    only_stray[80:95, 150:190] = True
    fallback = near_box(only_stray, (15.5, 15, 45, 45))
    assert fallback.sum() == 30 * 30 and fallback[15:45, 15:45].all()
