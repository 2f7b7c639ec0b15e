"""Region edits on the tiny inpainting model: nothing outside an edit's region ever changes, at any size or mode."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from tests.diffusion_helpers import pixel_diff
from tools import edits
from tools.color import oklab, classify_recolor, parse_color, parse_colour, rgb_to_lab
from tools.edits import EditResult
from tools.errors import Cancelled, InvalidInputError
from tools.inpainting import Inpainter
from tools.masks import box_mask, dilate, erode


def _object(image: Image.Image) -> np.ndarray:
    """A box-shaped "object" around the middle of the image (an ellipse would do as well)."""
    w, h = image.size
    return box_mask((w * 0.35, h * 0.3, w * 0.65, h * 0.6), (h, w))


Edit = Callable[[Inpainter, Image.Image, np.ndarray], EditResult]
OPERATIONS: dict[str, Edit] = {
    "remove": lambda inp, im, m: edits.remove(inp, im, m, name="cup", steps=2),
    "replace": lambda inp, im, m: edits.replace(inp, im, m, "a glass vase", old="cup", steps=2),
    "replace_two_stage": lambda inp, im, m: edits.replace(
        inp, im, m, "a tall vase", old="cup", two_stage=True, steps=2,
        new_box=(im.width * 0.4, im.height * 0.1, im.width * 0.6, im.height * 0.7)),
    "recolor_lab": lambda inp, im, m: edits.recolor(im, m, "navy blue"),
    "recolor_diffusion": lambda inp, im, m: edits.recolor(im, m, "red", method="diffusion", inpainter=inp,
                                                          name="cup", steps=2),
    # "auto" (the default): a pattern goes to the diffusion recolour
    "recolor_pattern": lambda inp, im, m: edits.recolor(im, m, "red and white striped", inpainter=inp,
                                                        name="the cup", steps=2),
    "add": lambda inp, im, m: edits.add(inp, im, (im.width * 0.05, im.height * 0.05, im.width * 0.3,
                                                  im.height * 0.3), "a bird", steps=2),
    "background": lambda inp, im, m: edits.background(inp, im, m, "a sunny beach", steps=2),
}


def _check_fidelity(before: Image.Image, result: EditResult, mask: np.ndarray, operation: str) -> None:
    diff = pixel_diff(before, result.image)
    assert result.image.size == before.size and result.image.mode == "RGB"
    assert result.region.dtype == bool and result.region.shape == (before.height, before.width)
    assert diff[~result.region].max() == 0, f"{operation} changed pixels outside its region"
    assert diff[result.region].max() > 0, f"{operation} changed nothing"
    if operation == "background":
        assert not (result.region & mask).any()  # the subject itself is never touched
    elif operation == "add":
        assert not result.region.all()
    else:
        assert result.region[mask].all()  # the whole object was free to change
    _check_region_hugs_the_mask(result, mask, operation)


def _check_region_hugs_the_mask(result: EditResult, mask: np.ndarray, operation: str) -> None:
    """The region of a mask edit is the mask grown by its dilation: never the crop or the whole image."""
    if operation in ("remove", "replace", "recolor_lab", "recolor_diffusion", "recolor_pattern"):
        grown = dilate(mask, result.details.get("dilate_px", 0) + 1)
        assert not (result.region & ~grown).any(), f"{operation}'s region grew past its dilated mask"


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_every_edit_leaves_pixels_outside_its_region_bit_identical(inpainter: Inpainter, coffee: Image.Image,
                                                                  operation: str) -> None:
    mask = _object(coffee)
    result = OPERATIONS[operation](inpainter, coffee, mask)
    _check_fidelity(coffee, result, mask, operation)
    assert result.operation == operation.split("_")[0]
    assert result.details  # provenance recorded


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_odd_sized_images_keep_their_size_and_outside_pixels(inpainter: Inpainter, chelsea: Image.Image,
                                                            operation: str) -> None:
    odd = chelsea.resize((333, 517))
    mask = _object(odd)
    _check_fidelity(odd, OPERATIONS[operation](inpainter, odd, mask), mask, operation)


@pytest.mark.parametrize("operation", ["remove", "replace", "replace_two_stage", "recolor_lab", "recolor_diffusion",
                                       "background"])
def test_rgba_input_keeps_its_alpha_and_outside_pixels_through_save(inpainter: Inpainter, astronaut: Image.Image,
                                                                   operation: str, tmp_path) -> None:
    from tools.imageio import as_rgb, save_image

    rgba = astronaut.resize((160, 120)).convert("RGBA")
    ramp = np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))
    rgba.putalpha(Image.fromarray(ramp, "L"))
    loaded = as_rgb(rgba)
    assert loaded.alpha is not None
    mask = _object(loaded.image)
    result = OPERATIONS[operation](inpainter, loaded.image, mask)
    path = save_image(result.image, tmp_path / "out.png", alpha=loaded.alpha)
    with Image.open(path) as saved:
        saved.load()
        assert saved.mode == "RGBA"
        back = np.asarray(saved)
    assert np.array_equal(back[..., 3], ramp)  # alpha restored exactly
    original = np.asarray(rgba)[..., :3]
    assert np.array_equal(back[..., :3][~result.region], original[~result.region])


@pytest.mark.parametrize("operation", ["remove", "replace", "replace_two_stage", "recolor_lab", "recolor_diffusion",
                                       "background"])
def test_huge_image_is_edited_on_native_size_crops_and_pasted_exactly(inpainter: Inpainter, rocket: Image.Image,
                                                                     unet_inputs: list, operation: str) -> None:
    big = rocket.resize((4000, 3000))
    mask = _object(big)
    result = OPERATIONS[operation](inpainter, big, mask)
    latent = inpainter.resolution // inpainter.factor
    assert all(max(shape) <= latent for shape in unet_inputs)  # never diffusion at full size
    assert bool(unet_inputs) == (operation != "recolor_lab")
    assert pixel_diff(big, result.image)[~result.region].max() == 0
    _check_region_hugs_the_mask(result, mask, operation)


def test_lab_recolor_keeps_lightness_and_texture_and_reaches_the_target_hue(coffee: Image.Image) -> None:
    mask = _object(coffee)
    result = edits.recolor(coffee, mask, "#3050b0")
    inner = erode(mask, result.details["feather_px"] + 1)  # fully recoloured, not blended
    before = rgb_to_lab(np.asarray(coffee)[inner])
    after = rgb_to_lab(np.asarray(result.image)[inner])
    target = rgb_to_lab(np.asarray([parse_color("#3050b0")], dtype=np.uint8))[0]
    assert np.median(np.abs(after[:, 0] - before[:, 0])) < 1.5  # lightness kept
    assert np.corrcoef(after[:, 0], before[:, 0])[0, 1] > 0.95  # texture kept
    a, b = np.median(after[:, 1], axis=0), np.median(after[:, 2], axis=0)
    hue = np.degrees(np.arctan2([b, target[2]], [a, target[1]]))
    assert abs(hue[0] - hue[1]) < 12  # the target's hue (sRGB gamut may cost some chroma, never hue)
    assert np.hypot(a, b) > 0.6 * np.hypot(target[1], target[2])
    assert result.region is not mask and np.array_equal(result.region, mask)
    assert result.details["method"] == "lab" and result.prompt == "#3050b0"


def test_lab_recolor_to_white_lightens(coffee: Image.Image) -> None:
    mask = _object(coffee)
    result = edits.recolor(coffee, mask, "white")
    assert np.asarray(result.image)[mask].mean() > np.asarray(coffee)[mask].mean() + 30


@pytest.mark.parametrize(("name", "rgb"), [
    ("red", (255, 0, 0)), ("Light Blue", (173, 216, 230)), ("navy blue", (0, 0, 128)), ("#1e90ff", (30, 144, 255)),
    ("#abc", (170, 187, 204)), ("bright red!", (255, 0, 0)), ("the colour grey", (128, 128, 128)),
    ("rgb(30, 144, 255)", (30, 144, 255)), ("dark-green", (0, 100, 0)), ("a shade of teal", (0, 128, 128)),
    ("RED", (255, 0, 0)), ("hot pink", (255, 105, 180)),
])
def test_colour_names_and_hex_codes_are_understood(name: str, rgb: tuple[int, int, int]) -> None:
    assert parse_color(name) == rgb


def test_recolor_diffusion_prompts_with_the_colour_and_name(inpainter: Inpainter, coffee: Image.Image) -> None:
    result = edits.recolor(coffee, _object(coffee), "red", method="diffusion", inpainter=inpainter, name="cup",
                           steps=2)
    assert result.prompt == "a red cup" and result.details["method"] == "diffusion"


@pytest.mark.parametrize("operation", ["remove", "replace_two_stage", "background"])
def test_same_seed_reproduces_and_another_seed_differs(inpainter: Inpainter, coffee: Image.Image,
                                                       operation: str) -> None:
    image = coffee.resize((150, 100))
    mask = _object(image)

    def run(seed: int) -> np.ndarray:
        if operation == "remove":
            return np.asarray(edits.remove(inpainter, image, mask, steps=2, seed=seed).image)
        if operation == "background":
            return np.asarray(edits.background(inpainter, image, mask, "a beach", steps=2, seed=seed).image)
        return np.asarray(edits.replace(inpainter, image, mask, "a vase", two_stage=True, steps=2, seed=seed).image)

    first = run(3)
    assert np.array_equal(first, run(3))
    assert not np.array_equal(first, run(4))


def test_progress_counts_both_stages_of_a_two_stage_replace(inpainter: Inpainter, coffee: Image.Image) -> None:
    image = coffee.resize((150, 100))
    calls: list[tuple[int, int]] = []
    edits.replace(inpainter, image, _object(image), "a vase", two_stage=True, steps=2,
                  progress=lambda s, n: calls.append((s, n)))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]       # the second stage's start is not repeated
    calls.clear()
    edits.remove(inpainter, image, _object(image), steps=3, progress=lambda s, n: calls.append((s, n)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_cancel_raises_in_either_stage(inpainter: Inpainter, coffee: Image.Image) -> None:
    image = coffee.resize((150, 100))
    mask = _object(image)
    cancel = threading.Event()

    def cancel_in_stage_two(step: int, total: int) -> None:
        if step > total // 2:
            cancel.set()

    with pytest.raises(Cancelled):
        edits.replace(inpainter, image, mask, "a vase", two_stage=True, steps=2, progress=cancel_in_stage_two,
                      cancel=cancel)
    with pytest.raises(Cancelled):
        edits.remove(inpainter, image, mask, steps=2, cancel=cancel)
    with pytest.raises(Cancelled):
        edits.recolor(image, mask, "red", cancel=cancel)


@pytest.mark.parametrize(("call", "match"), [
    (lambda inp, im: edits.remove(inp, im, np.zeros((im.height, im.width), bool)), "empty"),
    (lambda inp, im: edits.remove(inp, im, np.ones((im.width, im.height), bool)), r"does not match"),
    (lambda inp, im: edits.recolor(im, _object(im), "blurple"), "'blurple'"),
    (lambda inp, im: edits.recolor(im, _object(im), "red", method="paint"), "'paint'"),
    (lambda inp, im: edits.recolor(im, _object(im), "red", method="diffusion"), "needs an inpainter"),
    (lambda inp, im: edits.replace(inp, im, _object(im), "  "), "new object"),
    (lambda inp, im: edits.replace(inp, im, _object(im), "a vase", two_stage=True,
                                   new_box=(500, 500, 600, 600)), "outside"),
    (lambda inp, im: edits.add(inp, im, (-50, -50, -10, -10), "a bird"), "outside"),
    (lambda inp, im: edits.background(inp, im, np.ones((im.height, im.width), bool), "a beach"), "whole image"),
    (lambda inp, im: edits.background(inp, im, box_mask((1, 0, im.width, im.height), (im.height, im.width)),
                                      "a beach"), "2 px away from the subject"),  # a 1 px strip is all margin
])
def test_bad_inputs_are_refused_with_a_message_naming_them(inpainter: Inpainter, call: Callable,
                                                           match: str) -> None:
    image = Image.new("RGB", (96, 64), (120, 90, 60))
    with pytest.raises(InvalidInputError, match=match):
        call(inpainter, image)


def test_edit_result_is_frozen_with_read_only_details(coffee: Image.Image) -> None:
    provenance = {"method": "lab"}
    result = edits.recolor(coffee, _object(coffee), "green")
    frozen = EditResult(image=result.image, region=result.region, operation="recolor", prompt="green", seed=0,
                        details=provenance)
    provenance["method"] = "changed"
    assert frozen.details["method"] == "lab"
    with pytest.raises(TypeError):
        frozen.details["method"] = "x"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.seed = 1  # type: ignore[misc]


def _lch(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    lab = rgb_to_lab(np.asarray([rgb], dtype=np.uint8))[0]
    return float(lab[0]), float(np.hypot(lab[1], lab[2])), float(np.degrees(np.arctan2(lab[2], lab[1])) % 360)


@pytest.mark.parametrize("name", ["blue-green", "blue green", "Blue-Green"])
def test_blue_green_is_between_blue_and_green_not_green(name: str) -> None:
    r, g, b = parse_color(name)
    assert g > 100 and b > 100 and r < 60              # a teal: neither pure green nor pure blue
    hue = _lch((r, g, b))[2]
    assert _lch((0, 128, 0))[2] < hue < _lch((0, 0, 255))[2]


def test_a_bluish_green_leans_green_and_a_hue_pair_mixes():
    bluish = _lch(parse_color("bluish green"))[2]
    assert abs(bluish - _lch((0, 128, 0))[2]) < abs(bluish - _lch((0, 0, 255))[2])
    orange = _lch(parse_color("red yellow"))[2]          # no name for it: the LCh mix of the two
    assert _lch((255, 0, 0))[2] < orange < _lch((255, 255, 0))[2]


@pytest.mark.parametrize(("modified", "base", "lighter"), [("dark navy", "navy", False), ("light blue", "blue", True),
                                                           ("pale blue", "blue", True), ("pale pink", "pink", True),
                                                           ("dark red", "red", False), ("dark grey", "grey", False),
                                                           ("pastel green", "green", True)])
def test_lightness_words_move_lightness_and_fix_it_for_the_recolour(modified: str, base: str, lighter: bool) -> None:
    colour = parse_colour(modified)
    l_mod, l_base = _lch(colour.rgb)[0], _lch(parse_color(base))[0]
    assert (l_mod > l_base + 3) if lighter else (l_mod < l_base - 3)
    if modified != "light blue" and base != "grey":          # CSS's own "lightblue" leans cyan; grey has no hue
        ok_mod, ok_base = oklab(colour.rgb), oklab(parse_color(base))
        turn = abs(np.degrees(np.arctan2(ok_mod[2], ok_mod[1]) - np.arctan2(ok_base[2], ok_base[1]))) % 360
        assert min(turn, 360 - turn) < 10                                # the same hue (OKLab)
    assert colour.sets_lightness


@pytest.mark.parametrize("text", ["red and white striped", "wooden", "gold sparkly", "polka dots", "rainbow",
                                  "black and white", "blurple", "rgb(300, 0, 0)"])
def test_what_is_not_one_colour_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(InvalidInputError, match="not one colour") as refused:
        parse_color(text)
    assert text in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("text", "method", "why"), [
    ("navy blue", "lab", ""), ("#1e90ff", "lab", ""), ("a deep ocean blue", "lab", ""), ("dark navy", "lab", ""),
    ("red and white striped", "diffusion", "patterns"), ("leopard print", "diffusion", "patterns"),
    ("rainbow", "diffusion", "patterns"), ("polka dots", "diffusion", "patterns"), ("wooden", "diffusion", "materials"),
    ("marble", "diffusion", "materials"), ("gold sparkly", "diffusion", "materials"),
    ("black and white", "diffusion", "several colours"),
])
def test_a_recolour_request_is_classified(text: str, method: str, why: str) -> None:
    kind = classify_recolor(text)
    assert (kind.method, kind.why) == (method, why)
    assert (kind.colour is not None) == (method == "lab")


@pytest.mark.parametrize("text", ["happy", "blurple", "the same as before"])
def test_a_request_that_is_neither_colour_nor_look_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="not a colour, pattern or material"):
        classify_recolor(text)


def test_a_pattern_goes_to_diffusion_and_says_why(inpainter: Inpainter, coffee: Image.Image) -> None:
    image = coffee.resize((150, 100))
    mask = _object(image)
    result = edits.recolor(image, mask, "red and white striped", inpainter=inpainter, name="the cup", steps=2)
    assert result.details["method"] == "diffusion" and result.details["why"] == "patterns"
    assert result.prompt == "a red and white striped cup"             # no "a ... the cup"
    assert result.details["strength"] == 0.95
    assert pixel_diff(image, result.image)[~result.region].max() == 0
    with pytest.raises(InvalidInputError, match="needs an inpainter"):
        edits.recolor(image, mask, "wooden")
    with pytest.raises(InvalidInputError, match="not one colour"):
        edits.recolor(image, mask, "wooden", method="lab", inpainter=inpainter)


def test_one_colour_stays_on_the_exact_shift_and_lightness_words_reach_the_pixels(coffee: Image.Image) -> None:
    mask = _object(coffee)
    inner = erode(mask, 3)
    plain = edits.recolor(coffee, mask, "blue-green")
    assert plain.details["method"] == "lab" and plain.details["rgb"] == parse_color("blue-green")
    before = rgb_to_lab(np.asarray(coffee)[inner])[:, 0]
    kept = rgb_to_lab(np.asarray(plain.image)[inner])[:, 0]
    assert np.median(np.abs(kept - before)) < 1.5                     # one colour: the object's lightness stays
    light = rgb_to_lab(np.asarray(edits.recolor(coffee, mask, "light blue").image)[inner])[:, 0]
    dark = rgb_to_lab(np.asarray(edits.recolor(coffee, mask, "dark red").image)[inner])[:, 0]
    assert np.median(light) > np.median(before) + 10 and np.median(dark) < np.median(light) - 20
    assert np.corrcoef(light, before)[0, 1] > 0.9                     # texture kept while the lightness moved


@pytest.mark.parametrize("size", [(400, 300), (1600, 1200)])   # joined at full size, and on cells over 1 MP
def test_object_parts_separates_distant_objects_and_joins_a_speckled_outline(size):
    from tools.color import object_parts

    w, h = size
    mask = np.zeros((h, w), dtype=bool)
    mask[h // 10: h // 2, w // 10: w // 3] = True               # one object
    mask[h // 10: h // 2, w // 3 + 2] = True                    # a speckle 2 px off its edge: the same object
    mask[h // 2: 9 * h // 10, 2 * w // 3: 9 * w // 10] = True  # another, far away
    parts = object_parts(mask)
    assert (parts[~mask] == 0).all() and (parts[mask] > 0).all()
    first, speckle, second = parts[h // 4, w // 5], parts[h // 4, w // 3 + 2], parts[3 * h // 4, 3 * w // 4]
    assert first == speckle != second and len(np.unique(parts[mask])) == 2


def test_a_recolour_of_several_objects_equals_each_object_recoloured_alone(coffee: Image.Image):
    """Colours are shifted once per (colour, object): the same result as shifting every pixel of each object."""
    from tools.color import recolor_lab

    pixels = np.asarray(coffee.convert("RGB")).reshape(-1, 3)
    parts = (np.arange(len(pixels)) * 3 // len(pixels)).astype(np.int64)     # three objects, thirds of the photo
    together = recolor_lab(pixels, (200, 30, 30), parts=parts)
    for label in range(3):
        alone = recolor_lab(pixels[parts == label], (200, 30, 30))
        assert np.array_equal(together[parts == label], alone)
    out = recolor_lab(pixels, (30, 30, 200))                                 # one colour, one result
    _, first, inverse = np.unique(pixels, axis=0, return_index=True, return_inverse=True)
    assert np.array_equal(out, out[first][inverse.reshape(-1)])
