"""Awkward images through the Editor on every engine: what was converted is said on opening, and over edits,
undo, redo and a branch every pixel outside each turn's mask stays bit-identical, alpha included."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from agent.editor import Editor
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.errors import ChatEditError
from tools.imageio import load_image, save_image
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


def _png16(path: Path, samples: np.ndarray, colour_type: int) -> None:
    """A 16-bit PNG written by hand (colour type 4: grey + alpha, which Pillow cannot write)."""
    h, w = samples.shape[:2]
    raw = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def wide_gamut_icc() -> bytes:
    """An RGB ICC profile that is not sRGB (Pillow's sRGB with its red and blue primaries swapped, renamed)."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", icc[128:132])[0]
    offsets = {bytes(icc[132 + 12 * i:136 + 12 * i]): struct.unpack(">I", icc[136 + 12 * i:140 + 12 * i])[0]
               for i in range(count)}
    red, blue = offsets[b"rXYZ"] + 8, offsets[b"bXYZ"] + 8
    icc[red:red + 12], icc[blue:blue + 12] = icc[blue:blue + 12], icc[red:red + 12]
    return bytes(icc).replace(b"sRGB", b"Wide").replace("sRGB".encode("utf-16-be"), "Wide".encode("utf-16-be"))


def _frames(path: Path, mode: str) -> None:
    frames = [Image.fromarray(_noise(45, 33, 4), "RGBA").convert(mode) for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)


def _gamma(path: Path) -> None:
    info = PngInfo()
    info.add(b"gAMA", struct.pack(">I", 100000))          # linear: not what sRGB viewers assume
    Image.fromarray(_noise(45, 33)).save(path, pnginfo=info)


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
    "grey with alpha": ("grey alpha.png", lambda p: Image.fromarray(_noise(45, 33, 2), "LA").save(p), "greyscale"),
    "16-bit grey with alpha": ("deep grey alpha.png", lambda p: _png16(
        p, RNG.integers(0, 65536, (33, 45, 2), dtype=np.uint16), 4), "16 bits"),
    "apng": ("moving.png", lambda p: _frames(p, "RGBA"), "first"),
    "animated gif": ("moving.gif", lambda p: _frames(p, "P"), "first"),
    "multi-page tiff": ("pages.tif", lambda p: _frames(p, "RGB"), "first"),
    "wide-gamut icc": ("wide.png", lambda p: Image.fromarray(_noise(45, 33)).save(p, icc_profile=wide_gamut_icc()),
                       "sRGB"),
    "gamma 1.0": ("linear.png", _gamma, "gamma"),
    "1x40": ("column.png", lambda p: Image.fromarray(_noise(1, 40)).save(p), None),
    "40x1": ("row.png", lambda p: Image.fromarray(_noise(40, 1)).save(p), None),
    "7x5": ("seven by five.png", lambda p: Image.fromarray(_noise(7, 5)).save(p), None),
    "4099x3": ("wide strip.png", lambda p: Image.fromarray(_noise(4099, 3)).save(p), None),
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


STORED = {  # EXIF orientation -> how the file stores a picture that displays as D (the EXIF spec's meanings)
    1: lambda d: d, 2: np.fliplr, 3: lambda d: np.rot90(d, 2), 4: np.flipud, 5: lambda d: d.swapaxes(0, 1),
    6: lambda d: np.rot90(d, 1), 7: lambda d: np.rot90(d, 2).swapaxes(0, 1), 8: lambda d: np.rot90(d, -1)}


def _oriented(path: Path, displayed: np.ndarray, orientation: int, **options: object) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(STORED[orientation](displayed))).save(path, exif=exif, **options)


def _smooth(w: int, h: int) -> np.ndarray:
    """A picture without fine detail (JPEG keeps it within a few levels) and no symmetry."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + 2 * y) * 255 // (w + 2 * h)], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("suffix", "options", "tolerance"), [
    (".png", {}, 0), (".tif", {}, 0), (".webp", {"lossless": True}, 0), (".jpg", {"quality": 98}, 12)])
def test_every_exif_orientation_opens_as_displayed(tmp_path, orientation, suffix, options, tolerance):
    displayed = _smooth(40, 24) if tolerance else _noise(40, 24)
    _oriented(tmp_path / f"photo{suffix}", displayed, orientation, **options)
    loaded = np.asarray(load_image(tmp_path / f"photo{suffix}").image)
    assert loaded.shape == displayed.shape
    assert np.abs(loaded.astype(int) - displayed).max() <= tolerance


@pytest.mark.slow  # eight sessions, each segmenting and recolouring once: 2-5 s each on 2 cores
@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_edit_of_an_exif_rotated_photo_lands_where_the_person_sees_it(tmp_path, orientation):
    displayed = _noise(40, 24)
    _oriented(tmp_path / "phone.png", displayed, orientation)
    planner = QueuePlanner().push(plan({"action": "recolor", "referent": {"phrase": "corner"}, "content": "red"}))
    toolkit = FixedDetections(TINY, {"corner": [det((0, 0, 12, 8))]})
    with Editor.open(tmp_path / "phone.png", profile=TINY, session_dir=tmp_path / "session", planner=planner,
                     toolkit=toolkit) as editor:
        assert np.array_equal(np.asarray(editor.current_image), displayed)
        reply = editor.send("make the corner red")
        assert reply.version == 1, reply.text
        mask = editor.version_mask(1)
        assert mask.any() and not mask[10:, :].any() and not mask[:, 14:].any()   # the top-left as displayed
        exported = np.asarray(Image.open(editor.export(tmp_path / "out.png")))
    assert exported.shape == displayed.shape
    assert np.array_equal(exported[~mask], displayed[~mask])
    assert not np.array_equal(exported[mask], displayed[mask])


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".bmp"])
def test_lossless_exports_keep_every_pixel_and_the_alpha(tmp_path, suffix):
    pixels, alpha = _noise(9, 7), _noise(9, 7, 1)[..., 0]
    alpha[:, :3] = 0                                               # transparent, with colour kept under it
    out = save_image(Image.fromarray(pixels), tmp_path / f"out{suffix}", alpha=Image.fromarray(alpha, "L"))
    back = load_image(out)
    assert np.array_equal(np.asarray(back.image), pixels)
    assert back.alpha is not None and np.array_equal(np.asarray(back.alpha), alpha)
    if suffix == ".bmp":                                           # another reader sees the same alpha
        assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., 3], alpha)
