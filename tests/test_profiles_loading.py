"""Profiles resolve as documented, and a missing model is a one-line error that says how to get it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.errors import ModelUnavailableError
from tools.loading import is_cached, model_path
from tools.profiles import PROFILES, ROLES, ModelSpec, get_profile, resolve_profile


def test_every_profile_names_a_model_for_every_role():
    for profile in PROFILES.values():
        assert set(profile.model_ids()) == set(ROLES)
        assert all(profile.model_ids().values())


def test_full_profile_quantizes_only_the_planner():
    full = get_profile("full")
    assert full.planner.quantize_4bit
    assert not any(spec.quantize_4bit for role, spec in full.specs().items() if role != "planner")


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown profile 'huge'.*auto, full, lite, tiny"):
        get_profile("huge")


def test_auto_falls_back_to_tiny_offline_with_a_banner_that_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    profile = resolve_profile("auto", cuda=False)
    assert profile.name == "tiny"
    assert "lite wanted" in profile.note and "HF_HUB_OFFLINE" in profile.note
    assert "\n" not in profile.note
    profile = resolve_profile("auto", cuda=True)
    assert profile.name == "tiny" and "full wanted" in profile.note


def test_auto_picks_lite_on_cpu_when_its_models_are_cached(monkeypatch):
    monkeypatch.setattr("tools.loading.is_cached", lambda model_id: True)
    assert resolve_profile("auto", cuda=False).name == "lite"
    assert resolve_profile("auto", cuda=True).name == "full"


def test_named_profile_is_taken_as_asked():
    assert resolve_profile("lite").name == "lite"


@pytest.mark.parametrize("role", ["planner", "grounding", "inpainting"])
def test_uncached_hub_model_offline_is_one_line_naming_the_model_and_the_way_out(monkeypatch, role):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = get_profile("full").spec(role)
    assert not is_cached(spec.model_id)
    with pytest.raises(ModelUnavailableError) as info:
        model_path(spec)
    message = str(info.value)
    assert "\n" not in message
    assert spec.model_id in message
    assert "--profile tiny" in message and f"hf download {spec.model_id}" in message


def test_bad_local_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        model_path(ModelSpec(str(tmp_path / "nowhere"), "sam2"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        model_path(ModelSpec(str(tmp_path / "empty"), "sam2"))


def test_folder_with_pickled_weights_only_is_refused(tmp_path: Path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded, ever")
    with pytest.raises(ModelUnavailableError, match="safetensors"):
        model_path(ModelSpec(str(folder), "sam2"))


def test_unknown_tiny_family_is_a_clear_error():
    with pytest.raises(ModelUnavailableError, match="no tiny model for family 'nope'"):
        model_path(ModelSpec("tiny/nope", "nope"))


def test_download_patterns_fetch_safetensors_only_and_one_precision():
    from fnmatch import fnmatch

    from tools.loading import download_patterns

    def fetched(patterns: dict, name: str) -> bool:
        allowed = any(fnmatch(name, p) for p in patterns.get("allow_patterns", ["*"]))
        return allowed and not any(fnmatch(name, p) for p in patterns.get("ignore_patterns", []))

    full, half = download_patterns("sdxl-inpaint"), download_patterns("sdxl-inpaint", fp16=True)
    assert fetched(full, "unet/diffusion_pytorch_model.safetensors")
    assert not fetched(full, "unet/diffusion_pytorch_model.fp16.safetensors")
    assert fetched(half, "unet/diffusion_pytorch_model.fp16.safetensors")
    assert not fetched(half, "unet/diffusion_pytorch_model.safetensors")
    for patterns in (full, half):
        assert fetched(patterns, "model_index.json") and fetched(patterns, "tokenizer/vocab.json")
        assert not fetched(patterns, "sd_xl_base_1.0_inpainting_0.1.safetensors")   # the single-file checkpoint
        assert not fetched(patterns, "unet/diffusion_pytorch_model.bin")
    llava = download_patterns("llava-onevision", fp16=True)
    assert fetched(llava, "model-00001-of-00004.safetensors") and not fetched(llava, "pytorch_model.bin")


def test_an_fp16_variant_folder_loads_and_inpaints(tmp_path, coffee):
    import numpy as np
    from diffusers import StableDiffusionInpaintPipeline

    from tools.inpainting import Inpainter
    from tools.loading import diffusers_variant

    tiny = model_path(get_profile("tiny").inpainting)
    assert diffusers_variant(tiny) is None
    pipe = StableDiffusionInpaintPipeline.from_pretrained(tiny, use_safetensors=True, safety_checker=None,
                                                          requires_safety_checker=False)
    half = tmp_path / "fp16"
    pipe.save_pretrained(half, variant="fp16", safe_serialization=True)
    assert diffusers_variant(half) == "fp16"
    mask = np.zeros((coffee.height, coffee.width), bool)
    mask[100:200, 200:300] = True
    result = Inpainter.from_pretrained(half, family="sd-inpaint").inpaint(coffee, mask, "a teapot", steps=2)
    assert result.image.size == coffee.size
