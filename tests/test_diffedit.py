"""DiffEdit on the tiny SD base model, loaded through the production path: masks, exact paste-back, any size."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from tests.diffusion_helpers import latent_sizes, pixel_diff
from tools.diffedit import DiffEdit
from tools.errors import Cancelled, InvalidInputError
from tools.masks import box_mask

SOURCE, TARGET = "a cup of coffee on a table", "a cup of tea on a table"


@pytest.fixture(scope="module")
def model() -> DiffEdit:
    from tools.loading import model_path
    from tools.profiles import get_profile

    return DiffEdit.from_pretrained(model_path(get_profile("tiny").base))


@pytest.fixture
def unet_inputs(model: DiffEdit):
    """Records the latent (h, w) of every UNet call."""
    with latent_sizes(model.unet) as shapes:
        yield shapes


def test_auto_mask_is_a_seeded_bool_mask_at_the_image_size(model: DiffEdit, coffee: Image.Image) -> None:
    odd = coffee.resize((333, 517))
    first = model.auto_mask(odd, SOURCE, TARGET, n_noise=2, seed=3)
    again = model.auto_mask(odd, SOURCE, TARGET, n_noise=2, seed=3)
    other = model.auto_mask(odd, SOURCE, TARGET, n_noise=2, seed=4)
    assert first.dtype == bool and first.shape == (517, 333)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert 0 < first.sum() < first.size


def test_auto_mask_threshold_runs_from_everything_to_almost_nothing(model: DiffEdit, coffee: Image.Image) -> None:
    areas = [model.auto_mask(coffee, SOURCE, TARGET, n_noise=1, threshold=t).mean() for t in (0.0, 0.3, 0.7, 1.0)]
    assert areas[0] > 0.99
    assert areas[-1] < 0.01
    assert areas[0] >= areas[1] > areas[2] >= areas[3]


def test_auto_mask_is_empty_when_the_prompts_agree(model: DiffEdit, coffee: Image.Image) -> None:
    assert not model.auto_mask(coffee, SOURCE, SOURCE, n_noise=2).any()
    with pytest.raises(InvalidInputError, match="empty"):
        model.edit(coffee, SOURCE, SOURCE, steps=2)


def test_edit_changes_only_the_region(model: DiffEdit, chelsea: Image.Image) -> None:
    h, w = chelsea.height, chelsea.width
    mask = box_mask((w * 0.3, h * 0.3, w * 0.6, h * 0.7), (h, w))
    calls: list[tuple[int, int]] = []
    result = model.edit(chelsea, "a cat", "a tiger", mask=mask, steps=3, strength=0.7,
                        progress=lambda step, total: calls.append((step, total)))
    diff = pixel_diff(chelsea, result.image)
    assert result.image.size == chelsea.size and result.image.mode == "RGB"
    assert result.operation == "diffedit" and result.prompt == "a tiger" and result.seed == 0
    assert result.region[mask].all() and not result.region.all()
    assert diff[~result.region].max() == 0
    assert diff[mask].mean() > 1
    assert calls == [(i, 4) for i in range(5)]  # the start, then 2 inversion + 2 denoising passes


def test_edit_follows_the_target_prompt(model: DiffEdit, chelsea: Image.Image) -> None:
    h, w = chelsea.height, chelsea.width
    mask = box_mask((0, 0, w / 2, h / 2), (h, w))
    tiger = model.edit(chelsea, "a cat", "a tiger", mask=mask, steps=2, strength=1.0)
    dog = model.edit(chelsea, "a cat", "a dog on grass", mask=mask, steps=2, strength=1.0)
    again = model.edit(chelsea, "a cat", "a tiger", mask=mask, steps=2, strength=1.0)
    assert np.array_equal(np.asarray(tiger.image), np.asarray(again.image))
    assert pixel_diff(tiger.image, dog.image)[mask].max() > 0


def test_edit_with_inferred_mask_on_an_odd_size(model: DiffEdit, astronaut: Image.Image) -> None:
    odd = astronaut.resize((333, 517))
    result = model.edit(odd, "an astronaut", "a robot", steps=2, seed=1)
    assert result.image.size == (333, 517)
    assert result.region.shape == (517, 333) and result.region.any()
    assert pixel_diff(odd, result.image)[~result.region].max() == 0
    assert result.details["auto_mask"] is True


def test_huge_image_diffuses_at_native_size_and_pastes_exactly(model: DiffEdit, rocket: Image.Image,
                                                               unet_inputs: list[tuple[int, int]]) -> None:
    big = rocket.resize((4000, 3000))
    mask = box_mask((1500, 1000, 2600, 2200), (3000, 4000))
    result = model.edit(big, "a rocket", "a lighthouse", mask=mask, steps=2, strength=1.0)
    native_latent = model.resolution // model.factor
    assert unet_inputs and all(max(shape) <= native_latent for shape in unet_inputs)
    assert result.image.size == (4000, 3000)
    assert pixel_diff(big, result.image)[~result.region].max() == 0
    assert result.region.mean() < 0.3


def test_rgba_input_keeps_its_alpha_and_outside_pixels_through_save(model: DiffEdit, astronaut: Image.Image,
                                                                   tmp_path) -> None:
    from tools.imageio import as_rgb, save_image

    rgba = astronaut.resize((160, 120)).convert("RGBA")
    ramp = np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))
    rgba.putalpha(Image.fromarray(ramp, "L"))
    loaded = as_rgb(rgba)
    mask = box_mask((40, 30, 100, 90), (120, 160))
    result = model.edit(loaded.image, "an astronaut", "a robot", mask=mask, steps=2, strength=1.0)
    assert result.region[mask].all() and not result.region.all()
    assert pixel_diff(loaded.image, result.image)[~result.region].max() == 0
    with Image.open(save_image(result.image, tmp_path / "out.png", alpha=loaded.alpha)) as saved:
        assert saved.mode == "RGBA"
        back = np.asarray(saved)
    assert np.array_equal(back[..., 3], ramp)  # alpha restored exactly
    assert np.array_equal(back[..., :3][~result.region], np.asarray(rgba)[..., :3][~result.region])


def test_cancel_raises_and_stops_the_loop(model: DiffEdit, coffee: Image.Image) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        model.edit(coffee, SOURCE, TARGET, steps=3, cancel=cancel)

    cancel = threading.Event()
    seen: list[int] = []

    def progress(step: int, total: int) -> None:
        seen.append(step)
        if step == 2:
            cancel.set()

    mask = np.ones((coffee.height, coffee.width), dtype=bool)
    with pytest.raises(Cancelled):
        model.edit(coffee, SOURCE, TARGET, mask=mask, steps=4, strength=1.0, progress=progress, cancel=cancel)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(("kwargs", "quoted"), [
    ({"strength": 0.0}, "got 0.0"), ({"strength": 1.5}, "got 1.5"), ({"steps": 0}, "got 0"),
    ({"guidance_scale": -1.0}, "got -1.0"), ({"mask": np.ones((3, 3), dtype=bool)}, "(3, 3)"),
    ({"mask": "empty"}, "empty"), ({"target": "  "}, "got '  '"),
])
def test_bad_arguments_are_named(model: DiffEdit, coffee: Image.Image, kwargs: dict, quoted: str) -> None:
    if isinstance(kwargs.get("mask"), str):
        kwargs = {"mask": np.zeros((coffee.height, coffee.width), dtype=bool)}
    target = kwargs.pop("target", TARGET)
    with pytest.raises(InvalidInputError) as info:
        model.edit(coffee, SOURCE, target, **kwargs)
    assert quoted in str(info.value)
