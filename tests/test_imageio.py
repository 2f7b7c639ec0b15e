"""Safe image I/O: every bad file a user may give fails with a one-line message naming it; odd formats load right."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tools.errors import ImageLoadError, ImageSaveError, InvalidInputError
from tools.imageio import as_rgb, load_image, save_image


def _noise(w: int = 64, h: int = 48, seed: int = 0, channels: int = 3) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    return Image.fromarray(arr)


def _load_fails(path: Path, *words: str, **kwargs) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_image(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message.lower()
    return info.value


# ---- every bad case raises ImageLoadError naming the file ------------------------------------------------------


def _png_with_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims width x height (what a decompression bomb looks like up front)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    start = 8 + 8  # signature, then IHDR's length and type
    data[start:start + 8] = struct.pack(">II", width, height)
    data[start + 13:start + 17] = struct.pack(">I", zlib.crc32(bytes(data[start - 4:start + 13])))
    return bytes(data)


def test_decompression_bomb_over_our_default_limit(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_size(11000, 11000))  # 121 MP: over our 100 MP, under PIL's own 179 MP
    _load_fails(path, "bomb", "11000x11000")


def test_decompression_bomb_caught_by_pil(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_size(30000, 30000))
    error = _load_fails(path, "bomb", max_pixels=None)
    assert isinstance(error.__cause__, Image.DecompressionBombError)


def test_pixel_limit_is_configurable(tmp_path):
    path = tmp_path / "big.png"
    _noise(200, 100).save(path)
    _load_fails(path, "limit", "at most 0.01 mp", max_pixels=10_000)
    assert load_image(path, max_pixels=20_000).image.size == (200, 100)


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file(tmp_path, fmt, suffix):
    buf = io.BytesIO()
    _noise(256, 256).save(buf, fmt)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    error = _load_fails(path, "truncated")
    assert error.__cause__ is not None


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    error = _load_fails(path, "not an image")
    assert error.__cause__ is not None


@pytest.mark.parametrize(("given", "words"), [
    ("https://example.com/cat.png", ("https://example.com/cat.png", "url", "download it first")),
    ("file:///tmp/cat.png", ("url",)),
    ("", ("no path was given",)),
    ("   ", ("no path was given",)),
    (None, ("expected a file path", "nonetype")),
    (42, ("expected a file path", "int")),
    (b"/tmp/cat.png", ("expected a file path", "bytes")),
])
def test_what_is_not_a_local_path_is_one_line_naming_it(given, words):
    with pytest.raises(ImageLoadError) as info:
        load_image(given)
    message = str(info.value)
    assert "\n" not in message and message.startswith("cannot open image")
    for word in words:
        assert word in message.lower()


def test_a_heic_photo_pillow_cannot_read_says_so_and_what_to_do(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 4)
    _load_fails(path, "heic", "convert it to jpeg or png")


def test_a_path_with_unicode_and_spaces_and_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "mes photos d'été"
    folder.mkdir()
    img = _noise(13, 7, seed=5)
    img.save(folder / "chat noir ☕.png")
    loaded = load_image("~/mes photos d'été/chat noir ☕.png")
    assert np.array_equal(np.asarray(loaded.image), np.asarray(img)) and loaded.warnings == ()


def test_directory(tmp_path):
    _load_fails(tmp_path, "folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _load_fails(path, "empty")


def test_missing_file(tmp_path):
    _load_fails(tmp_path / "nope" / "missing.png", "no such file")


def test_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    _noise().save(path)

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    # the tests may run as root, where chmod 000 does not stop a read
    monkeypatch.setattr(Image, "open", deny)
    error = _load_fails(path, "permission")
    assert isinstance(error.__cause__, PermissionError)


# ---- odd but valid inputs load as upright 8-bit RGB ----------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 40), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 40))  # red band on the stored image's left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and loaded.image.size == (40, 60)
    arr = np.asarray(loaded.image).astype(int)
    assert arr[5, 20, 0] > 200 and arr[5, 20, 2] < 60  # stored left is displayed at the top
    assert arr[55, 20, 2] > 200 and arr[55, 20, 0] < 60


def test_palette_png_with_transparency(tmp_path):
    img = Image.new("P", (8, 6), 1)
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    img.paste(2, (0, 0, 4, 6))
    path = tmp_path / "pal.png"
    img.save(path, transparency=2)
    loaded = load_image(path)
    arr = np.asarray(loaded.image)
    assert loaded.image.mode == "RGB"
    assert tuple(arr[0, 6]) == (255, 0, 0) and tuple(arr[0, 1]) == (0, 255, 0)
    assert loaded.alpha is not None
    alpha = np.asarray(loaded.alpha)
    assert (alpha[:, :4] == 0).all() and (alpha[:, 4:] == 255).all()


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_greyscale(tmp_path, mode):
    grey = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8) * 5)
    img = grey if mode == "L" else Image.merge("LA", (grey, Image.new("L", grey.size, 128)))
    path = tmp_path / f"grey_{mode}.png"
    img.save(path)
    loaded = load_image(path)
    arr = np.asarray(loaded.image)
    assert arr.shape == (6, 8, 3)
    assert (arr[..., 0] == np.asarray(grey)).all() and (arr[..., 1] == arr[..., 2]).all()
    assert (loaded.alpha is None) == (mode == "L")


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    img.paste((255, 0, 255, 0), (8, 0, 16, 16))  # pure green
    path = tmp_path / "print.jpg"
    img.save(path, quality=95)
    loaded = load_image(path)
    arr = np.asarray(loaded.image).astype(int)
    assert loaded.image.mode == "RGB"
    assert np.abs(arr[8, 2] - (255, 0, 0)).max() < 20
    assert np.abs(arr[8, 13] - (0, 255, 0)).max() < 20


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 25700, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    arr = np.asarray(load_image(path).image)
    assert list(arr[0, :, 0]) == [0, 1, 100, 128, 255]


def test_16bit_rgb_png_is_scaled(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 65535, 32768, 25700
    path = tmp_path / "deep_rgb.png"
    cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes 16-bit colour PNGs (BGR order)
    arr = np.asarray(load_image(path).image).astype(int)
    assert np.abs(arr[0, 0] - (255, 128, 100)).max() <= 1


def test_float32_rgb_tiff_is_scaled_to_8_bits(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1.0, 0.5, 0.25
    path = tmp_path / "hdr.tif"
    cv2.imwrite(str(path), rgb[..., ::-1])  # a 32-bit float colour TIFF, which Pillow cannot open
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and loaded.image.size == (5, 4) and loaded.alpha is None
    assert np.abs(np.asarray(loaded.image).astype(int)[0, 0] - (255, 128, 64)).max() <= 1
    assert any("float32" in note for note in loaded.warnings)


def test_rgba_alpha_kept_and_restored_exactly(tmp_path):
    rgba = _noise(33, 21, seed=3, channels=4)
    src = tmp_path / "in.png"
    rgba.save(src)
    loaded = load_image(src)
    assert loaded.image.mode == "RGB" and loaded.alpha is not None and loaded.alpha.mode == "L"
    out = save_image(loaded.image, tmp_path / "out.png", alpha=loaded.alpha)
    with Image.open(out) as back:
        assert back.mode == "RGBA"
        assert np.array_equal(np.asarray(back), np.asarray(rgba))


def test_animated_gif_first_frame_and_warning(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    loaded = load_image(path)
    assert tuple(np.asarray(loaded.image)[5, 5]) == (255, 0, 0)
    [frames] = [note for note in loaded.warnings if "frames" in note]
    assert "3 frames" in frames and "anim.gif" in frames


def test_as_rgb_normalises_in_memory_images():
    rgba = _noise(7, 5, channels=4)
    loaded = as_rgb(rgba)
    assert loaded.path is None and loaded.image.mode == "RGB"
    assert np.array_equal(np.asarray(loaded.alpha), np.asarray(rgba)[..., 3])
    assert as_rgb(Image.new("L", (3, 2), 9)).image.getpixel((0, 0)) == (9, 9, 9)
    assert as_rgb(Image.new("L", (3, 2), 9).convert("I")).image.getpixel((0, 0)) == (9, 9, 9)  # widened 8-bit
    assert as_rgb(Image.new("F", (3, 2), 0.5)).image.getpixel((0, 0)) == (128, 128, 128)  # float in [0, 1]
    with pytest.raises(InvalidInputError):
        as_rgb(np.zeros((2, 2, 3), np.uint8))


def test_plain_rgb_loads_unchanged(tmp_path, coffee):
    path = tmp_path / "coffee.png"
    coffee.save(path)
    loaded = load_image(path)
    assert loaded.path == path and loaded.alpha is None and loaded.warnings == ()
    assert np.array_equal(np.asarray(loaded.image), np.asarray(coffee))


# ---- saving ------------------------------------------------------------------------------------------------------


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "deep" / "er" / "v1.png"
    written = save_image(_noise(), target)
    assert written == target and target.is_file()
    assert [p.name for p in target.parent.iterdir()] == ["v1.png"]


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "v1.png"
    save_image(_noise(seed=1), target)
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageSaveError) as info:
        save_image(_noise(seed=2), target)
    assert "disk full" in str(info.value) and str(target) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v1.png"]


def test_png_provenance_round_trip(tmp_path):
    meta = {"instruction": "make the café sky stormy ☁", "seed": "42", "models": '{"inpainting": "tiny"}'}
    out = save_image(_noise(), tmp_path / "v2", metadata=meta)
    assert out.suffix == ".png"
    with Image.open(out) as back:
        assert {k: back.text[k] for k in meta} == meta


def test_jpeg_drops_alpha_and_unknown_suffix_fails(tmp_path):
    img = _noise(seed=4)
    out = save_image(img, tmp_path / "x.jpg", alpha=Image.new("L", img.size, 10))
    with Image.open(out) as back:
        assert back.format == "JPEG" and back.mode == "RGB"
    with pytest.raises(ImageSaveError, match=r"\.xyz"):
        save_image(img, tmp_path / "x.xyz")
    with pytest.raises(ImageSaveError, match="is a folder"):  # not silently written next to it as <folder>.png
        save_image(img, tmp_path)
    assert not tmp_path.with_name(tmp_path.name + ".png").exists()
    with pytest.raises(InvalidInputError, match="alpha size"):
        save_image(img, tmp_path / "y.png", alpha=Image.new("L", (3, 3)))


# ---- what was converted is said ----------------------------------------------------------------------------------


def _deep_rgb(path: Path) -> None:
    cv2.imwrite(str(path), np.full((6, 8, 3), 40000, np.uint16))


@pytest.mark.parametrize(("name", "make", "said", "alpha"), [
    ("bw.png", lambda p: Image.new("1", (8, 6), 1).save(p), "1-bit black and white", False),
    ("grey.jpg", lambda p: Image.new("L", (8, 6), 90).save(p), "greyscale", False),
    ("grey_alpha.png", lambda p: Image.new("LA", (8, 6), (90, 30)).save(p), "greyscale with transparency", True),
    ("pal.png", lambda p: Image.new("P", (8, 6), 3).save(p, transparency=3), "a palette image", True),
    ("print.tif", lambda p: Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(p), "cmyk", False),
    ("deep_grey.png", lambda p: Image.fromarray(np.full((6, 8), 40000, np.uint16)).save(p), "16-bit greyscale", False),
    ("deep_rgb.png", _deep_rgb, "16 bits per channel", False),
    ("float.tif", lambda p: Image.new("F", (8, 6), 0.5).save(p), "32-bit float greyscale", False),
])
def test_a_converted_mode_is_said_in_one_note(tmp_path, name, make, said, alpha):
    path = tmp_path / name
    make(path)
    loaded = load_image(path)
    [note] = loaded.warnings
    assert note.startswith(name) and said in note.lower() and "\n" not in note
    assert note.endswith("8-bit RGBA" if alpha else "8-bit RGB") and (loaded.alpha is not None) == alpha


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_8_bit_rgb_and_rgba_are_kept_without_a_note(tmp_path, mode):
    path = tmp_path / "plain.png"
    _noise(9, 5, channels=len(mode)).save(path)
    assert load_image(path).warnings == ()


@pytest.mark.parametrize(("mode", "key"), [("L", 5), ("RGB", (5, 5, 5)), ("I;16", 5000)])
def test_a_png_transparent_colour_key_becomes_alpha_and_is_restored(tmp_path, mode, key):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    values = {"L": grey, "RGB": np.stack([grey] * 3, -1), "I;16": grey.astype(np.uint16) * 1000}[mode]
    path = tmp_path / "keyed.png"
    Image.fromarray(values).save(path, transparency=key)
    loaded = load_image(path)
    assert loaded.alpha is not None and "RGBA" in loaded.warnings[0]
    expected = np.where(grey == 5, 0, 255)
    assert np.array_equal(np.asarray(loaded.alpha), expected)
    out = save_image(loaded.image, tmp_path / "out.png", alpha=loaded.alpha)
    with Image.open(out) as back:
        assert back.mode == "RGBA" and np.array_equal(np.asarray(back)[..., 3], expected)


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".bmp"])
def test_an_export_keeps_every_pixel_in_lossless_formats(tmp_path, suffix):
    """WebP is written lossless (it was quality 95, which moved pixels an edit never touched); alpha kept."""
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    alpha = Image.fromarray(rng.integers(0, 256, (37, 53), dtype=np.uint8))
    written = save_image(rgb, tmp_path / f"out{suffix}", alpha=alpha if suffix != ".bmp" else None)
    with Image.open(written) as back:
        back.load()
        assert np.array_equal(np.asarray(back.convert("RGB")), np.asarray(rgb))
        if suffix != ".bmp":
            assert np.array_equal(np.asarray(back.getchannel("A")), np.asarray(alpha))
