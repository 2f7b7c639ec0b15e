"""Colour names to RGB, and an exact recolour in CIE Lab that keeps an object's lightness and texture."""

from __future__ import annotations

import logging

import cv2
import numpy as np
from PIL import ImageColor

from tools.errors import InvalidInputError

logger = logging.getLogger(__name__)

ACHROMATIC_CHROMA = 12.0
"""Targets with a Lab chroma below this (white, black, greys, silver) also move the lightness."""

# Words people say that CSS does not name (CSS covers the 148 web colours and #rgb / #rrggbb hex).
_ALIASES = {"golden": "gold", "grey": "gray", "sky blue": "skyblue", "navy blue": "navy", "light grey": "lightgray",
            "dark grey": "darkgray", "lime green": "limegreen", "burgundy": "#800020", "maroon red": "maroon",
            "beige": "beige", "cream": "#fffdd0", "mustard": "#e1ad01", "teal": "teal", "mint": "#98ff98",
            "lavender": "lavender", "rust": "#b7410e", "bronze": "#cd7f32", "copper": "#b87333",
            "champagne": "#f7e7ce", "charcoal": "#36454f", "ivory": "ivory", "emerald": "#50c878",
            "ruby": "#e0115f", "sapphire": "#0f52ba", "scarlet": "#ff2400", "crimson": "crimson",
            "magenta": "magenta", "cyan": "cyan", "turquoise": "turquoise", "olive": "olive", "peach": "#ffcba4"}
_INTENSITY = {"bright", "vivid", "deep", "pale", "soft", "pure", "rich", "strong", "colour", "color", "coloured",
              "colored", "a", "the", "some"}


def parse_color(color: str) -> tuple[int, int, int]:
    """RGB of a colour name ("red", "light blue", "navy blue", "golden") or hex ("#1e90ff", "#abc").

    Raises:
        InvalidInputError: not a colour we know; the message names it.
    """
    if not isinstance(color, str) or not color.strip():
        raise InvalidInputError(f"colour must be a name or #hex code, got {color!r}")
    text = " ".join(color.strip().strip(".,!?;:'\"").lower().replace("-", " ").split())
    words = text.split()
    # the whole phrase ("light blue", "navy blue"), then without intensity words ("bright red"),
    # then its last colour word ("the colour red", "a deep ocean blue")
    candidates = [text, " ".join(w for w in words if w not in _INTENSITY), *reversed(words)]
    for candidate in candidates:
        candidate = _ALIASES.get(candidate, candidate)
        for spelling in (candidate, candidate.replace(" ", "")):
            try:
                r, g, b = ImageColor.getrgb(spelling)[:3]
                return int(r), int(g), int(b)
            except ValueError:
                continue
    raise InvalidInputError(f"unknown colour {color!r}; use a common colour name (red, navy, light blue...) "
                            f"or a hex code like #1e90ff")


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) sRGB to float32 Lab (L in [0, 100], a/b about [-128, 127]), D65."""
    flat = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / np.float32(255.0)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb)[:-1] + (3,))


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float Lab (..., 3) to uint8 sRGB, clipped into the gamut."""
    return np.clip(np.rint(_lab_to_rgb_float(lab) * 255.0), 0, 255).astype(np.uint8)


def _lab_to_rgb_float(lab: np.ndarray) -> np.ndarray:
    """float Lab (..., 3) to float sRGB in about [0, 1]; out-of-gamut colours fall outside it."""
    flat = np.ascontiguousarray(lab, dtype=np.float32).reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_Lab2RGB).reshape(np.shape(lab))


def _into_gamut(lab: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Lab (N x 3) moved into sRGB by shrinking chroma only: lightness and hue angle stay (no RGB clipping shift)."""
    tol = 0.5 / 255.0
    rgb = _lab_to_rgb_float(lab)
    outside = ((rgb < -tol) | (rgb > 1 + tol)).any(axis=1)
    if not outside.any():
        return lab
    sub = lab[outside]
    lo, hi = np.zeros(len(sub), np.float32), np.ones(len(sub), np.float32)
    for _ in range(iterations):  # bisect the largest chroma scale that stays in gamut
        mid = (lo + hi) / 2
        trial = np.concatenate([sub[:, :1], sub[:, 1:] * mid[:, None]], axis=1)
        t = _lab_to_rgb_float(trial)
        ok = ((t >= -tol) & (t <= 1 + tol)).all(axis=1)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    out = lab.copy()
    out[outside, 1:] = sub[:, 1:] * lo[:, None]
    return out


def recolor_lab(pixels: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """Give ``pixels`` (uint8 N x 3, one object) the hue and chroma of ``color``, keeping lightness and texture.

    Every pixel's a/b moves by the same offset, from the object's mean a/b to the target's, so
    shading and texture (the per-pixel deviations) survive and L is untouched. For achromatic
    targets (white, black, greys) the mean lightness moves to the target's too, again by one
    offset, or "make it white" would only grey the object. Colours sRGB cannot show at that
    lightness lose chroma, never hue (no per-channel clipping).

    Returns:
        uint8 N x 3.
    """
    lab = rgb_to_lab(pixels)
    target = rgb_to_lab(np.asarray([color], dtype=np.uint8))[0]
    out = lab.copy()
    out[:, 1:] += target[1:] - lab[:, 1:].mean(axis=0)
    if float(np.hypot(target[1], target[2])) < ACHROMATIC_CHROMA:
        out[:, 0] = np.clip(out[:, 0] + (target[0] - lab[:, 0].mean()), 0.0, 100.0)
    return lab_to_rgb(_into_gamut(out))
