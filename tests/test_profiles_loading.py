"""Profiles resolve as documented, and a missing model is a one-line error that says how to get it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.errors import ModelUnavailableError
from tools.loading import is_cached, model_path, resolve_profile
from tools.profiles import PROFILES, ROLES, ModelSpec, get_profile


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


def test_profiles_are_plain_data_that_never_import_the_loader():
    code = "import sys, tools.profiles; print('tools.loading' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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


def _partial_hub_download(cache: Path, model_id: str) -> Path:
    """An HF cache entry the way an interrupted download leaves it: the config, no weights."""
    snapshot = cache / f"models--{model_id.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "grounding-dino"}')
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    return snapshot


def test_a_hub_model_with_only_its_config_cached_is_not_cached_and_says_hf_download(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    model_id = "IDEA-Research/grounding-dino-tiny"
    snapshot = _partial_hub_download(tmp_path, model_id)
    assert not is_cached(model_id)  # so `auto` falls back to tiny instead of failing later
    with pytest.raises(ModelUnavailableError) as info:
        model_path(ModelSpec(model_id, "grounding-dino"))
    message = str(info.value)
    assert f"hf download {model_id}" in message and "save_pretrained" not in message and "\n" not in message
    (snapshot / "model.safetensors").write_bytes(b"weights")
    assert is_cached(model_id)


@pytest.mark.parametrize(("endpoint", "address"), [
    (None, ("huggingface.co", 443)),
    ("https://hf-mirror.example:8443", ("hf-mirror.example", 8443)),
    ("http://localhost:8080/", ("localhost", 8080)),
    ("http://hf.internal", ("hf.internal", 80)),
])
def test_hub_reachable_dials_the_endpoint_host_and_port(monkeypatch, endpoint, address):
    import contextlib

    from tools.loading import hub_reachable

    dialled = []
    monkeypatch.setattr("socket.create_connection",
                        lambda addr, timeout: dialled.append(addr) or contextlib.nullcontext())
    if endpoint is None:
        monkeypatch.delenv("HF_ENDPOINT", raising=False)
    else:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
    assert hub_reachable()
    assert dialled == [address]


def _tiny(family_role: str) -> Path:
    return model_path(get_profile("tiny").spec(family_role))


def _corrupt_copy(tmp_path: Path, role: str) -> Path:
    import shutil

    folder = shutil.copytree(_tiny(role), tmp_path / f"corrupt-{role}")
    for weights in folder.rglob("*.safetensors"):
        weights.write_bytes(b"garbage" * 10)  # "header too large" to the safetensors reader
    return folder


@pytest.mark.parametrize(("loader", "folder", "expected"), [
    ("segmentation", "corrupt:segmentation", "SAM 2"),
    ("grounding", "corrupt:grounding", "Grounding DINO"),
    ("grounding", "segmentation", "Grounding DINO"),       # a SAM 2 folder given as grounding
    ("segmentation", "grounding", "SAM 2"),
    ("planner", "segmentation", "planner model"),
    ("base", "inpainting", "Stable Diffusion text-to-image"),  # would fail later: 9 UNet channels vs 4
    ("inpainting", "base", "sd-inpaint"),
    ("instruct", "inpainting", "InstructPix2Pix"),
    ("inpainting", "segmentation", "sd-inpaint"),         # not a diffusers folder at all
])
def test_a_corrupt_or_wrong_model_folder_is_a_one_line_error_naming_it_and_the_kind(tmp_path, loader, folder,
                                                                                     expected):
    from tools.device import resolve_placement
    from tools.diffedit import DiffEdit
    from tools.grounding import Grounder
    from tools.inpainting import Inpainter
    from tools.instruct import InstructEditor
    from tools.llava import Llava
    from tools.segmentation import Segmenter

    path = _corrupt_copy(tmp_path, folder.split(":")[1]) if folder.startswith("corrupt:") else _tiny(folder)
    cpu = resolve_placement("cpu")
    load = {"segmentation": lambda: Segmenter.from_pretrained(path, placement=cpu),
            "grounding": lambda: Grounder.from_pretrained(path, placement=cpu),
            "planner": lambda: Llava.from_pretrained(path, placement=cpu),
            "base": lambda: DiffEdit.from_pretrained(path, placement=cpu),
            "inpainting": lambda: Inpainter.from_pretrained(path, placement=cpu, family="sd-inpaint"),
            "instruct": lambda: InstructEditor.from_pretrained(path, placement=cpu)}[loader]
    with pytest.raises(ModelUnavailableError) as info:
        load()
    message = str(info.value)
    assert "\n" not in message and str(path) in message and expected in message
