"""InstructPix2Pix global edits on the tiny model, loaded through the production path."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from tools.errors import Cancelled, InvalidInputError
from tools.instruct import InstructEditor


@pytest.fixture(scope="module")
def editor() -> InstructEditor:
    from tools.loading import model_path
    from tools.profiles import get_profile

    return InstructEditor.from_pretrained(model_path(get_profile("tiny").instruct))


def test_global_edit_keeps_the_size_and_claims_every_pixel(editor: InstructEditor, astronaut: Image.Image) -> None:
    odd = astronaut.resize((333, 517))
    shapes: list[tuple[int, int]] = []
    handle = editor.pipe.unet.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape[-2:])))
    calls: list[tuple[int, int]] = []
    try:
        result = editor.edit(odd, "make it look like winter", steps=3,
                             progress=lambda step, total: calls.append((step, total)))
    finally:
        handle.remove()
    assert result.image.size == (333, 517) and result.image.mode == "RGB"
    assert result.operation == "global" and result.prompt == "make it look like winter"
    assert result.region.shape == (517, 333) and result.region.all()
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert shapes and all(max(shape) <= editor.resolution // editor.factor for shape in shapes)
    assert not np.array_equal(np.asarray(result.image), np.asarray(odd))


def test_same_seed_same_image_other_seed_other_image(editor: InstructEditor, coffee: Image.Image) -> None:
    first = editor.edit(coffee, "turn it into a watercolour", seed=5, steps=2)
    again = editor.edit(coffee, "turn it into a watercolour", seed=5, steps=2)
    other = editor.edit(coffee, "turn it into a watercolour", seed=6, steps=2)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))
    assert first.seed == 5 and other.seed == 6


def test_cancel_raises_before_and_during_the_loop(editor: InstructEditor, coffee: Image.Image) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        editor.edit(coffee, "make it sunny", steps=3, cancel=cancel)

    cancel = threading.Event()
    seen: list[int] = []

    def progress(step: int, total: int) -> None:
        seen.append(step)
        if step:                          # (0, n) is the start; cancel after the first step
            cancel.set()

    with pytest.raises(Cancelled):
        editor.edit(coffee, "make it sunny", steps=3, progress=progress, cancel=cancel)
    assert seen == [0, 1]


@pytest.mark.parametrize(("kwargs", "quoted"), [
    ({"instruction": ""}, "got ''"), ({"instruction": "   "}, "got '   '"), ({"steps": 0}, "got 0"),
    ({"guidance_scale": -2.0}, "got -2.0"), ({"image_guidance_scale": float("nan")}, "got nan"),
])
def test_bad_arguments_are_named(editor: InstructEditor, coffee: Image.Image, kwargs: dict, quoted: str) -> None:
    instruction = kwargs.pop("instruction", "make it sunny")
    with pytest.raises(InvalidInputError) as info:
        editor.edit(coffee, instruction, **kwargs)
    assert quoted in str(info.value)
