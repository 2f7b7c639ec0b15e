"""Grounding DINO: the tiny build reloads like the hub model; detect() keeps its contract on real photos."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou

from tools.errors import InvalidInputError, ModelUnavailableError
from tools.grounding import Detection, Grounder, clean_phrases
from tools.loading import model_path
from tools.profiles import get_profile


@pytest.fixture(scope="module")
def grounder() -> Grounder:
    path = model_path(get_profile("tiny").grounding)
    return Grounder.from_pretrained(path, box_threshold=0.0, text_threshold=0.0)


def check_invariants(detections: list[Detection], size: tuple[int, int], phrases: set[str], cap: int) -> None:
    w, h = size
    assert len(detections) <= cap
    for d in detections:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, d.box
        assert 0.0 <= d.score <= 1.0
        assert d.label in phrases
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    if len(detections) > 1:  # class-agnostic NMS: no two kept boxes overlap by more than IoU 0.5
        iou = box_iou(torch.tensor([d.box for d in detections]), torch.tensor([d.box for d in detections]))
        assert (iou.triu(diagonal=1) <= 0.5 + 1e-6).all()


def test_tiny_build_loads_like_the_hub_checkpoint(tmp_path):
    from transformers import AutoProcessor, GroundingDinoForObjectDetection, GroundingDinoProcessor

    from tools.tiny import ensure

    folder = ensure("grounding-dino", tmp_path)
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    processor = AutoProcessor.from_pretrained(folder)
    assert isinstance(processor, GroundingDinoProcessor)
    model, info = GroundingDinoForObjectDetection.from_pretrained(folder, use_safetensors=True,
                                                                  output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert sum(p.numel() for p in model.parameters()) < 3_000_000
    # The model splits phrases at BERT-base's [CLS]/[SEP]/"." ids (hard-coded); the vocabulary must match.
    ids = processor.tokenizer("a cat. a remote control.")["input_ids"]
    assert ids[0] == 101 and ids[-1] == 102 and ids.count(1012) == 2
    assert processor.tokenizer.unk_token_id not in ids


def test_detect_on_a_photo_keeps_the_contract(grounder, coffee):
    detections = grounder.detect(coffee, ["a cup", "a remote control"], max_detections=7)
    assert detections, "threshold 0 keeps every box the model proposes"
    check_invariants(detections, coffee.size, {"a cup", "a remote control"}, cap=7)
    assert all(isinstance(d.box, tuple) and len(d.box) == 4 for d in detections)


def test_a_single_phrase_string_labels_every_box_with_it(grounder, chelsea):
    detections = grounder.detect(chelsea, " a cat. ")
    assert detections
    check_invariants(detections, chelsea.size, {"a cat"}, cap=20)


def test_odd_sized_and_elongated_images_work(grounder, chelsea):
    odd = chelsea.resize((333, 517))
    check_invariants(grounder.detect(odd, "a cat"), odd.size, {"a cat"}, cap=20)
    # a strip 30x wider than tall would shrink below the model's minimum input without padding
    strip = chelsea.resize((1200, 40))
    check_invariants(grounder.detect(strip, "a cat"), strip.size, {"a cat"}, cap=20)
    grey = chelsea.convert("L")
    check_invariants(grounder.detect(grey, "a cat"), grey.size, {"a cat"}, cap=20)


def test_box_threshold_filters_by_score(grounder, coffee):
    every = grounder.detect(coffee, "a cup", max_detections=100)
    cut = (every[0].score + every[-1].score) / 2
    kept = grounder.detect(coffee, "a cup", box_threshold=cut, max_detections=100)
    assert 0 < len(kept) < len(every)
    assert all(d.score > cut for d in kept)
    assert grounder.detect(coffee, "a cup", box_threshold=1.0) == []


def test_label_is_the_phrase_whose_tokens_score_highest(grounder, coffee):
    """Force the logits onto the token 'control': every box must be labelled with its phrase."""
    tokenizer = grounder.processor.tokenizer
    ids = tokenizer("a cat. a remote control.")["input_ids"]
    control = ids.index(tokenizer.convert_tokens_to_ids("control"))

    def steer(module, args, kwargs, output):
        text = torch.isfinite(output.logits)  # positions past the prompt stay -inf, as the model leaves them
        logits = torch.where(text, torch.full_like(output.logits, -6.0), output.logits)
        logits[..., control] = 4.0
        output.logits = logits
        return output

    handle = grounder.model.register_forward_hook(steer, with_kwargs=True)
    try:
        detections = grounder.detect(coffee, ["a cat", "a remote control"])
    finally:
        handle.remove()
    assert detections and {d.label for d in detections} == {"a remote control"}
    assert all(d.score == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item()) for d in detections)
    # a text threshold above every phrase token's score leaves no label, hence no box
    handle = grounder.model.register_forward_hook(steer, with_kwargs=True)
    try:
        assert grounder.detect(coffee, ["a cat", "a remote control"], text_threshold=0.99) == []
    finally:
        handle.remove()


def test_phrases_are_cleaned_and_deduplicated():
    assert clean_phrases("  a red   cup. ") == ["a red cup"]
    assert clean_phrases(["a cat", "A cat.", "a dog"]) == ["a cat", "a dog"]


@pytest.mark.parametrize("phrases", ["", "  . ", [], ["a cat", " "], [3]])
def test_empty_or_bad_phrases_are_rejected(grounder, coffee, phrases):
    with pytest.raises(InvalidInputError, match="phrase"):
        grounder.detect(coffee, phrases)


@pytest.mark.parametrize(("kwargs", "quoted"), [
    ({"box_threshold": 1.5}, "1.5"), ({"box_threshold": -0.1}, "-0.1"), ({"text_threshold": 2}, "2"),
    ({"max_detections": 0}, "0"),
])
def test_bad_settings_are_rejected_with_the_value(grounder, coffee, kwargs, quoted):
    with pytest.raises(InvalidInputError, match=quoted):
        grounder.detect(coffee, "a cup", **kwargs)


def test_bad_image_and_constructor_thresholds_are_rejected(grounder):
    with pytest.raises(InvalidInputError, match="PIL"):
        grounder.detect("coffee.png", "a cup")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="box_threshold"):
        Grounder(grounder.model, grounder.processor, placement=grounder.placement, box_threshold=3)


def test_long_prompts_are_rejected(grounder, coffee):
    phrases = [" ".join(f"w{i}x{j}" for j in range(3)) for i in range(120)]
    with pytest.raises(InvalidInputError, match="tokens"):
        grounder.detect(coffee, phrases)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="Grounding DINO"):
        Grounder.from_pretrained(tmp_path / "nowhere")



def test_boxes_are_in_pixels_of_the_original_image(grounder, coffee):
    def centre_half(module, args, kwargs, output):  # every query: centre (0.5, 0.5), half the size, sure of it
        output.pred_boxes = torch.full_like(output.pred_boxes, 0.5)
        logits = torch.full_like(output.logits, -1e4)  # positions past the prompt's tokens stay "no"
        logits[..., :kwargs["input_ids"].shape[-1]] = 10.0
        output.logits = logits
        return output

    handle = grounder.model.register_forward_hook(centre_half, with_kwargs=True)
    try:
        detections = grounder.detect(coffee.resize((600, 400)), "a cup")
    finally:
        handle.remove()
    assert len(detections) == 1  # identical boxes collapse under NMS
    assert detections[0].box == pytest.approx((150, 100, 450, 300), abs=0.5)


def _released_sized(grounder: Grounder, shortest_edge: int | None) -> Grounder:
    """The tiny model behind a processor that resizes as the released checkpoints do (800 / 1333)."""
    import copy

    processor = copy.deepcopy(grounder.processor)
    processor.image_processor.size = {"shortest_edge": 800, "longest_edge": 1333}
    return Grounder(grounder.model, processor, placement=grounder.placement, box_threshold=0.0,
                    text_threshold=0.0, shortest_edge=shortest_edge)


class _Recorder:
    """Wraps a model: keeps the pixel size it was given and its normalised (cx, cy, w, h) boxes."""

    def __init__(self, model) -> None:
        self.model, self.config, self.pixels, self.boxes = model, model.config, None, None

    def __call__(self, **inputs):
        out = self.model(**inputs)
        self.pixels, self.boxes = tuple(inputs["pixel_values"].shape[-2:]), out.pred_boxes[0].float().clone()
        return out


@pytest.mark.parametrize(("edge", "size", "seen"), [
    (None, (600, 400), (400, 600)),        # the released setting: a 600x400 photo is no longer made 1200x800
    (480, (600, 400), (400, 600)),         # lite: below its edge, the photo's own size
    (480, (1200, 800), (480, 720)),        # above it: brought down to a 480 shortest edge
    (800, (2400, 1600), (800, 1200)),
])
def test_a_photo_is_detected_at_its_own_scale_or_brought_down_never_up(grounder, chelsea, edge, size, seen):
    sized = _released_sized(grounder, edge)
    recorder = _Recorder(sized.model)
    sized.model = recorder
    photo = chelsea.resize(size)
    found = sized.detect(photo, "a cat", max_detections=5)
    assert recorder.pixels == seen
    # boxes come back in the photo's own pixels: the model's normalised boxes times its size
    cx, cy, w, h = recorder.boxes.unbind(-1)
    scale = torch.tensor([size[0], size[1], size[0], size[1]])
    expected = (torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * scale)
    expected[:, 0::2] = expected[:, 0::2].clamp(0, size[0])
    expected[:, 1::2] = expected[:, 1::2].clamp(0, size[1])
    assert found
    for d in found:
        assert torch.isclose(expected, torch.tensor(d.box), atol=0.01).all(dim=-1).any(), d.box


def test_the_detector_resolution_is_a_profile_setting():
    from tools.profiles import FULL, LITE

    assert (LITE.grounding_edge, FULL.grounding_edge) == (480, 800)
    with pytest.raises(InvalidInputError, match="shortest_edge must be an integer of at least 128"):
        Grounder(None, None, placement=None, shortest_edge=64)
