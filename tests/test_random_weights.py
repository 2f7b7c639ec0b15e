"""The random-weight configs describe the released full and lite models: they parse, and their sizes match."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import random_weights as rw  # noqa: E402

from tools.profiles import FULL, LITE, ROLES  # noqa: E402

# Parameter counts of the released checkpoints (hub model cards / safetensors metadata), in millions.
# SAM 2.1 counts are the whole checkpoint, video memory modules included (Sam2Model uses ~80% of it).
REAL_M = {
    "llava-onevision-qwen2-0.5b-ov-hf": 894.0,
    "llava-onevision-qwen2-7b-ov-hf": 8030.0,
    "grounding-dino-tiny": 172.0,
    "grounding-dino-base": 233.0,
    "sam2.1-hiera-tiny": 38.9,
    "sam2.1-hiera-large": 224.4,
}
REAL_COMPONENT_M = {
    ("stable-diffusion-v1-5", "unet"): 859.5,
    ("stable-diffusion-inpainting", "unet"): 859.5,
    ("instruct-pix2pix", "unet"): 859.5,
    ("stable-diffusion-xl-1.0-inpainting-0.1", "unet"): 2567.5,
    ("stable-diffusion-v1-5", "vae"): 83.7,
    ("stable-diffusion-xl-1.0-inpainting-0.1", "vae"): 83.7,
    ("stable-diffusion-v1-5", "text_encoder"): 123.1,
    ("stable-diffusion-xl-1.0-inpainting-0.1", "text_encoder"): 123.1,
    ("stable-diffusion-xl-1.0-inpainting-0.1", "text_encoder_2"): 694.7,
}
UNET_IN_CHANNELS = {"stable-diffusion-v1-5": 4, "stable-diffusion-inpainting": 9, "instruct-pix2pix": 8,
                    "stable-diffusion-xl-1.0-inpainting-0.1": 9}


def _millions(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def _on_meta(build):
    import torch

    with torch.device("meta"):
        return build()


def test_index_covers_every_role_of_full_and_lite_with_their_hub_models():
    table = rw.index()
    assert set(table) == {"full", "lite"}
    for profile in (FULL, LITE):
        assert set(table[profile.name]) == set(ROLES)
        for role in ROLES:
            entry = table[profile.name][role]
            assert entry["model_id"] == profile.spec(role).model_id
            assert (rw.CONFIGS / entry["folder"]).is_dir()
    # the same model is described once
    assert table["full"]["instruct"] == table["lite"]["instruct"]
    assert table["full"]["base"] == table["lite"]["base"]


def test_every_config_file_is_json():
    files = list(rw.CONFIGS.rglob("*.json"))
    assert len(files) > 30
    for path in files:
        json.loads(path.read_text())


@pytest.mark.parametrize("folder", sorted(REAL_M))
def test_transformers_models_parse_and_match_the_real_size(folder):
    from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, GroundingDinoForObjectDetection

    config = AutoConfig.from_pretrained(rw.CONFIGS / folder)
    build = {"llava_onevision": lambda: AutoModelForImageTextToText.from_config(config),
             "grounding-dino": lambda: GroundingDinoForObjectDetection(config),
             "sam2_video": lambda: AutoModel.from_config(config)}[config.model_type]
    model = _on_meta(build)
    assert _millions(model) == pytest.approx(REAL_M[folder], rel=0.02)


@pytest.mark.parametrize(("folder", "name"), sorted(REAL_COMPONENT_M))
def test_diffusers_components_parse_and_match_the_real_size(folder, name):
    import diffusers
    import transformers

    library, class_name = json.loads((rw.CONFIGS / folder / "model_index.json").read_text())[name]
    source = rw.CONFIGS / folder / name
    if library == "diffusers":
        cls = getattr(diffusers, class_name)
        model = _on_meta(lambda: cls.from_config(cls.load_config(source)))
    else:
        config = transformers.AutoConfig.from_pretrained(source)
        model = _on_meta(lambda: getattr(transformers, class_name)(config))
    assert _millions(model) == pytest.approx(REAL_COMPONENT_M[(folder, name)], rel=0.02)
    if name == "unet":
        assert model.config.in_channels == UNET_IN_CHANNELS[folder]


def test_every_pipeline_component_config_parses():
    import diffusers
    import transformers

    for index_file in rw.CONFIGS.glob("*/model_index.json"):
        for name, value in json.loads(index_file.read_text()).items():
            if not isinstance(value, list) or value[0] is None or name.startswith("tokenizer"):
                continue
            library, class_name = value
            source = index_file.parent / name
            if library == "diffusers":
                getattr(diffusers, class_name).load_config(source)
            elif name == "feature_extractor":
                getattr(transformers, class_name).from_pretrained(source)
            else:
                assert transformers.AutoConfig.from_pretrained(source).architectures == [class_name]


def test_processors_preprocess_like_the_released_models():
    from transformers import GroundingDinoImageProcessor, LlavaOnevisionImageProcessor, Sam2ImageProcessor

    llava = LlavaOnevisionImageProcessor.from_pretrained(rw.CONFIGS / "llava-onevision-qwen2-0.5b-ov-hf")
    assert dict(llava.size) == {"height": 384, "width": 384} and len(llava.image_grid_pinpoints) == 36
    assert list(llava.image_mean) == [0.5, 0.5, 0.5]  # SigLIP's, not CLIP's
    dino = GroundingDinoImageProcessor.from_pretrained(rw.CONFIGS / "grounding-dino-base")
    assert dict(dino.size) == {"shortest_edge": 800, "longest_edge": 1333}
    sam = Sam2ImageProcessor.from_pretrained(rw.CONFIGS / "sam2.1-hiera-large")
    assert dict(sam.size) == {"height": 1024, "width": 1024}


def test_random_profile_keeps_each_spec_but_the_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(rw, "build", lambda profile, role, root: Path(root) / f"{profile}-{role}")
    profile = rw.random_profile("full", tmp_path, roles=["planner", "inpainting"])
    assert profile.planner.model_id == str(tmp_path / "full-planner")
    assert profile.planner.quantize_4bit and profile.planner.family == FULL.planner.family
    assert profile.planner.vram_gb == FULL.planner.vram_gb
    assert profile.grounding == FULL.grounding  # not asked for: the hub model
    assert profile.steps == FULL.steps and "random weights" in profile.note


def test_unknown_profile_or_role_is_refused(tmp_path):
    from tools.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="tiny"):
        rw.build("tiny", "planner", tmp_path)
    with pytest.raises(InvalidInputError, match="roles are"):
        rw.build("lite", "painter", tmp_path)
