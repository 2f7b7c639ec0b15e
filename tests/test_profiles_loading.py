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
