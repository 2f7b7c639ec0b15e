"""OneVision (the lite and full planners' family) on a small random build of lite's config: several images of one
prompt go in its multi-image form, one crop each, instead of one anyres grid per image."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from tools.device import Placement
from tools.llava import Llava

ROOT = Path(__file__).resolve().parent.parent
LITE_CONFIG = ROOT / "benchmarks" / "configs" / "llava-onevision-qwen2-0.5b-ov-hf"
SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}


@pytest.fixture(scope="module")
def onevision(tmp_path_factory) -> Llava:
    """lite's planner architecture (SigLIP 384/14, Qwen2, anyres_max_9) at a few hidden units, random weights."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from random_weights import _build_llava_onevision
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    source, folder = tmp_path_factory.mktemp("config"), tmp_path_factory.mktemp("onevision")
    for file in LITE_CONFIG.iterdir():
        shutil.copy(file, source / file.name)
    config = json.loads((source / "config.json").read_text())
    config["vision_config"].update(SMALL)
    config["text_config"].update(SMALL, num_key_value_heads=1)
    (source / "config.json").write_text(json.dumps(config))
    _build_llava_onevision(source, folder)
    return Llava.from_pretrained(folder, placement=Placement("cpu", torch.float32))


def _ask(count: int) -> list[dict]:
    return [{"role": "user", "content": [*({"type": "image"} for _ in range(count)), {"type": "text", "text": "?"}]}]


def _image_tokens(llava: Llava, images) -> int:
    ids = llava.encode(_ask(len(images)), images)["input_ids"]
    config = llava.model.config
    return int(((ids == config.image_token_index) | (ids == config.video_token_index)).sum())


def test_a_before_after_pair_is_one_multi_image_prompt_at_one_crop_each(onevision, coffee):
    assert onevision.multi_image
    after = coffee.transpose(0)
    single = _image_tokens(onevision, [coffee])
    pair = _image_tokens(onevision, [coffee, after])
    assert single > 729 * 2                       # one photo alone: the anyres grid (base + crops)
    assert pair <= 2 * (729 + 27)                 # the pair: 729 tokens (+ a newline row at most) each
    assert onevision.image_input([coffee, after]) == [[coffee, after]]
    assert onevision.image_input([coffee]) == [coffee] and onevision.image_input([]) is None


def test_the_pair_generates_a_reply(onevision, coffee):
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "image"},
                                                 {"type": "text", "text": "did it change?"}]}]
    reply = onevision.generate(conversation, [coffee, coffee.transpose(0)], max_new_tokens=3, min_new_tokens=3)
    assert reply.new_tokens == 3


def test_the_tiny_llava_keeps_its_flat_image_list(tiny_profile, coffee):
    tiny = Llava.from_pretrained(tiny_profile.planner, placement=Placement("cpu", torch.float32))
    assert not tiny.multi_image and tiny.image_input([coffee, coffee]) == [coffee, coffee]


def test_in_frame_mode_one_photo_is_one_384_view_of_197_tokens(onevision, coffee):
    framed = Llava(onevision.model, onevision.processor, image_mode="frame")
    assert _image_tokens(framed, [coffee]) == 197 < _image_tokens(onevision, [coffee])
    assert _image_tokens(framed, [coffee, coffee]) == _image_tokens(onevision, [coffee, coffee])   # a pair: as before
    reply = framed.generate(_ask(1), [coffee], max_new_tokens=3, min_new_tokens=3)
    assert reply.new_tokens == 3


def test_lite_shows_its_planner_one_view_and_full_the_whole_grid(tiny_profile, coffee):
    from dataclasses import replace

    from agent.planner import load_planner
    from tools.errors import InvalidInputError
    from tools.profiles import FULL, LITE

    assert (LITE.planner_image, FULL.planner_image, tiny_profile.planner_image) == ("frame", "anyres", "anyres")
    planner = load_planner(replace(tiny_profile, planner_image="frame"), Placement("cpu", torch.float32))
    assert planner.llava.image_mode == "frame"
    plain = Llava(planner.llava.model, planner.llava.processor)
    assert planner.llava.encode(_ask(1), [coffee])["input_ids"].shape == \
        plain.encode(_ask(1), [coffee])["input_ids"].shape          # the tiny LLaVA is not OneVision: no frame
    with pytest.raises(InvalidInputError, match="image_mode must be one of anyres, frame"):
        Llava(None, None, image_mode="tiles")


def test_the_cached_system_turn_gives_the_same_reply_on_onevision(onevision, coffee):
    framed = Llava(onevision.model, onevision.processor, image_mode="frame")
    conversation = [{"role": "system", "content": [{"type": "text", "text": "You plan edits. " * 40}]}, *_ask(1)]
    framed.cache_prefix = False
    whole = framed.generate(conversation, [coffee], max_new_tokens=8, min_new_tokens=8)
    framed.cache_prefix = True
    assert framed.prefix_cache(conversation, framed.encode(conversation, [coffee])["input_ids"]) is not None
    assert framed.generate(conversation, [coffee], max_new_tokens=8, min_new_tokens=8) == whole
