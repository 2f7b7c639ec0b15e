"""The toolkit facade: lazy loading through the production path, and masks that stay near their box."""

from __future__ import annotations

import numpy as np

from tools.masks import box_mask
from tools.toolkit import Toolkit


def test_models_load_lazily_once_and_say_so(tiny_profile, coffee):
    told = []
    kit = Toolkit(tiny_profile, on_load=lambda role, model_id: told.append((role, model_id)))
    assert told == []
    kit.detect(coffee, "cup")
    kit.detect(coffee, "saucer")
    assert told == [("grounding", "tiny/grounding-dino")]
    assert kit.models["inpainting"] == "tiny/sd-inpaint"


def test_segment_masks_stay_inside_their_grown_box_and_embed_once(tiny_profile, coffee):
    kit = Toolkit(tiny_profile)
    calls = []
    segmenter = kit.segmenter
    original = segmenter.set_image
    segmenter.set_image = lambda image: (calls.append(image.size), original(image))[1]
    boxes = [(100.0, 50.0, 300.0, 250.0), (400.0, 200.0, 500.0, 380.0)]
    masks = kit.segment(coffee, boxes)
    again = kit.segment(coffee, boxes[:1])
    assert calls == [coffee.size]
    assert len(masks) == 2 and np.array_equal(masks[0], again[0])
    for box, mask in zip(boxes, masks):
        assert mask.shape == (coffee.height, coffee.width) and mask.dtype == bool and mask.any()
        x0, y0, x1, y1 = box
        grown = box_mask((x0 - 22, y0 - 22, x1 + 22, y1 + 22), mask.shape)
        assert not (mask & ~grown).any()
    kit.segment(coffee.rotate(90, expand=True), boxes[:1])
    assert len(calls) == 2


def test_recolor_loads_the_inpainter_only_for_what_one_colour_shift_cannot_do(tiny_profile, coffee):
    told = []
    kit = Toolkit(tiny_profile, on_load=lambda role, model_id: told.append(role))
    image = coffee.resize((150, 100))
    mask = box_mask((40, 20, 110, 80), (100, 150))
    exact = kit.recolor(image, mask, "dark navy")
    assert exact.details["method"] == "lab" and told == []               # no model needed for one colour
    striped = kit.recolor(image, mask, "red and white striped", name="the cup")
    assert striped.details["method"] == "diffusion" and striped.details["why"] == "patterns"
    assert striped.prompt == "a red and white striped cup" and told == ["inpainting"]
    diff = np.any(np.asarray(striped.image) != np.asarray(image), axis=2)
    assert diff.any() and not (diff & ~striped.region).any()          # nothing outside the region changed
