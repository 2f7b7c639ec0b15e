"""Safe image I/O: open whatever path a user gives as RGB (+ alpha aside); saving is :mod:`tools.imagesave` (re-exported)."""

from __future__ import annotations

import io
import logging
import os
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from tools.errors import ImageLoadError, InvalidInputError
from tools.imagesave import SAVE_FORMATS, output_path, save_image  # noqa: F401 - re-exported
from tools.imagesave import one_line as _one_line

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
"""Refuse images larger than this (about 10000 x 10000): a decompression bomb would exhaust memory."""


# What PIL's decoders raise on corrupt data besides OSError (struct/Index errors come from broken headers).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError,
                  ZeroDivisionError)
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for the toolkit.

    Attributes:
        image: PIL RGB, upright (EXIF orientation applied), 8 bits per channel, sRGB where a profile said otherwise.
        alpha: the transparency channel as PIL "L" of the same size, kept aside for save_image; None if the
            source had none.
        path: the file it came from; None for an in-memory image.
        warnings: one-line notes for the user (first frame of an animation used, colour profile ignored...).
    """

    image: Image.Image
    alpha: Image.Image | None
    path: Path | None
    warnings: tuple[str, ...] = ()


def _mp(pixels: int) -> str:
    """Megapixels in a few digits: 108, 1.5, 0.01."""
    return f"{pixels / 1e6:.0f}" if pixels >= 10_000_000 else f"{pixels / 1e6:.2g}"


def load_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Open an image file as RGB with its alpha kept aside.

    Args:
        path: any path a user may give (``~`` is expanded).
        max_pixels: refuse images with more pixels than this (None: no limit of ours; PIL's own still applies).

    Returns:
        LoadedImage with the fully decoded image (the file is closed).

    Raises:
        ImageLoadError: missing, a folder, empty, unreadable, not an image, truncated or corrupt, or too large;
            the one-line message names the path and what to do.
    """
    p = _local_path(path)

    def fail(problem: str, advice: str) -> ImageLoadError:
        return ImageLoadError(f"cannot open image {p}: {problem}; {advice}")

    try:
        if not p.exists():
            raise fail("no such file", "check the path and spelling")
        if p.is_dir():
            raise fail("it is a folder, not an image file", "give the path of an image inside it")
        if p.stat().st_size == 0:
            raise fail("the file is empty (0 bytes)", "re-export or re-download it")
    except PermissionError as e:
        raise fail("permission denied", "check the file's permissions") from e
    except (OSError, ValueError) as e:  # e.g. a name too long, a broken network mount, a NUL byte
        raise fail(_one_line(e), "check the path") from e

    try:
        with warnings.catch_warnings():
            # Our own max_pixels check decides; PIL's warning above ~89 MP would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if max_pixels is not None and im.width * im.height > max_pixels:
                    raise fail(f"{im.width}x{im.height} is {_mp(im.width * im.height)} MP, over the "
                               f"{_mp(max_pixels)} MP limit (a possible decompression bomb)",
                               f"downscale it to at most {_mp(max_pixels)} MP first")
                return _normalise(im, p)
    except ImageLoadError:
        raise
    except PermissionError as e:
        raise fail("permission denied", "check the file's permissions") from e
    except Image.DecompressionBombError as e:
        raise fail(f"too many pixels, a possible decompression bomb ({_one_line(e)})",
                   "downscale it first if you trust it") from e
    except MemoryError as e:
        raise fail("not enough memory to decode it", "downscale it first or free some memory") from e
    except UnidentifiedImageError as e:
        if _is_tiff(p):  # a TIFF Pillow cannot decode, such as 32-bit float RGB from HDR or scientific tools
            return _load_tiff(p, max_pixels, fail)
        if _is_heif(p):
            raise fail("a HEIC/HEIF photo, which this install cannot decode",
                       "convert it to JPEG or PNG first (or install pillow-heif)") from e
        raise fail("not an image format that can be read", "give a PNG, JPEG, WebP, TIFF, BMP or GIF file") from e
    except _DECODE_ERRORS as e:
        if isinstance(e, EOFError) or "truncat" in str(e).lower():
            raise fail("the file is truncated (incomplete)", "re-export or re-download it") from e
        raise fail(f"the image data is corrupt ({_one_line(e)})", "re-export or re-download it") from e


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _local_path(path: object) -> Path:
    """``path`` as a local Path (``~`` expanded), or ImageLoadError for no path, a URL or another type."""
    if not isinstance(path, (str, os.PathLike)):
        raise ImageLoadError(f"cannot open image {path!r}: expected a file path, got {type(path).__name__}; "
                             "give the path of an image file")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise ImageLoadError(f"cannot open image {text!r}: the path is bytes; give it as text")
    if not text.strip():
        raise ImageLoadError("cannot open image: no path was given; give the path of an image file")
    if _URL.match(text.strip()):
        raise ImageLoadError(f"cannot open image {text.strip()}: it is a URL and only local files are read; "
                             "download it first and give the file's path")
    return Path(text).expanduser()


def _is_heif(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim")


def _is_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    except OSError:
        return False


def _load_tiff(p: Path, max_pixels: int | None, fail: Callable[[str, str], ImageLoadError]) -> LoadedImage:
    """Read a TIFF with tifffile: float, 32-bit or multi-sample data scaled to 8 bits like 16-bit PNGs are."""
    advice = "convert it to an 8- or 16-bit RGB TIFF or a PNG"
    try:
        import tifffile
    except ImportError:
        raise fail("a TIFF whose sample format (e.g. 32-bit float RGB) Pillow cannot decode", advice) from None
    try:
        with tifffile.TiffFile(p) as tif:
            page, pages = tif.pages[0], len(tif.pages)
            if max_pixels is not None and page.imagewidth * page.imagelength > max_pixels:
                raise fail(f"{page.imagewidth}x{page.imagelength} is over the {_mp(max_pixels)} MP limit "
                           f"(a possible decompression bomb)", f"downscale it to at most {_mp(max_pixels)} MP first")
            data, axes = page.asarray(), page.axes
    except ImageLoadError:
        raise
    except MemoryError as e:
        raise fail("not enough memory to decode it", "downscale it first or free some memory") from e
    except Exception as e:  # noqa: BLE001 - tifffile and its codecs raise many types on bad data
        raise fail(f"a TIFF that cannot be decoded ({_one_line(e)})", advice) from e
    if axes.startswith("S") and data.ndim == 3:  # planar storage: samples first
        data = np.moveaxis(data, 0, -1)
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3 or not 1 <= data.shape[-1] <= 4 or data.dtype.kind not in "uif":
        raise fail(f"a TIFF of {data.dtype} samples shaped {data.shape} (axes {axes}), not a picture", advice)
    colour = data[..., :3] if data.shape[-1] >= 3 else np.repeat(data[..., :1], 3, axis=-1)
    alpha = data[..., -1] if data.shape[-1] in (2, 4) else None
    notes = [f"{p.name}: {data.dtype} samples scaled to 8 bits"]
    if pages > 1:
        notes.append(f"{p.name} has {pages} pages; only the first one is used")
    return LoadedImage(image=Image.fromarray(_to_8bit(colour), "RGB"),
                       alpha=None if alpha is None else Image.fromarray(_to_8bit(alpha), "L"),
                       path=p, warnings=tuple(notes))


def _to_8bit(values: np.ndarray) -> np.ndarray:
    """Any integer or float samples as uint8, with the same rules as Pillow's 16-bit and float modes."""
    if values.dtype.kind == "f":
        out = _scale_float(values.astype(np.float32))
    elif values.dtype.itemsize == 1:
        out = values.astype(np.uint8) if values.dtype.kind == "u" else (values.astype(np.int16) + 128).astype(np.uint8)
    else:
        out = _scale_16bit(values)
    return np.ascontiguousarray(out)


def as_rgb(image: Image.Image) -> LoadedImage:
    """Normalise an in-memory PIL image like load_image does (upright RGB, 8-bit, alpha aside).

    Raises:
        InvalidInputError: ``image`` is not a PIL image.
        ImageLoadError: its pixel data cannot be decoded (e.g. a truncated lazily opened file).
    """
    if not isinstance(image, Image.Image):
        raise InvalidInputError(f"expected a PIL image, got {type(image).__name__}")
    try:
        return _normalise(image, None)
    except _DECODE_ERRORS as e:
        raise ImageLoadError(f"cannot decode in-memory image: {_one_line(e)}; re-open it from a valid file") from e


def _normalise(im: Image.Image, path: Path | None) -> LoadedImage:
    """Decode ``im`` fully and turn it into LoadedImage (first frame, upright, RGB 8-bit, alpha aside)."""
    notes: list[str] = []
    name = path.name if path is not None else "the image"
    deep = _deep_samples(im)  # read before decoding: Pillow forgets the stored sample format after load
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        position = im.tell()
        im.seek(0)
        im.load()
        frame = im.copy()
        if path is None:
            im.seek(position)  # leave the caller's image where it was
        if im.format != "MPO":  # a phone photo's extra frames are depth maps/previews: nothing to tell
            notes.append(f"{name} has {frames} frames (animated or multi-page); only the first one is used")
    else:
        im.load()  # decode now, so a truncated file fails here and not later
        frame = im
    try:
        upright = ImageOps.exif_transpose(frame)
    except _DECODE_ERRORS as e:  # malformed EXIF: keep the pixels as stored
        logger.debug("EXIF orientation of %s unreadable: %s", name, e)
        notes.append(f"{name}: EXIF orientation unreadable ({_one_line(e)}); used as stored")
        upright = frame.copy()
    if upright is frame:
        upright = frame.copy()
    rgb, alpha = _split_rgb_alpha(upright)
    rgb = _to_srgb(rgb, upright, name, notes)
    converted = _conversion(upright.mode, deep) or ("RGB with one colour keyed transparent"
                                                    if upright.mode == "RGB" and alpha is not None else None)
    if converted:
        notes.append(f"{name} is {converted}; it is edited and exported as 8-bit RGB{'A' if alpha else ''}")
    return LoadedImage(image=rgb, alpha=alpha, path=path, warnings=tuple(notes))


def _deep_samples(im: Image.Image) -> bool:
    """Whether the file stores 16-bit samples that Pillow decodes as an 8-bit mode (a 16-bit RGB PNG)."""
    for tile in getattr(im, "tile", None) or ():
        raw = tile.args[0] if isinstance(tile.args, tuple) and tile.args else tile.args
        if im.mode in ("RGB", "RGBA") and isinstance(raw, str) and ";16" in raw:
            return True
    return False


_MODE_NAMES = {"1": "1-bit black and white", "L": "greyscale", "LA": "greyscale with transparency",
               "La": "greyscale with transparency", "P": "a palette image", "PA": "a palette image",
               "I": "32-bit integer greyscale", "F": "32-bit float greyscale", "CMYK": "CMYK",
               "I;16": "16-bit greyscale", "I;16L": "16-bit greyscale", "I;16B": "16-bit greyscale",
               "I;16N": "16-bit greyscale"}


def _conversion(mode: str, deep: bool) -> str | None:
    """What the source was, when it is not 8-bit RGB(A) (None: nothing was converted)."""
    if mode in ("RGB", "RGBA"):
        return "16 bits per channel" if deep else None
    return _MODE_NAMES.get(mode, f"in {mode} mode")


def _split_rgb_alpha(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Convert any PIL mode to (RGB, alpha "L" or None) without clipping high bit depths."""
    mode = im.mode
    key = im.info.get("transparency")  # a PNG tRNS colour: pixels of exactly this value are transparent
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(im)
        alpha = _keyed_alpha(values == key) if isinstance(key, int) and not isinstance(key, bool) else None
        if mode == "I" and values.size and values.min() >= 0 and values.max() <= 255:  # 8-bit data widened
            return _gray_to_rgb(values), alpha
        return _gray_to_rgb(_scale_16bit(values)), alpha  # 16-bit data (PNG, PGM, TIFF) or wider
    if mode == "F":
        return _gray_to_rgb(_scale_float(np.asarray(im, dtype=np.float32))), None
    if mode == "P":
        has_alpha = "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("PA", "RGBa", "LA", "La", "RGBA"):
        if mode == "La":  # premultiplied: PIL converts it only to LA
            im = im.convert("LA")
        im = im.convert("RGBA") if im.mode != "RGBA" else im
    elif mode in ("L", "RGB") and key is not None:
        im = im.convert("RGBA")  # Pillow turns the tRNS colour into alpha 0
    elif mode != "RGB":
        im = im.convert("RGB")  # L, 1, CMYK, YCbCr, RGBX, HSV ...
    if im.mode == "RGBA":
        return im.convert("RGB"), im.getchannel("A")
    return im, None


def _keyed_alpha(transparent: np.ndarray) -> Image.Image | None:
    """Alpha "L" from a tRNS key's matches: 0 where transparent, 255 elsewhere (None: no pixel matches)."""
    return Image.fromarray(np.where(transparent, 0, 255).astype(np.uint8), "L") if transparent.any() else None


def _gray_to_rgb(gray8: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(gray8, dtype=np.uint8)).convert("RGB")


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """16-bit samples -> uint8 by round(v / 257), so 65535 -> 255 and 257 * k -> k; wider ranges are stretched."""
    v = values.astype(np.int64)
    lo, hi = int(v.min()), int(v.max())
    if lo < 0 or hi > 65535:  # a true 32-bit integer image: stretch its range instead of clipping
        return ((v - lo) * 255 // max(1, hi - lo)).astype(np.uint8)
    return ((v + 128) // 257).astype(np.uint8)


def _scale_float(values: np.ndarray) -> np.ndarray:
    """Float samples -> uint8: [0, 1] data is scaled by 255, [0, 255] kept, anything else stretched."""
    v = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(v.min()), float(v.max())
    if lo >= 0.0 and hi <= 1.0:
        v = v * 255.0
    elif lo < 0.0 or hi > 255.0:
        v = (v - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def _to_srgb(rgb: Image.Image, source: Image.Image, name: str, notes: list[str]) -> Image.Image:
    """Convert with the embedded ICC profile to sRGB (a Display P3 or CMYK photo would look wrong otherwise), and
    say so: exports are sRGB without the profile. An sRGB profile is left alone (converting would only round);
    a profile or PNG gamma that is not applied is said too."""
    icc = source.info.get("icc_profile")
    rgb.info.pop("icc_profile", None)   # never carried into the session's PNGs: what is kept is said here
    if not icc:
        _gamma_note(source, name, notes)
        return rgb
    if source.mode not in ("RGB", "RGBA", "CMYK"):
        notes.append(f"{name}: its embedded colour profile is not applied to {_MODE_NAMES.get(source.mode, source.mode)}"
                     " values; they are used as stored and exported without the profile")
        return rgb
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        described = " ".join(ImageCms.getProfileDescription(profile).split())
        if source.mode != "CMYK" and "srgb" in described.lower():
            return rgb
        if source.mode == "CMYK":
            converted = ImageCms.profileToProfile(source, profile, _SRGB, outputMode="RGB")
        else:
            converted = ImageCms.profileToProfile(rgb, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as e:
        notes.append(f"{name}: embedded colour profile unusable ({_one_line(e)}); colours used as stored")
        return rgb
    converted.info.pop("icc_profile", None)
    notes.append(f"{name}: colours converted from its colour profile ({described[:60] or 'unnamed'}) to sRGB; "
                 "it is edited and exported in sRGB, without that profile")
    return converted


_SRGB_GAMMA = 1 / 2.2
"""A PNG gAMA value that means (close enough to) sRGB."""


def _gamma_note(source: Image.Image, name: str, notes: list[str]) -> None:
    """Say that a PNG's gamma mark other than sRGB's is not applied (colours as stored, exports without it)."""
    gamma = source.info.get("gamma")
    if not isinstance(gamma, (int, float)) or "srgb" in source.info or abs(gamma - _SRGB_GAMMA) < 0.01:
        return
    notes.append(f"{name}: its PNG gamma mark ({gamma:.5g}, sRGB is 0.45455) is not applied; colours are used "
                 "as stored and exported without it")
