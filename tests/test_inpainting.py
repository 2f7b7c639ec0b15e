"""Inpainting on the tiny models, loaded through the production path: exact paste-back, crops, progress, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from tests.diffusion_helpers import pixel_diff
from tools.errors import Cancelled, InvalidInputError
from tools.inpainting import Inpainter, context_crop
from tools.masks import box_mask


def _mask(image: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    return box_mask(box, (image.height, image.width))


def test_tiny_sdxl_inpaint_builds_and_reloads_through_the_production_path(coffee: Image.Image) -> None:
    from diffusers import StableDiffusionXLInpaintPipeline

    from tools.loading import model_path
    from tools.profiles import ModelSpec

    inpainter = Inpainter.from_pretrained(model_path(ModelSpec("tiny/sdxl-inpaint", "sdxl-inpaint")),
                                          family="sdxl-inpaint")
    assert isinstance(inpainter.pipe, StableDiffusionXLInpaintPipeline)
    assert inpainter.pipe.unet.config.in_channels == 9 and inpainter.pipe.text_encoder_2 is not None
    mask = _mask(coffee, (200, 100, 320, 220))  # the cup of the real photo
    result = inpainter.inpaint(coffee, mask, "a red cup", steps=2)
    assert result.image.size == coffee.size and result.region[mask].all()
    assert pixel_diff(coffee, result.image)[~result.region].max() == 0
    assert pixel_diff(coffee, result.image)[mask].mean() > 5


def test_pixels_outside_the_dilated_mask_are_bit_identical(inpainter: Inpainter, coffee: Image.Image) -> None:
    mask = _mask(coffee, (150, 100, 300, 200))
    result = inpainter.inpaint(coffee, mask, "a red cup", steps=2, seed=1)
    diff = pixel_diff(coffee, result.image)
    assert result.image.size == coffee.size and result.image.mode == "RGB"
    assert result.region[mask].all() and result.region.sum() > mask.sum()
    assert diff[~result.region].max() == 0
    assert diff[mask].mean() > 5  # the object itself was repainted
    x0, y0, x1, y1 = result.crop_box
    assert 0 <= x0 and 0 <= y0 and x1 <= coffee.width and y1 <= coffee.height
    assert result.dilate_px > 0 and result.seed == 1


@pytest.mark.parametrize("size", [
    (333, 517),   # a crop larger than native (64 px on the tiny model) comes down to it
    (27, 19),     # below half of native: brought up to half (32 px)
    (45, 39),     # between half and native: runs at its own size, snapped to the grid of 8
])
def test_odd_sizes_run_at_the_crop_size_up_to_native_and_paste_exactly(inpainter: Inpainter, coffee: Image.Image,
                                                                       size: tuple[int, int],
                                                                       unet_inputs: list) -> None:
    image = coffee.resize(size)
    mask = _mask(image, (size[0] * 0.3, size[1] * 0.4, size[0] * 0.6, size[1] * 0.7))
    result = inpainter.inpaint(image, mask, "a cat", steps=2, dilate_px=2)
    assert result.image.size == size
    assert pixel_diff(image, result.image)[~result.region].max() == 0
    w, h = result.working_size
    assert w % 8 == 0 and h % 8 == 0 and max(w, h) <= inpainter.resolution
    crop_w, crop_h = result.crop_box[2] - result.crop_box[0], result.crop_box[3] - result.crop_box[1]
    expected = min(inpainter.resolution, max(inpainter.resolution // 2, max(crop_w, crop_h)))
    assert abs(max(w, h) - expected) < 8          # follows the crop: no upscale to native
    assert unet_inputs and all(shape == (h // inpainter.factor, w // inpainter.factor) for shape in unet_inputs)


def test_native_working_size_always_brings_the_crop_to_native(coffee: Image.Image, unet_inputs: list,
                                                              inpainter: Inpainter) -> None:
    image = coffee.resize((45, 39))
    mask = _mask(image, (10, 10, 30, 30))
    inpainter.working = "native"
    try:
        result = inpainter.inpaint(image, mask, "a cat", steps=2, dilate_px=2)
    finally:
        inpainter.working = "crop"
    assert max(result.working_size) == inpainter.resolution
    assert all(max(shape) == inpainter.resolution // inpainter.factor for shape in unet_inputs)
    assert pixel_diff(image, result.image)[~result.region].max() == 0
    with pytest.raises(InvalidInputError, match="'huge'"):
        Inpainter(inpainter.pipe, working="huge")


def test_a_small_object_in_a_photo_is_not_upscaled(inpainter: Inpainter, coffee: Image.Image) -> None:
    image = coffee.resize((300, 200))
    mask = _mask(image, (140, 90, 150, 100))         # 10 px: its window is 3/4 of native, run as it is
    result = inpainter.inpaint(image, mask, "a cat", steps=2, dilate_px=1)
    x0, y0, x1, y1 = result.crop_box
    assert (x1 - x0, y1 - y0) == (48, 48) and result.working_size == (48, 48)
    assert pixel_diff(image, result.image)[~result.region].max() == 0


def test_huge_image_runs_diffusion_on_a_native_size_crop(inpainter: Inpainter, rocket: Image.Image,
                                                         unet_inputs: list) -> None:
    big = rocket.resize((4000, 3000))
    mask = _mask(big, (2000, 1000, 2300, 1600))
    result = inpainter.inpaint(big, mask, "a red balloon", steps=2)
    latent = inpainter.resolution // inpainter.factor
    assert unet_inputs and all(max(shape) <= latent for shape in unet_inputs)
    assert pixel_diff(big, result.image)[~result.region].max() == 0
    assert result.working_size[0] <= inpainter.resolution and result.working_size[1] <= inpainter.resolution
    x0, y0, x1, y1 = result.crop_box
    assert x1 - x0 < 1500 and y1 - y0 < 1500  # a window around the object, not the whole photo
    assert result.region.mean() < 0.05


def test_context_crop_is_square_where_possible_and_clamped_into_the_image() -> None:
    region = np.zeros((100, 400), dtype=bool)
    region[40:60, 380:400] = True  # at the right edge
    x0, y0, x1, y1 = context_crop(region, 32)
    assert x1 == 400 and x1 - x0 == y1 - y0 and x0 <= 380 and y0 <= 40 and y1 >= 60
    tall = np.zeros((100, 50), dtype=bool)
    tall[10:90, 20:30] = True
    assert context_crop(tall, 32) == (0, 0, 50, 100)  # as square as a 50 px wide image allows


def test_same_seed_same_pixels_other_seed_other_pixels(inpainter: Inpainter, chelsea: Image.Image) -> None:
    image = chelsea.resize((160, 120))
    mask = _mask(image, (40, 30, 100, 90))
    first = inpainter.inpaint(image, mask, "a dog", steps=2, seed=7)
    again = inpainter.inpaint(image, mask, "a dog", steps=2, seed=7)
    other = inpainter.inpaint(image, mask, "a dog", steps=2, seed=8)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))


def test_progress_reports_each_step_and_strength_shortens_the_run(inpainter: Inpainter, coffee: Image.Image) -> None:
    image = coffee.resize((96, 64))
    mask = _mask(image, (20, 20, 60, 50))
    calls: list[tuple[int, int]] = []
    inpainter.inpaint(image, mask, "a cup", steps=3, progress=lambda s, n: calls.append((s, n)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]     # (0, n): the edit starts before its first step
    calls.clear()
    result = inpainter.inpaint(image, mask, "a cup", steps=4, strength=0.5, progress=lambda s, n: calls.append((s, n)))
    assert calls == [(0, 2), (1, 2), (2, 2)]
    assert pixel_diff(image, result.image)[~result.region].max() == 0


def test_cancel_during_the_run_raises_and_returns_nothing(inpainter: Inpainter, coffee: Image.Image,
                                                         unet_inputs: list) -> None:
    image = coffee.resize((96, 64))
    mask = _mask(image, (20, 20, 60, 50))
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        inpainter.inpaint(image, mask, "a cup", steps=5, progress=lambda s, n: s and cancel.set(), cancel=cancel)
    assert len(unet_inputs) == 1  # the remaining steps were skipped
    with pytest.raises(Cancelled):
        inpainter.inpaint(image, mask, "a cup", steps=2, cancel=cancel)  # already set: nothing runs
    assert len(unet_inputs) == 1
    cancel.clear()
    with pytest.raises(Cancelled):       # cancelled when the edit starts: the model never runs
        inpainter.inpaint(image, mask, "a cup", steps=2, progress=lambda s, n: cancel.set(), cancel=cancel)
    assert len(unet_inputs) == 1
    # the pipeline is usable again afterwards
    assert inpainter.inpaint(image, mask, "a cup", steps=1).image.size == image.size


@pytest.mark.parametrize(("mask_kind", "kwargs", "match"), [
    ("empty", {}, "empty"),
    ("wrong_shape", {}, r"\(64, 96\)"),
    ("ok", {"strength": 0.0}, "strength .* got 0.0"),
    ("ok", {"strength": 1.5}, "strength .* got 1.5"),
    ("ok", {"steps": 0}, "steps .* got 0"),
    ("ok", {"steps": 2, "strength": 0.2}, r"steps \* strength"),
    ("ok", {"dilate_px": -1}, "dilate_px .* got -1"),
])
def test_bad_inputs_are_refused_quoting_the_value(inpainter: Inpainter, mask_kind: str, kwargs: dict,
                                                  match: str) -> None:
    image = Image.new("RGB", (96, 64), (128, 128, 128))
    mask = {"empty": np.zeros((64, 96), bool), "wrong_shape": np.ones((96, 64), bool),
            "ok": _mask(image, (10, 10, 30, 30))}[mask_kind]
    with pytest.raises(InvalidInputError, match=match):
        inpainter.inpaint(image, mask, "a cup", **kwargs)


def test_unknown_family_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="'flux'"):
        Inpainter.from_pretrained("/nowhere", family="flux")


def test_on_the_cpu_the_unet_and_vae_run_channels_last(inpainter: Inpainter) -> None:
    import torch

    for module in (inpainter.pipe.unet.conv_in, inpainter.pipe.vae.encoder.conv_in):
        assert module.weight.is_contiguous(memory_format=torch.channels_last)
