"""The bundled sample photos: real photos that scikit-image ships inside its wheel (no download)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tools.errors import InvalidInputError

SAMPLES: dict[str, str] = {
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "astronaut": "astronaut.png",
    "rocket": "rocket.jpg",
}
"""Sample name → file name inside ``skimage/data``. coffee: a cup on a saucer (400×600);
chelsea: a cat (300×451); astronaut: Eileen Collins (512×512); rocket: a launch (427×640)."""

DEFAULT_SAMPLE = "coffee"


def sample_path(name: str) -> Path:
    """Path of a bundled sample photo by name (``coffee``, ``chelsea``, ``astronaut``, ``rocket``)."""
    if name not in SAMPLES:
        raise InvalidInputError(f"unknown sample {name!r}; samples are {', '.join(SAMPLES)}")
    import skimage.data

    path = Path(skimage.data.__file__).parent / SAMPLES[name]
    if not path.is_file():
        raise InvalidInputError(f"sample {name!r} is missing from scikit-image at {path}; reinstall scikit-image")
    return path


def sample_image(name: str) -> Image.Image:
    """A bundled sample photo as a PIL RGB image."""
    with Image.open(sample_path(name)) as im:
        return im.convert("RGB")


def is_sample(name: str) -> bool:
    return name in SAMPLES
