"""One crop → repaint → composite path for every engine, pinned against the plain pipeline calls.

Each engine's edit must equal, bit for bit, the same window cut by hand (the whole-mask dilation,
the context window, the working size), run through the bare diffusers pipeline with no callback,
resized back and composited: the shared path and the shared step callback add nothing to the pixels.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from tools import masks
from tools.diffusion_utils import PipelineSteps, following_size, native_size
from tools.errors import Cancelled
from tools.profiles import TINY
from tools.repaint import context_crop
from tools.toolkit import Toolkit

SIZE = (157, 101)
CUP = (40, 20, 95, 70)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from tools.samples import sample_image

    return sample_image("coffee").resize(SIZE)


@pytest.fixture(scope="module")
def flux():
    return Toolkit(TINY, engine="flux2-klein").engine


def _mask(box: tuple[int, int, int, int]) -> np.ndarray:
    return masks.box_mask(box, (SIZE[1], SIZE[0]))


def _by_hand(image: Image.Image, mask: np.ndarray, call, *, min_side: int, grid: int, snap: bool, working: str,
             resolution: int, dilate_px: int) -> np.ndarray:
    """The window, working size and composite written out step by step around a plain pipeline ``call``."""
    region = masks.dilate(mask, dilate_px)
    x0, y0, x1, y1 = context_crop(region, min_side, grid if snap else 1)
    crop = image.crop((x0, y0, x1, y1))
    size = (native_size if working == "native" else following_size)(crop.size, resolution, grid).size
    window = crop.resize(size, Image.Resampling.LANCZOS)
    window_mask = Image.fromarray(region[y0:y1, x0:x1].astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
    painted = call(window, window_mask.point(lambda v: 255 if v > 0 else 0)).convert("RGB")
    generated = image.copy()
    generated.paste(painted.resize(crop.size, Image.Resampling.LANCZOS), (x0, y0))
    alpha = np.zeros(region.shape, dtype=np.float32)
    alpha[y0:y1, x0:x1] = masks.feather(region[y0:y1, x0:x1], dilate_px)
    return np.asarray(masks.composite(image, generated, region=region, alpha=alpha))


@pytest.mark.parametrize(("working", "resolution", "strength"), [
    ("crop", 64, 1.0), ("crop", 256, 0.6), pytest.param("native", 256, 1.0, marks=pytest.mark.slow)])
def test_sd_inpainting_equals_the_plain_pipeline_on_the_same_window(inpainter, photo, working, resolution,
                                                                     strength):
    inpainter.working, inpainter.resolution = working, resolution
    try:
        m = _mask(CUP)
        ours = inpainter.inpaint(photo, m, "a red cup", seed=5, steps=3, strength=strength, dilate_px=4)

        def plain(window: Image.Image, window_mask: Image.Image) -> Image.Image:
            return inpainter.pipe(prompt="a red cup", image=window, mask_image=window_mask, height=window.height,
                                  width=window.width, num_inference_steps=3, strength=strength, guidance_scale=7.5,
                                  generator=torch.Generator("cpu").manual_seed(5)).images[0]

        expected = _by_hand(photo, m, plain, min_side=3 * resolution // 4, grid=8, snap=True, working=working,
                            resolution=resolution, dilate_px=4)
        assert np.array_equal(np.asarray(ours.image), expected)
        assert ours.seed == 5 and max(ours.working_size) <= resolution
    finally:
        inpainter.working, inpainter.resolution = "crop", 64


def test_the_sd_engine_and_the_bare_inpainter_give_the_same_pixels(inpainter, photo):
    from tools import edits
    from tools.engines import as_engine

    m = _mask(CUP)
    through_engine = edits.replace(as_engine(inpainter), photo, m, "a teapot", seed=2, steps=2)
    bare = edits.replace(inpainter, photo, m, "a teapot", seed=2, steps=2)
    direct = inpainter.inpaint(photo, m, "a teapot", seed=2, steps=2)
    assert np.array_equal(np.asarray(through_engine.image), np.asarray(direct.image))
    assert np.array_equal(np.asarray(bare.image), np.asarray(direct.image))


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_flux2_inpainting_equals_the_plain_pipeline_on_the_same_window(flux, photo, strength):
    m = _mask(CUP)
    ours = flux.inpaint(photo, m, "a teapot", seed=3, steps=4, strength=strength, dilate_px=3)

    def plain(window: Image.Image, window_mask: Image.Image) -> Image.Image:
        return flux.pipe(prompt="a teapot", image=window, mask_image=window_mask, height=window.height,
                         width=window.width, num_inference_steps=4, strength=strength, guidance_scale=1.0,
                         text_encoder_out_layers=flux.text_layers,
                         generator=torch.Generator("cpu").manual_seed(3)).images[0]

    expected = _by_hand(photo, m, plain, min_side=flux.resolution // 2, grid=flux.multiple, snap=False,
                        working="native", resolution=flux.resolution, dilate_px=3)
    assert np.array_equal(np.asarray(ours.image), expected)


def test_both_engines_report_steps_and_cancel_through_the_one_helper(inpainter, flux, photo, monkeypatch):
    calls: list[str] = []
    real = PipelineSteps.on_step_end

    def counted(self, pipe, step, timestep, tensors):
        calls.append(type(pipe).__name__)
        return real(self, pipe, step, timestep, tensors)

    monkeypatch.setattr(PipelineSteps, "on_step_end", counted)
    m = _mask(CUP)
    for engine in (inpainter, flux):
        seen: list[tuple[int, int]] = []
        engine.inpaint(photo, m, "a cup", steps=2, progress=lambda i, n: seen.append((i, n)))
        assert seen == [(0, 2), (1, 2), (2, 2)]
        stop = threading.Event()
        with pytest.raises(Cancelled, match="cancelled; the image is unchanged"):
            engine.inpaint(photo, m, "a cup", steps=3, progress=lambda i, n: stop.set() if i == 1 else None,
                           cancel=stop)
    assert calls == ["StableDiffusionInpaintPipeline"] * 3 + ["Flux2KleinInpaintPipeline"] * 3
