"""Awkward images through the Editor on every engine: what was converted is said on opening, and over edits,
undo, redo and a branch every pixel outside each turn's mask stays bit-identical, alpha included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from agent.editor import Editor
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.errors import ChatEditError
from tools.imageio import load_image
from tools.profiles import TINY

RNG = np.random.default_rng(5)


def _noise(w: int, h: int, channels: int = 3) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, channels), dtype=np.uint8)


def _rgba(path: Path) -> None:
    pixels = _noise(45, 33, 4)
    pixels[:, :15, 3] = 0                          # fully transparent, with colour kept under it
    Image.fromarray(pixels, "RGBA").save(path)


def _exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6                               # rotate 90 degrees clockwise to display
    Image.fromarray(_noise(45, 33)).save(path, exif=exif, quality=95)


KINDS: dict[str, tuple[str, Callable[[Path], None], str | None]] = {
    # name: (file name, how to make it, a word the opening note must hold; None: no note)
    "rgba": ("cut out.png", _rgba, None),
    "palette with transparency": ("pal.png", lambda p: Image.fromarray(_noise(45, 33)).quantize(16).save(
        p, transparency=2), "palette"),
    "exif rotated jpeg": ("phone.jpg", _exif_rotated, None),
    "16-bit greyscale": ("deep.png", lambda p: Image.fromarray(
        RNG.integers(0, 65536, (33, 45), dtype=np.uint16)).save(p), "16-bit"),
    "16-bit rgba": ("deep_rgba.png", lambda p: cv2.imwrite(str(p), RNG.integers(0, 65536, (33, 45, 4), dtype=np.uint16)),
                    "16 bits"),
    "cmyk": ("print.jpg", lambda p: Image.fromarray(_noise(45, 33, 4), "CMYK").save(p), "CMYK"),
    "7x7": ("tiny 7x7 ✓.png", lambda p: Image.fromarray(_noise(7, 7)).save(p), None),
    "3x90 strip": ("strip.png", lambda p: Image.fromarray(_noise(3, 90)).save(p), None),
}
CASES = [(engine, kind) for engine in ("sd", "sdxl", "flux2-klein") for kind in KINDS]


@pytest.fixture(scope="module")
def toolkits() -> dict[str, FixedDetections]:
    return {}


def _kit(toolkits: dict[str, FixedDetections], engine: str, size: tuple[int, int]) -> FixedDetections:
    if engine not in toolkits:
        toolkits[engine] = FixedDetections(TINY, {}, engine=engine)
    w, h = size
    toolkits[engine].detections = {
        "thing": [det((w * 0.25, h * 0.25, max(w * 0.6, w * 0.25 + 1), max(h * 0.6, h * 0.25 + 1)), 0.9)],
        "corner": [det((0, 0, max(1.0, w * 0.3), max(1.0, h * 0.3)), 0.9)]}
    return toolkits[engine]


def _outside_kept(editor: Editor, before: np.ndarray) -> np.ndarray:
    """The turn's mask, after checking every pixel outside it equals ``before``."""
    after, mask = np.asarray(editor.current_image), editor.version_mask(editor.current_version)
    assert mask is not None and after.shape == before.shape
    assert np.array_equal(after[~mask], before[~mask]), "a pixel outside the turn's mask changed"
    return mask


@pytest.mark.slow  # each case opens a session and runs four turns: 10-50 s on 2 cores
@pytest.mark.parametrize(("engine", "kind"), CASES)
def test_awkward_images_keep_every_pixel_outside_each_mask_over_turns(tmp_path, toolkits, engine, kind):
    name, make, said = KINDS[kind]
    path = tmp_path / name
    make(path)
    loaded = load_image(path)
    planner = QueuePlanner().push(plan({"action": "remove", "referent": {"phrase": "thing"}}),
                                  plan({"action": "replace", "referent": {"phrase": "thing"}, "content": "a teapot"}),
                                  plan({"action": "recolor", "referent": {"phrase": "corner"}, "content": "red"}))
    editor = Editor.open(path, profile=TINY, session_dir=tmp_path / "session", planner=planner,
                         toolkit=_kit(toolkits, engine, loaded.image.size), engine=engine)
    try:
        assert (editor.opening_note is None) if said is None else (said in editor.opening_note)
        original = np.asarray(editor.current_image)
        assert np.array_equal(original, np.asarray(loaded.image))   # EXIF applied once: upright, not turned again
        for text in ("remove the thing", "replace the thing with a teapot"):
            before = np.asarray(editor.current_image)
            reply = editor.send(text)
            assert reply.error is None and reply.version is not None, reply.text
            _outside_kept(editor, before)
        second = np.asarray(editor.current_image)
        editor.undo()
        first = np.asarray(editor.current_image)
        editor.redo()
        assert np.array_equal(np.asarray(editor.current_image), second)
        editor.undo()
        reply = editor.send("make the corner red")                  # a branch from version 1
        assert reply.version == 3 and editor.history[3].parent == 1, reply.text
        branch_mask = _outside_kept(editor, first)
        out = editor.export(tmp_path / "out.png")
        with Image.open(out) as back:
            back.load()
            exported = np.asarray(back)
        assert exported.shape[:2] == original.shape[:2]
        if loaded.alpha is None:
            assert back.mode == "RGB"
        else:
            assert back.mode == "RGBA" and np.array_equal(exported[..., 3], np.asarray(loaded.alpha))
        kept = ~(editor.version_mask(1) | branch_mask)
        assert np.array_equal(exported[..., :3][kept], original[kept])
    finally:
        editor.close()


def _file(name: str, data: Callable[[], bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data())
        return folder / name
    return make


@pytest.mark.parametrize(("make", "words"), [
    (lambda d: "https://example.com/cat.png", ("url", "download it first")),
    (lambda d: "", ("no path was given",)),
    (lambda d: d, ("folder",)),
    (_file("empty.png", lambda: b""), ("empty",)),
    (_file("notes.png", lambda: b"not a picture"), ("not an image",)),
    (_file("cut.jpg", lambda: _jpeg()[:400]), ("truncated",)),
])
def test_what_cannot_be_opened_is_one_line_and_leaves_no_session(tmp_path, make, words):
    given = make(tmp_path)
    with pytest.raises(ChatEditError) as info:
        Editor.open(given, profile=TINY, session_dir=tmp_path / "session", planner=QueuePlanner(),
                    toolkit=FixedDetections(TINY, {}))
    message = str(info.value).lower()
    assert "\n" not in message and all(word in message for word in words)
    assert not (tmp_path / "session").exists()


def _jpeg() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(_noise(64, 64)).save(buf, "JPEG")
    return buf.getvalue()
