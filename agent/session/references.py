"""Reference images given with a turn: read safely, kept in the session folder by content, described for the planner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from agent.session.records import Reference
from agent.session.store import SessionStore
from tools.errors import InvalidInputError

MAX_SIDE = 2048
"""A longer reference is scaled down to this longer side before it is kept (every engine works at
1024 px or less; the session stays small)."""


def read_reference(value: Any) -> tuple[Image.Image, str]:
    """A reference as (RGB image, name): a path read by :func:`tools.imageio.load_image` (its size and
    decompression-bomb checks), or a PIL image. Transparent parts become white (a cut-out object keeps
    its outline); a side over :data:`MAX_SIDE` is scaled down.

    Raises:
        ImageLoadError: the file cannot be read (the one-line message names it and what to do).
        InvalidInputError: ``value`` is neither a path nor a PIL image.
    """
    from tools.imageio import as_rgb, load_image

    if isinstance(value, Image.Image):
        loaded, name = as_rgb(value), ""
    elif isinstance(value, (str, os.PathLike)) and str(value).strip():
        loaded = load_image(str(value).strip())
        name = Path(str(value).strip()).name
    else:
        raise InvalidInputError(f"a reference is an image path or a PIL image, not {type(value).__name__}")
    image = loaded.image
    if loaded.alpha is not None:
        white = Image.new("RGB", image.size, (255, 255, 255))
        image = Image.composite(image, white, loaded.alpha)
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    return image, name


def attach(store: SessionStore, value: Any) -> Reference:
    """Read a reference (:func:`read_reference`) and keep it as ``references/<sha256>.png`` in the session.

    Raises:
        ChatEditError: it cannot be read, or the session folder cannot be written.
    """
    image, name = read_reference(value)
    reference_id = store.put_reference(image)
    return Reference(id=reference_id, name=name[:120], size=(image.width, image.height))
