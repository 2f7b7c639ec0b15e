"""SAM 2: the tiny build reloads like the hub model; one embedding per image, one mask per box."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tools.errors import InvalidInputError, ModelUnavailableError
from tools.loading import model_path
from tools.profiles import get_profile
from tools.segmentation import Segmentation, Segmenter


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.from_pretrained(model_path(get_profile("tiny").segmentation))


@pytest.fixture
def encoder_calls(segmenter):
    """How many times the (expensive) vision encoder has run since the test started."""
    calls = []
    handle = segmenter.model.vision_encoder.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def test_tiny_build_loads_like_the_hub_checkpoint(tmp_path):
    from transformers import AutoProcessor, Sam2Model, Sam2Processor

    from tools.tiny import ensure

    folder = ensure("sam2", tmp_path)
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    assert isinstance(AutoProcessor.from_pretrained(folder), Sam2Processor)
    model, info = Sam2Model.from_pretrained(folder, use_safetensors=True, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_one_bool_mask_per_box_at_the_image_size(segmenter, coffee):
    segmenter.set_image(coffee)
    boxes = [(10, 20, 200, 250), (300.5, 100.25, 590, 390), (0, 0, 600, 400)]
    result = segmenter.predict(boxes=boxes)
    assert isinstance(result, Segmentation)
    assert result.masks.shape == (3, 400, 600) and result.masks.dtype == np.bool_
    assert result.scores.shape == (3,) and result.scores.dtype == np.float32
    assert ((result.scores >= 0) & (result.scores <= 1)).all()
    assert segmenter.image_size == (400, 600)


def test_the_image_is_embedded_once_for_many_predictions(segmenter, coffee, chelsea, encoder_calls):
    segmenter.set_image(coffee)
    assert len(encoder_calls) == 1
    first = segmenter.predict(boxes=[(10, 20, 200, 250)])
    segmenter.predict(boxes=[(300, 100, 590, 390), (5, 5, 50, 50)])
    segmenter.predict(points=[(100, 100)])
    again = segmenter.predict(boxes=[(10, 20, 200, 250)])
    assert len(encoder_calls) == 1
    np.testing.assert_array_equal(first.masks, again.masks)
    segmenter.set_image(chelsea)
    assert len(encoder_calls) == 2
    assert segmenter.predict(boxes=[(10, 20, 200, 250)]).masks.shape == (1, 300, 451)


def test_odd_sized_image(segmenter, chelsea):
    odd = chelsea.resize((333, 517))
    segmenter.set_image(odd)
    result = segmenter.predict(boxes=[(3.5, 7, 330, 510), (100, 200, 150, 260)])
    assert result.masks.shape == (2, 517, 333)


def test_a_box_sticking_out_of_the_image_is_clipped(segmenter, chelsea):
    segmenter.set_image(chelsea)
    inside = segmenter.predict(boxes=[(400, 250, 451, 300)])
    outside = segmenter.predict(boxes=[(400, 250, 900, 700)])
    np.testing.assert_array_equal(inside.masks, outside.masks)


def test_multimask_output_keeps_the_best_scored_of_three(segmenter, chelsea):
    segmenter.set_image(chelsea)
    box = (50, 40, 300, 280)
    result = segmenter.predict(boxes=[box], multimask_output=True)
    assert result.masks.shape == (1, 300, 451)
    encoded = segmenter.processor(original_sizes=[[300, 451]], input_boxes=[[list(box)]], return_tensors="pt")
    with torch.inference_mode():
        raw = segmenter.model(image_embeddings=segmenter._embeddings, input_boxes=encoded["input_boxes"],
                              multimask_output=True)
    assert raw.iou_scores.shape[-1] == 3
    assert result.scores[0] == pytest.approx(raw.iou_scores[0, 0].max().item())


def test_points_give_one_mask_and_refine_each_box(segmenter, astronaut):
    segmenter.set_image(astronaut)
    only_points = segmenter.predict(points=[(256, 100), (10, 500)], point_labels=[1, 0])
    assert only_points.masks.shape == (1, 512, 512)
    with_boxes = segmenter.predict(boxes=[(150, 20, 360, 220), (0, 300, 200, 512)], points=[(256, 100)])
    assert with_boxes.masks.shape == (2, 512, 512)


def test_detect_then_segment_on_a_photo(segmenter, chelsea):
    from tools.grounding import Grounder

    grounder = Grounder.from_pretrained(model_path(get_profile("tiny").grounding), box_threshold=0.0,
                                        text_threshold=0.0)
    detections = grounder.detect(chelsea, "a cat", max_detections=4)
    segmenter.set_image(chelsea)
    result = segmenter.predict(boxes=[d.box for d in detections])
    assert result.masks.shape == (len(detections), 300, 451)


def test_predict_before_set_image_says_what_to_do(segmenter):
    fresh = Segmenter(segmenter.model, segmenter.processor, placement=segmenter.placement)
    assert fresh.image_size is None
    with pytest.raises(InvalidInputError, match="set_image"):
        fresh.predict(boxes=[(0, 0, 10, 10)])


@pytest.mark.parametrize(("kwargs", "quoted"), [
    ({"boxes": [(1, 2, 3)]}, r"\(1, 2, 3\)"),
    ({"boxes": [(50, 50, 10, 80)]}, r"\(50, 50, 10, 80\)"),
    ({"boxes": [(700, 10, 800, 50)]}, r"\(700, 10, 800, 50\)"),
    ({"boxes": [(0, 0, float("nan"), 5)]}, "nan"),
    ({"boxes": ["abcd"]}, "'abcd'"),
    ({"points": [(10, 999)]}, r"\(10, 999\)"),
    ({"points": [(10, 10)], "point_labels": [1, 0]}, "1 points, 2 labels"),
    ({"points": [(10, 10)], "point_labels": [5]}, r"\[5\]"),
    ({}, "at least one box or point"),
    ({"boxes": []}, "at least one box or point"),
])
def test_bad_prompts_are_rejected_with_the_value(segmenter, coffee, kwargs, quoted):
    segmenter.set_image(coffee)
    with pytest.raises(InvalidInputError, match=quoted):
        segmenter.predict(**kwargs)


def test_bad_images_and_folders_are_rejected(segmenter, tmp_path):
    with pytest.raises(InvalidInputError, match="PIL"):
        segmenter.set_image(np.zeros((10, 10, 3), np.uint8))  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailableError, match="SAM 2"):
        Segmenter.from_pretrained(tmp_path / "nowhere")
