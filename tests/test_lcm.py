"""LCM-LoRA and the quality presets on the tiny models: diffusers' LoRA loader, LCMScheduler, no CFG, exact paste-back."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tools.errors import InvalidInputError, ModelUnavailableError
from tools.inpainting import Inpainter
from tools.loading import model_path
from tools.masks import box_mask
from tools.profiles import FULL, LITE, TINY, ModelSpec
from tools.quality import QUALITIES, apply_quality, sampling


def _inpainter() -> Inpainter:
    return Inpainter.from_pretrained(model_path(TINY.inpainting), family="sd-inpaint")


@pytest.fixture(scope="module")
def lora() -> Path:
    return model_path(TINY.lcm_lora)


@pytest.fixture
def photo() -> tuple[Image.Image, np.ndarray]:
    from tools.samples import sample_image

    image = sample_image("coffee").resize((150, 100))
    return image, box_mask((60, 30, 100, 70), (100, 150))


def _unet_batches(inpainter: Inpainter) -> tuple[list[int], object]:
    batches: list[int] = []
    handle = inpainter.pipe.unet.register_forward_pre_hook(lambda _m, args: batches.append(args[0].shape[0]))
    return batches, handle


def test_the_tiny_lora_is_a_diffusers_lora_file_of_attention_layers(lora: Path) -> None:
    from safetensors.torch import load_file

    weights = load_file(lora / "pytorch_lora_weights.safetensors")
    assert weights and all(k.startswith("unet.") and ".attn" in k and "lora" in k for k in weights)
    ups = [v for k, v in weights.items() if "up" in k]
    assert ups and all(v.abs().max() > 0 for v in ups)      # random B: the LoRA changes the model


def test_fused_lora_changes_the_unet_and_leaves_plain_layers(lora: Path) -> None:
    from diffusers import LCMScheduler

    from tools.lora import load_lcm_lora

    plain, adapted = _inpainter(), _inpainter()
    load_lcm_lora(adapted.pipe, lora)
    assert isinstance(adapted.pipe.scheduler, LCMScheduler)
    assert adapted.pipe.get_list_adapters() == {}            # fused, then the adapter layers were removed
    to_q = adapted.pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q
    assert type(to_q) is torch.nn.Linear
    x, t, text = torch.randn(1, 9, 32, 32), torch.tensor([500]), torch.randn(1, 77, 32)
    with torch.inference_mode():
        before = plain.pipe.unet(x, t, encoder_hidden_states=text).sample
        after = adapted.pipe.unet(x, t, encoder_hidden_states=text).sample
    assert (after - before).abs().max() > 1e-3


def test_unfused_lora_gives_the_same_unet_output_as_fused(lora: Path) -> None:
    from tools.lora import load_lcm_lora

    fused, unfused = _inpainter(), _inpainter()
    load_lcm_lora(fused.pipe, lora)
    load_lcm_lora(unfused.pipe, lora, fuse=False)
    assert unfused.pipe.get_list_adapters() == {"unet": ["lcm"]}
    x, t, text = torch.randn(1, 9, 32, 32), torch.tensor([500]), torch.randn(1, 77, 32)
    with torch.inference_mode():
        a = fused.pipe.unet(x, t, encoder_hidden_states=text).sample
        b = unfused.pipe.unet(x, t, encoder_hidden_states=text).sample
    assert torch.allclose(a, b, atol=1e-4)


def test_fast_quality_runs_lcm_four_steps_without_cfg_and_keeps_outside_pixels(
        photo: tuple[Image.Image, np.ndarray]) -> None:
    from diffusers import LCMScheduler

    image, mask = photo
    fast, plain = _inpainter(), _inpainter()
    chosen = apply_quality(fast, replace(TINY, quality="fast"))
    assert (chosen.scheduler, chosen.steps, chosen.guidance_scale, chosen.lcm_lora) == ("lcm", 4, 1.0, True)
    assert isinstance(fast.pipe.scheduler, LCMScheduler)
    assert (fast.default_steps, fast.default_guidance) == (4, 1.0)
    batches, handle = _unet_batches(fast)
    calls: list[tuple[int, int]] = []
    try:
        result = fast.inpaint(image, mask, "a red cup", steps=4, guidance_scale=None, seed=3,
                              progress=lambda s, n: calls.append((s, n)))
    finally:
        handle.remove()
    assert batches == [1, 1, 1, 1]                            # guidance 1: no unconditional half
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    diff = np.abs(np.asarray(result.image, dtype=np.int16) - np.asarray(image, dtype=np.int16)).max(axis=2)
    assert diff[~result.region].max() == 0 and diff[mask].mean() > 5
    # the same LCM sampling without the LoRA paints other pixels: the adapter is in the path
    plain.pipe.scheduler = LCMScheduler.from_config(plain.pipe.scheduler.config)
    without = plain.inpaint(image, mask, "a red cup", steps=4, guidance_scale=1.0, seed=3)
    assert not np.array_equal(np.asarray(without.image), np.asarray(result.image))


def test_the_toolkit_applies_the_quality_to_every_inpainting_edit(photo: tuple[Image.Image, np.ndarray]) -> None:
    from tools.device import resolve_placement
    from tools.toolkit import Toolkit

    image, mask = photo
    kit = Toolkit(replace(TINY, quality="fast"), resolve_placement("cpu", "float32"))
    calls: list[tuple[int, int]] = []
    result = kit.remove(image, mask, progress=lambda s, n: calls.append((s, n)))
    assert type(kit.inpainter.pipe.scheduler).__name__ == "LCMScheduler" and calls[-1] == (4, 4)
    assert np.array_equal(np.asarray(result.image)[~result.region], np.asarray(image)[~result.region])
    best = Toolkit(replace(TINY, quality="best"), resolve_placement("cpu", "float32"))
    assert best.inpainter.working == "native" and best.inpainter.default_steps == 30
    assert type(best.instruct_editor.pipe.scheduler).__name__ == "DDIMScheduler"   # the model's own


def test_presets_per_profile_and_role() -> None:
    fast = sampling(LITE, "inpainting")
    assert LITE.quality == "fast" and (fast.scheduler, fast.steps, fast.guidance_scale) == ("lcm", 4, 1.0)
    assert sampling(LITE, "instruct") == sampling(replace(LITE, quality="balanced"), "instruct")  # no LCM for IP2P
    balanced = sampling(replace(LITE, quality="balanced"), "inpainting")
    assert (balanced.scheduler, balanced.steps, balanced.guidance_scale, balanced.lcm_lora) == ("dpm++", 20, 7.5, False)
    best = sampling(replace(LITE, quality="best"), "inpainting")
    assert (best.scheduler, best.steps, best.working) == ("default", 30, "native")
    assert not sampling(replace(FULL, quality="fast"), "inpainting").lcm_lora      # full has no LCM-LoRA
    assert not sampling(LITE, "inpainting", family="sdxl-inpaint").lcm_lora        # an SDXL engine gets none
    assert TINY.quality == "balanced" and QUALITIES == ("fast", "balanced", "best")
    with pytest.raises(InvalidInputError, match="'turbo'.*fast, balanced, best"):
        sampling(replace(LITE, quality="turbo"), "inpainting")


def test_a_missing_lora_offline_is_one_line_naming_the_way_out(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    import huggingface_hub.constants

    from tools.quality import lcm_lora_path

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))   # an empty cache
    with pytest.raises(ModelUnavailableError) as caught:
        lcm_lora_path(LITE)
    message = str(caught.value)
    assert "\n" not in message and "latent-consistency/lcm-lora-sdv1-5" in message
    assert "hf download" in message and "--quality balanced" in message


def test_a_lora_that_does_not_fit_or_is_missing_is_refused_in_one_line(lora: Path, tmp_path: Path) -> None:
    from tools.lora import load_lcm_lora

    sdxl = Inpainter.from_pretrained(model_path(ModelSpec("tiny/sdxl-inpaint", "sdxl-inpaint")), family="sdxl-inpaint")
    with pytest.raises(ModelUnavailableError, match="cannot load an LCM-LoRA") as caught:
        load_lcm_lora(sdxl.pipe, lora)                  # cross-attention 64 wide, the LoRA's is 32
    assert "\n" not in str(caught.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelUnavailableError, match="no .safetensors"):
        load_lcm_lora(sdxl.pipe, empty)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(lora / "pytorch_lora_weights.safetensors", renamed / "lcm.safetensors")
    plain = _inpainter()
    load_lcm_lora(plain.pipe, renamed)                  # any one safetensors file is taken
    assert type(plain.pipe.scheduler).__name__ == "LCMScheduler"


def test_quality_reaches_the_editor_and_every_command_line(tmp_path: Path) -> None:
    import tui
    from agent.editor import Editor
    from agent.scripted.runner import build_parser as run_parser
    from tests.agent_fakes import QueuePlanner
    from tools.cli import build_parser as edit_parser

    editor = Editor.open("coffee", profile="tiny", session_dir=tmp_path / "s", planner=QueuePlanner(), quality="fast")
    try:
        assert editor.profile.quality == "fast" and editor.toolkit.profile.quality == "fast"
        assert type(editor.toolkit.inpainter.pipe.scheduler).__name__ == "LCMScheduler"
    finally:
        editor.close()
    with pytest.raises(InvalidInputError, match="'turbo'"):
        Editor.open("coffee", profile="tiny", session_dir=tmp_path / "t", planner=QueuePlanner(), quality="turbo")
    assert tui.build_parser().parse_args(["--quality", "best"]).quality == "best"
    assert run_parser().parse_args(["x.yaml", "--quality", "balanced"]).quality == "balanced"
    assert edit_parser().parse_args(["coffee", "--remove", "--quality", "fast"]).quality == "fast"
    with pytest.raises(SystemExit):
        tui.build_parser().parse_args(["--quality", "turbo"])


def test_chatedit_edit_quality_fast_runs_four_lcm_steps(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tools.cli import main

    out = tmp_path / "out.png"
    assert main(["coffee", "--profile", "tiny", "--box", "200,100,320,220", "--remove", "--quality", "fast",
                 "-o", str(out)]) == 0
    assert out.is_file() and "step 4/4" in capsys.readouterr().err


def test_a_local_lora_folder_with_only_its_weights_file_is_accepted(lora: Path, tmp_path: Path) -> None:
    """``latent-consistency/lcm-lora-sdv1-5`` ships ``pytorch_lora_weights.safetensors`` and no config.json."""
    folder = tmp_path / "lcm-lora-sdv1-5"
    folder.mkdir()
    shutil.copy(lora / "pytorch_lora_weights.safetensors", folder)
    assert model_path(ModelSpec(str(folder), "lcm-lora")) == folder
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        model_path(ModelSpec(str(folder), "sd-inpaint"))     # a model folder still needs its config
