"""CPU precision: the dtype choice per CPU and profile, and every model family's outputs in bf16 against fp32
on the tiny random-weight checkpoints (finite, and close where closeness means something)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tools.device as device
from tools.device import Placement, cpu_bf16_feature, resolve_placement
from tools.errors import InvalidInputError
from tools.loading import model_path
from tools.profiles import FULL, LITE, TINY

FP32 = Placement("cpu", torch.float32)
BF16 = Placement("cpu", torch.bfloat16)

SAPPHIRE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
ICELAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
COOPERLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"


def test_the_bf16_feature_is_read_from_the_cpu_flags():
    assert cpu_bf16_feature(SAPPHIRE) == "AMX"
    assert cpu_bf16_feature(COOPERLAKE) == "AVX512-BF16"
    assert cpu_bf16_feature(ICELAKE) is None
    assert cpu_bf16_feature("") is None


@pytest.mark.parametrize(("cpuinfo", "dtype", "label"), [
    (COOPERLAKE, torch.bfloat16, "CPU bf16 (AVX512-BF16)"),
    (SAPPHIRE, torch.bfloat16, "CPU bf16 (AMX)"),
    (ICELAKE, torch.float32, "CPU fp32 (no AVX512-BF16 or AMX)"),
])
def test_the_lite_profile_picks_bf16_exactly_when_the_cpu_has_it(monkeypatch, cpuinfo, dtype, label):
    monkeypatch.delenv(device.DTYPE_ENV, raising=False)
    monkeypatch.setattr(device, "cpu_bf16_feature", lambda: cpu_bf16_feature(cpuinfo))
    for profile in (LITE, FULL):
        placement = resolve_placement("cpu", cpu_dtype=profile.cpu_dtype)
        assert (placement.dtype, placement.label) == (dtype, label)
    tiny = resolve_placement("cpu", cpu_dtype=TINY.cpu_dtype)      # tests compare pixels: tiny stays fp32
    assert tiny.dtype == torch.float32 and tiny.label == "CPU fp32 (profile)"


def test_the_toolkit_places_models_by_the_profile(monkeypatch):
    from tools.toolkit import Toolkit

    monkeypatch.delenv(device.DTYPE_ENV, raising=False)
    monkeypatch.setattr(device, "cpu_bf16_feature", lambda: "AVX512-BF16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert Toolkit(LITE).placement.dtype == torch.bfloat16
    assert Toolkit(TINY).placement.dtype == torch.float32


def test_the_environment_and_an_explicit_dtype_override_the_profile(monkeypatch):
    monkeypatch.setattr(device, "cpu_bf16_feature", lambda: "AVX512-BF16")
    monkeypatch.setenv(device.DTYPE_ENV, "float32")
    assert resolve_placement("cpu", cpu_dtype="auto").label == "CPU fp32 (CHATEDIT_DTYPE)"
    assert resolve_placement("cpu", "bf16", cpu_dtype="float32").label == "CPU bf16 (asked for)"
    monkeypatch.setenv(device.DTYPE_ENV, "half-ish")
    with pytest.raises(InvalidInputError, match="CHATEDIT_DTYPE must be float16, bfloat16 or float32"):
        resolve_placement("cpu")
    monkeypatch.delenv(device.DTYPE_ENV)
    with pytest.raises(InvalidInputError, match="cpu_dtype must be one of"):
        resolve_placement("cpu", cpu_dtype="int8")


def test_chatedit_edit_takes_a_dtype_flag():
    from tools.cli import build_parser

    args = build_parser().parse_args(["coffee", "--remove", "--box", "0,0,9,9", "--dtype", "bfloat16"])
    assert args.dtype == "bfloat16"


# ---------------------------------------------------------------- each family in bf16 (tiny weights)


def test_the_planner_gives_the_same_next_token_in_bf16(coffee):
    from tools.llava import Llava

    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe it"}]}]
    logits = {}
    for placement in (FP32, BF16):
        llava = Llava.from_pretrained(TINY.planner, placement=placement)
        model = llava.loaded_model()
        assert model.dtype == placement.dtype
        inputs = llava.processor(text=llava.render(conversation), images=[coffee], return_tensors="pt")
        inputs = {k: v.to(model.dtype) if v.is_floating_point() else v for k, v in inputs.items()}
        with torch.inference_mode():
            logits[placement.dtype] = model(**inputs).logits[0, -1].float()
        assert llava.generate(conversation, [coffee], max_new_tokens=4).new_tokens > 0
    full, half = logits[torch.float32], logits[torch.bfloat16]
    assert torch.isfinite(half).all()
    assert (full - half).abs().max() <= 0.03 * full.abs().max()     # measured: 0.5%
    assert int(full.argmax()) == int(half.argmax())


def test_grounding_dino_stays_fp32_when_asked_for_bf16_on_the_cpu(coffee):
    """bf16 Grounding DINO returned NaN boxes on some CPUs (tools.grounding.fp32_on_cpu says where): asked for
    bf16 on the CPU, the grounder loads in fp32 and finds exactly what an fp32 grounder finds."""
    from tools.grounding import Grounder

    found = {}
    for placement in (FP32, BF16):
        grounder = Grounder.from_pretrained(TINY.grounding, placement=placement, box_threshold=0.0,
                                            text_threshold=0.0)
        assert grounder.placement.dtype == torch.float32 and grounder.model.dtype == torch.float32
        found[placement.dtype] = grounder.detect(coffee, "a cup")
    assert "NaN" in Grounder.from_pretrained(TINY.grounding, placement=BF16).placement.dtype_reason
    full, asked_bf16 = found[torch.float32], found[torch.bfloat16]
    assert asked_bf16 and all(np.isfinite(d.box).all() and 0 <= d.score <= 1 for d in asked_bf16)
    assert [(d.label, d.score) for d in asked_bf16] == [(d.label, d.score) for d in full]
    assert all(np.array_equal(a.box, b.box) for a, b in zip(asked_bf16, full))


def test_sam2_masks_agree_in_bf16(coffee):
    from tools.segmentation import Segmenter

    results = {}
    for placement in (FP32, BF16):
        segmenter = Segmenter.from_pretrained(TINY.segmentation, placement=placement)
        segmenter.set_image(coffee)
        results[placement.dtype] = segmenter.predict(boxes=[(100, 100, 300, 250)])
    full, half = results[torch.float32], results[torch.bfloat16]
    assert np.isfinite(half.scores).all()
    assert (full.masks == half.masks).mean() >= 0.97                 # measured: 99.2% of pixels
    assert abs(float(full.scores[0]) - float(half.scores[0])) <= 0.05


def _in_fp32_and_bf16(make) -> tuple[np.ndarray, np.ndarray]:
    """What `make(placement)` returns, as float arrays, in fp32 and in bf16."""
    return tuple(np.asarray(make(p), dtype=np.float64) for p in (FP32, BF16))


def test_sd_inpainting_in_bf16_paints_the_same_picture_within_a_few_levels(coffee):
    from tools.inpainting import Inpainter

    mask = np.zeros((coffee.height, coffee.width), dtype=bool)
    mask[100:250, 100:300] = True

    regions = []

    def paint(placement: Placement):
        painter = Inpainter.from_pretrained(model_path(TINY.inpainting), placement=placement)
        assert painter.pipe.unet.dtype == placement.dtype
        result = painter.inpaint(coffee, mask, "a plant", steps=2, seed=1)
        regions.append(result.region)
        return result.image

    full, half = _in_fp32_and_bf16(paint)
    region = regions[0]
    assert (regions[1] == region).all()
    assert full[region].std() > 10                                    # a real picture, not a flat fill
    assert np.abs(full - half)[region].mean() <= 6                    # measured: 1.5 of 255
    assert (full[~region] == half[~region]).all()                     # outside: the input, bit for bit


def test_instruct_pix2pix_in_bf16_edits_the_same_picture_within_a_few_levels(coffee):
    from tools.instruct import InstructEditor

    def edit(placement: Placement):
        editor = InstructEditor.from_pretrained(model_path(TINY.instruct), placement=placement)
        assert editor.pipe.unet.dtype == placement.dtype
        return editor.edit(coffee, "make it autumn", steps=2, seed=1).image

    full, half = _in_fp32_and_bf16(edit)
    assert full.std() > 10
    assert np.abs(full - half).mean() <= 6                            # measured: 1.1 of 255


def test_diffedit_in_bf16_keeps_its_region_and_stays_near_fp32(coffee):
    """DiffEdit inverts the photo step by step, so bf16 rounding adds up more than in one denoising pass."""
    from tools.diffedit import DiffEdit

    mask = np.zeros((coffee.height, coffee.width), dtype=bool)
    mask[100:250, 100:300] = True
    regions = []

    def edit(placement: Placement):
        model = DiffEdit.from_pretrained(model_path(TINY.base), placement=placement)
        result = model.edit(coffee, "a cup", "a vase", mask=mask, steps=3, strength=0.7)
        regions.append(result.region)
        return result.image

    full, half = _in_fp32_and_bf16(edit)
    region = regions[0]
    assert (regions[1] == region).all() and full[region].std() > 10
    assert np.abs(full - half)[region].mean() <= 25                   # measured: 12.7 of 255
    assert (full[~region] == half[~region]).all()
