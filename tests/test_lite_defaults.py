"""The lite profile's defaults are what the README says: precision per CPU, verification, sampling, the planner's
view of the photo and the detector's resolution (read from the README's own sentences, checked on lite)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tools import device
from tools.profiles import FULL, LITE

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGS = ROOT / "benchmarks" / "configs"
FLAGS = {"AMX": "fpu sse2 avx2 avx512f amx_bf16 amx_tile", "AVX512-BF16": "fpu sse2 avx2 avx512f avx512_bf16",
         None: "fpu sse2 avx2 avx512f avx512_vnni"}


def _prose() -> str:
    return " ".join(README.split())


@pytest.mark.parametrize("feature", ["AMX", "AVX512-BF16", None])
def test_lite_runs_bf16_where_the_cpu_flags_have_it_and_fp32_elsewhere(monkeypatch, feature):
    """The real reader of /proc/cpuinfo, fed a CPU's flags; the status line's label is the README's."""
    real_path = device.Path

    class FakeProc:
        def __init__(self, *parts):
            self.path = real_path(*parts)

        def read_text(self, *args, **kwargs):
            if str(self.path) == "/proc/cpuinfo":
                return f"processor\t: 0\nflags\t\t: {FLAGS[feature]}\n"
            return self.path.read_text(*args, **kwargs)

    monkeypatch.delenv(device.DTYPE_ENV, raising=False)
    monkeypatch.setattr(device, "Path", FakeProc)
    placement = device.resolve_placement("cpu", cpu_dtype=LITE.cpu_dtype)
    assert placement.dtype == (torch.bfloat16 if feature else torch.float32)
    assert "full and lite run in bf16" in _prose() and "elsewhere in fp32" in _prose()
    if feature != "AMX":                                # the README quotes the two labels a reader meets most
        assert f"`{placement.label}`" in _prose(), placement.label


def test_verification_is_off_on_lite_as_the_readme_says():
    assert "on for full, off for lite" in _prose()
    assert (LITE.verify, FULL.verify) == (False, True)


def test_lites_sampling_is_the_readmes():
    from tools.quality import sampling

    match = re.search(r"`balanced`[^|]*\| DPM-Solver\+\+ 2M, (\d+) steps", _prose())
    assert match and (LITE.scheduler, LITE.steps) == ("dpm++", int(match.group(1)))
    fast = sampling(LITE, "inpainting")                  # lite's quality: LCM-LoRA, 4 steps, no guidance
    assert (LITE.quality, fast.scheduler, fast.steps, fast.guidance_scale) == ("fast", "lcm", 4, 1.0)


def _lite_processor():
    """lite's planner processor from its configs (no weights): the random planner's Qwen2-style tokenizer."""
    import sys

    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from random_weights import qwen2_english_tokenizer
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    source = CONFIGS / "llava-onevision-qwen2-0.5b-ov-hf"
    settings = json.loads((source / "processor_config.json").read_text())
    images = LlavaOnevisionImageProcessor.from_pretrained(source)
    return LlavaOnevisionProcessor(
        image_processor=images, tokenizer=qwen2_english_tokenizer(),
        video_processor=LlavaOnevisionVideoProcessor(image_mean=images.image_mean, image_std=images.image_std),
        num_image_tokens=settings["num_image_tokens"],
        vision_feature_select_strategy=settings["vision_feature_select_strategy"],
        chat_template=settings["chat_template"])


def test_lites_planner_sees_a_600x400_photo_as_one_384_view_of_197_tokens(coffee):
    from tools.llava import Llava

    assert coffee.size == (600, 400)
    config = json.loads((CONFIGS / "llava-onevision-qwen2-0.5b-ov-hf" / "config.json").read_text())
    processor = _lite_processor()
    ask = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "remove the cup"}]}]
    counts = {}
    for mode in ("frame", "anyres"):
        ids = Llava(None, processor, image_mode=mode).encode(ask, [coffee])["input_ids"]
        counts[mode] = int(((ids == config["image_token_index"]) | (ids == config["video_token_index"])).sum())
    assert LITE.planner_image == "frame" and FULL.planner_image == "anyres"
    assert counts == {"frame": 197, "anyres": 2709}
    assert "one 384² view" in _prose() and "197 image tokens" in _prose() and "2,709 for a 600×400 photo" in _prose()


def test_lites_detector_sees_a_600x400_photo_at_its_own_size():
    from transformers import GroundingDinoImageProcessor

    from tools.grounding import Grounder

    match = re.search(r"\(800 for full, (\d+) for lite\)", _prose())
    assert match and LITE.grounding_edge == int(match.group(1)) and FULL.grounding_edge == 800
    processor = SimpleNamespace(image_processor=GroundingDinoImageProcessor.from_pretrained(
        CONFIGS / "grounding-dino-tiny"))
    grounder = Grounder(None, processor, placement=device.Placement("cpu", torch.float32),
                        shortest_edge=LITE.grounding_edge)
    assert grounder.input_size((600, 400))["shortest_edge"] == 400           # never up: not 1200x800
    assert grounder.input_size((1200, 800))["shortest_edge"] == LITE.grounding_edge
    assert "a 600×400 photo is detected at 600×400" in _prose()
