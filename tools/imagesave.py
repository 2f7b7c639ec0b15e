"""Saving images: atomically, in the format the suffix names, with the opened image's alpha and provenance kept."""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tools.atomic import atomic_write
from tools.errors import ImageSaveError, InvalidInputError

logger = logging.getLogger(__name__)

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
                ".tiff": "TIFF", ".bmp": "BMP"}
"""File suffix -> format that save_image writes."""


def one_line(error: BaseException) -> str:
    """An error's message on one line of at most 200 characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def output_path(path: str | os.PathLike[str]) -> Path:
    """The file :func:`save_image` would write for ``path``, checked before any work is done.

    A path without a suffix gets ".png". Missing parent folders are fine (save_image creates them)
    as long as the nearest existing one is a folder that can be written in.

    Raises:
        ImageSaveError: an unknown image suffix, an existing folder, or a parent that cannot be written.
    """
    given = Path(path).expanduser()
    if given.is_dir():
        raise ImageSaveError(f"cannot save to {given}: it is a folder; give a file name such as {given / 'out.png'}")
    final = given if given.suffix else given.with_name(given.name + ".png")
    _format_for(final)
    if final.is_dir():
        raise ImageSaveError(f"cannot save {final}: it is a folder; give a file name")
    ancestor = final.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ImageSaveError(f"cannot save {final}: {ancestor} is a file, not a folder; check the path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ImageSaveError(f"cannot save {final}: the folder {ancestor} is not writable; choose another place")
    return final


def _format_for(path: Path) -> str:
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageSaveError(f"cannot save {path}: unknown image type {path.suffix!r}; "
                             f"use one of {', '.join(sorted(set(SAVE_FORMATS)))}")
    return fmt


def save_image(image: Image.Image, path: str | os.PathLike[str], *, alpha: Image.Image | None = None,
               metadata: Mapping[str, str] | None = None) -> Path:
    """Write an image atomically (temp file in the same folder, then rename): a crash never leaves half a file.

    Args:
        image: PIL image (RGB expected; RGBA keeps its own alpha unless ``alpha`` is given).
        path: destination; the suffix picks the format, none means PNG (".png" is added). Parents are created;
            an existing folder is refused (see :func:`output_path`).
        alpha: "L" transparency of the same size to restore (from LoadedImage.alpha); JPEG drops it, PNG, WebP,
            TIFF and BMP (32-bit with an alpha mask) keep it.
        metadata: provenance text (instruction, seed, models...) written as PNG text chunks; other formats
            do not carry it.

    Returns:
        The path written.

    Raises:
        ImageSaveError: unknown suffix, ``path`` is a folder, the folder cannot be created, or the write
            failed (any previous file at ``path`` is then left as it was).
        InvalidInputError: ``image``/``alpha``/``metadata`` are of the wrong type or size.
    """
    if not isinstance(image, Image.Image):
        raise InvalidInputError(f"save_image needs a PIL image, got {type(image).__name__}")
    final = output_path(path)
    fmt = _format_for(final)
    out = _with_alpha(image, alpha)
    if fmt == "JPEG" and out.mode not in ("RGB", "L"):
        out = out.convert("RGB")  # JPEG has no transparency
    # WebP can be lossless, so it is: an export keeps every pixel an edit left alone; JPEG cannot.
    options: dict[str, object] = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True, "exact": True}}.get(fmt, {})
    if metadata:
        if fmt == "PNG":
            options["pnginfo"] = _png_text(metadata)
        else:
            logger.debug("metadata not written: %s does not carry PNG text chunks", final.name)

    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageSaveError(f"cannot save {final}: cannot create its folder ({one_line(e)}); "
                             "check the path and permissions") from e
    if final.is_dir():
        raise ImageSaveError(f"cannot save {final}: it is a folder; give a file name")
    # Pillow's own 32-bit BMP has no alpha mask, so readers drop its alpha: that one is written here
    data = _bmp_rgba(out) if fmt == "BMP" and out.mode == "RGBA" else lambda f: out.save(f, format=fmt, **options)
    try:
        atomic_write(final, data,
                     mode=(final.stat().st_mode & 0o777) if final.exists() else 0o644)
    except Exception as e:  # noqa: BLE001 - the encoder's and the disk's failures alike: one line
        raise ImageSaveError(f"cannot save {final}: {one_line(e)}; check free space and permissions") from e
    logger.debug("saved %s (%s, %dx%d)", final, fmt, out.width, out.height)
    return final


def _with_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """RGB or RGBA copy of ``image`` with ``alpha`` attached when given."""
    if alpha is None:
        if image.mode in ("RGB", "RGBA", "L"):
            return image
        return image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    if not isinstance(alpha, Image.Image):
        raise InvalidInputError(f"alpha must be a PIL 'L' image, got {type(alpha).__name__}")
    if alpha.size != image.size:
        raise InvalidInputError(f"alpha size {alpha.size} does not match the image size {image.size}")
    out = image.convert("RGB").copy() if image.mode != "RGB" else image.copy()
    out.putalpha(alpha if alpha.mode == "L" else alpha.convert("L"))
    return out


def _bmp_rgba(image: Image.Image) -> bytes:
    """An RGBA image as a 32-bit BMP with a BITMAPV4HEADER whose masks name the alpha (Pillow, OpenCV and
    browsers read it back as RGBA)."""
    w, h = image.size
    data = np.ascontiguousarray(np.asarray(image)[::-1, :, [2, 1, 0, 3]]).tobytes()   # bottom-up rows of BGRA
    header = struct.pack("<IiiHHIIiiII", 108, w, h, 1, 32, 3, len(data), 2835, 2835, 0, 0)  # 3: BI_BITFIELDS
    v4 = header + struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000) + b"BGRs" + bytes(48)
    offset = 14 + len(v4)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + v4 + data


def _png_text(metadata: Mapping[str, str]) -> PngInfo:
    info = PngInfo()
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 79 or not key.isascii() or not key.isprintable():
            raise InvalidInputError(f"metadata keys must be 1-79 printable ASCII characters, got {key!r}")
        if not isinstance(value, str):
            raise InvalidInputError(f"metadata value for {key!r} must be a str, got {type(value).__name__}")
        info.add_itxt(key, value)  # UTF-8, so any instruction text survives
    return info
