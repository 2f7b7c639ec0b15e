"""Colour names to RGB, and an exact recolour in CIE Lab that keeps an object's lightness and texture."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ImageColor

from tools.errors import InvalidInputError

logger = logging.getLogger(__name__)

ACHROMATIC_CHROMA = 12.0
"""Targets with a Lab chroma below this (white, black, greys, silver) also move the lightness."""

# Words people say that CSS does not name (CSS covers the 148 web colours and #rgb / #rrggbb hex).
_ALIASES = {"golden": "gold", "grey": "gray", "sky blue": "skyblue", "navy blue": "navy", "light grey": "lightgray",
            "dark grey": "#505050", "dark gray": "#505050", "lime green": "limegreen", "burgundy": "#800020",
            "maroon red": "maroon",
            "beige": "beige", "cream": "#fffdd0", "mustard": "#e1ad01", "teal": "teal", "mint": "#98ff98",
            "lavender": "lavender", "rust": "#b7410e", "bronze": "#cd7f32", "copper": "#b87333",
            "champagne": "#f7e7ce", "charcoal": "#36454f", "ivory": "ivory", "emerald": "#50c878",
            "ruby": "#e0115f", "sapphire": "#0f52ba", "scarlet": "#ff2400", "crimson": "crimson",
            "magenta": "magenta", "cyan": "cyan", "turquoise": "turquoise", "olive": "olive", "peach": "#ffcba4",
            # hue pairs people name as one colour (a plain mix of the two would be duller)
            "blue green": "#0d98ba", "green blue": "#0d98ba", "yellow green": "yellowgreen",
            "red orange": "#ff5349", "orange red": "orangered", "yellow orange": "#ffae42",
            "blue violet": "blueviolet", "red violet": "#c71585", "blue purple": "#5b3fd1", "navy": "navy",
            "baby blue": "#89cff0", "baby pink": "#f4c2c2", "hot pink": "hotpink", "royal blue": "royalblue",
            "forest green": "forestgreen", "sea green": "seagreen", "ocean blue": "#1f6fa8",
            "blood red": "#8a0303", "brick red": "#cb4154", "cherry red": "#d2042d", "wine red": "#722f37",
            "wine": "#722f37", "mauve": "#e0b0ff", "lilac": "#c8a2c8", "sand": "#c2b280", "taupe": "#483c32",
            "aqua": "aqua", "fuchsia": "fuchsia", "indigo": "indigo", "khaki": "khaki", "tan": "tan"}
_FILLERS = frozenset({"a", "an", "the", "some", "colour", "color", "coloured", "colored", "shade", "shades", "of",
                      "tone", "hue", "very", "really", "nice", "pure", "bright", "vivid", "rich", "strong",
                      "solid", "plain", "true"})
"""Words that say nothing about which colour ("a bright red", "the colour grey")."""
_MODIFIERS = {  # word → (how far lightness moves: + towards 100, - towards 0, as a share; chroma factor)
    "light": (0.4, 0.85), "pale": (0.55, 0.55), "pastel": (0.5, 0.5), "dark": (-0.4, 1.0),
    "deep": (-0.25, 1.1), "muted": (0.0, 0.6), "soft": (0.15, 0.7), "dull": (-0.05, 0.55), "dusty": (0.05, 0.5)}
_ISH = {"bluish": "blue", "blueish": "blue", "greenish": "green", "reddish": "red", "yellowish": "yellow",
        "pinkish": "pink", "purplish": "purple", "brownish": "brown", "greyish": "gray", "grayish": "gray",
        "orangish": "orange", "orangey": "orange", "whitish": "white", "blackish": "black"}
_JOINERS = frozenset({"and", "&", "or", "with", "+", "/", ",", "plus", "n"})
PATTERNS = frozenset("""striped stripes stripy stripe pinstriped pinstripe checkered chequered checked checkerboard
    plaid tartan polka dots dotted dot spotted spots spotty speckled floral flowery flowers flower paisley leopard
    zebra tiger cheetah giraffe snakeskin camo camouflage rainbow gradient ombre tie-dye tiedye tie dyed pattern
    patterned patterns print printed herringbone houndstooth argyle swirly swirls swirled marbled mosaic tiles tiled
    zigzag chevron geometric hearts stars multicolored multicoloured colorful colourful flames graffiti""".split())
"""Words for looks the exact colour shift cannot draw: they need a diffusion recolour."""
MATERIALS = frozenset("""wood wooden marble metal metallic chrome chromed steel iron glass glassy crystal velvet
    leather denim stone brick concrete sparkly sparkling sparkles glitter glittery glittering shiny glossy matte satin
    silk silky iridescent holographic pearl pearly pearlescent ceramic porcelain plastic rubber paper cardboard fur
    furry fluffy wool woolen woollen knitted knit ice icy frosted transparent translucent rusty gilded bamboo wicker
    rattan cork granite lace tweed suede corduroy linen cotton mirror mirrored reflective glowing glow neon jeweled
    gold-plated""".split())
"""Words for materials and finishes: a diffusion recolour, not a colour shift."""


@dataclass(frozen=True)
class Colour:
    """One colour as people name it.

    Attributes:
        rgb: the colour.
        text: the words it was read from (normalised).
        sets_lightness: the words fix its lightness ("light blue", "dark navy", "white"): a recolour
            moves the object's lightness to it instead of keeping the object's own.
    """

    rgb: tuple[int, int, int]
    text: str
    sets_lightness: bool = False


@dataclass(frozen=True)
class Recolour:
    """How a recolour request can be done (:func:`classify_recolor`).

    Attributes:
        method: ``lab`` (one colour: the exact shift) or ``diffusion`` (patterns, materials, several colours).
        text: the request, normalised to one line.
        colour: the colour for ``lab``; None for ``diffusion``.
        why: for ``diffusion``, what the exact shift cannot do: "patterns", "materials" or "several colours".
    """

    method: str
    text: str
    colour: Colour | None = None
    why: str = ""


def _words(text: str) -> list[str]:
    """Lower-case words, with separators (and , / + &) kept as words of their own."""
    text = text.lower().replace("-", " ")
    return re.findall(r"#[0-9a-f]+|[a-z']+|[&,/+]", text)


def _known(phrase: str) -> tuple[int, int, int] | None:
    """RGB of one colour name (an alias, a CSS name with or without spaces, or #hex), or None."""
    phrase = _ALIASES.get(phrase, phrase)
    for spelling in (phrase, phrase.replace(" ", "")):
        if not spelling or (spelling[0] != "#" and not spelling.isalpha()):
            continue
        try:
            r, g, b = ImageColor.getrgb(spelling)[:3]
            return int(r), int(g), int(b)
        except ValueError:
            continue
    return None


def _refusal(color: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"{color!r} is not one colour ({why}); give one colour name (red, navy, light blue, "
                             f"blue-green...) or a hex code like #1e90ff")


def parse_colour(color: str) -> Colour:
    """Read one colour as people write it.

    Understood: names (CSS and common words: "red", "navy", "golden", "burgundy"), hex ("#1e90ff",
    "#abc"), two-word names ("navy blue", "hot pink"), hue pairs ("blue-green", "blue green",
    "bluish green": the named colour, or their mix in OKLab), and lightness or strength words
    applied in OKLab, where hue stays put ("light blue", "dark navy", "pale pink", "muted green").

    Raises:
        InvalidInputError: not one colour ("red and white striped", "wooden", "gold sparkly"); one line
            that names it and why.
    """
    if not isinstance(color, str) or not color.strip():
        raise InvalidInputError(f"colour must be a name or #hex code, got {color!r}")
    shown = " ".join(color.split())
    if shown.lower().startswith(("rgb(", "hsl(", "hsv(", "hsb(")):      # CSS functions: rgb(30, 144, 255)
        try:
            r, g, b = ImageColor.getrgb(shown.lower())[:3]
            if not all(0 <= v <= 255 for v in (r, g, b)):
                raise ValueError(shown)
        except ValueError:
            raise _refusal(shown, "a colour function needs numbers in range, like rgb(30, 144, 255)") from None
        return Colour((int(r), int(g), int(b)), shown.lower(), sets_lightness=_chroma((r, g, b)) < ACHROMATIC_CHROMA)
    words = [w for w in _words(shown.strip(".!?;:'\"")) if w not in _FILLERS]
    if not words:
        raise _refusal(shown, "no colour word in it")
    whole = _known(" ".join(words))
    if whole is not None and not (set(words) & _JOINERS):
        lit = words[0] in ("light", "dark", "pale", "deep") or _chroma(whole) < ACHROMATIC_CHROMA
        return Colour(whole, " ".join(words), sets_lightness=lit)
    if set(words) & _JOINERS:
        raise _refusal(shown, "it names several colours")
    if set(words) & (PATTERNS | MATERIALS):
        raise _refusal(shown, f"'{next(w for w in words if w in PATTERNS | MATERIALS)}' is a pattern or material")
    hues: list[tuple[tuple[int, int, int], float]] = []
    modifiers: list[str] = []
    i = 0
    while i < len(words):
        for size in (3, 2, 1):                      # the longest name first: "forest green", "navy blue"
            rgb = _known(" ".join(words[i:i + size])) if i + size <= len(words) else None
            if rgb is not None:
                hues.append((rgb, 1.0))
                i += size
                break
        else:
            word = words[i]
            if word in _MODIFIERS:
                modifiers.append(word)
            elif word in _ISH:
                hues.append((_known(_ISH[word]), 0.5))     # "bluish green": mostly green
            else:
                raise _refusal(shown, f"'{word}' is not a colour word")
            i += 1
    if not hues:
        raise _refusal(shown, "no colour word in it")
    if len(hues) > 2:
        raise _refusal(shown, "it names several colours")
    ok = _mix(hues)                         # modifiers act in OKLab: a paler blue stays blue, not lavender
    for word in modifiers:
        share, chroma = _MODIFIERS[word]
        ok[0] = ok[0] + share * (1.0 - ok[0]) if share > 0 else ok[0] * (1.0 + share)
        ok[1:] *= chroma
    rgb_out = _srgb(ok)
    lit = any(_MODIFIERS[w][0] and abs(_MODIFIERS[w][0]) >= 0.2 for w in modifiers) \
        or _chroma(rgb_out) < ACHROMATIC_CHROMA
    return Colour(rgb_out, " ".join(words), sets_lightness=lit)     # type: ignore[arg-type]


def parse_color(color: str) -> tuple[int, int, int]:
    """RGB of one colour (see :func:`parse_colour`): "red", "light blue", "blue-green", "#1e90ff".

    Raises:
        InvalidInputError: not one colour we know; the message names it.
    """
    return parse_colour(color).rgb


def _chroma(rgb: tuple[int, int, int]) -> float:
    lab = rgb_to_lab(np.asarray([rgb], dtype=np.uint8))[0]
    return float(np.hypot(lab[1], lab[2]))


_TO_LMS = np.asarray([[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566],
                     [0.0883024619, 0.2817188376, 0.6299787005]])
_LMS_TO_OK = np.asarray([[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
                         [0.0259040371, 0.7827717662, -0.8086757660]])
_OK_TO_LMS = np.linalg.inv(_LMS_TO_OK)
_LMS_TO_LINEAR = np.linalg.inv(_TO_LMS)


def oklab(rgb: tuple[int, int, int]) -> np.ndarray:
    """OKLab (L in [0, 1]) of an sRGB colour: a Lab whose hue stays put as lightness and chroma change."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return _LMS_TO_OK @ np.cbrt(_TO_LMS @ linear)


def _linear(ok: np.ndarray) -> np.ndarray:
    """Linear sRGB of an OKLab colour, unclipped (out of gamut: outside [0, 1])."""
    return _LMS_TO_LINEAR @ ((_OK_TO_LMS @ ok) ** 3)


def _srgb(ok: np.ndarray) -> tuple[int, int, int]:
    """The sRGB colour of OKLab ``ok``, its chroma shrunk (lightness and hue kept) until sRGB can show it."""
    def inside(scale: float) -> bool:
        rgb = _linear(np.asarray([ok[0], ok[1] * scale, ok[2] * scale]))
        return bool(((rgb >= -1e-6) & (rgb <= 1 + 1e-6)).all())

    lo, hi = (1.0, 1.0) if inside(1.0) else (0.0, 1.0)
    for _ in range(30 if hi > lo else 0):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if inside(mid) else (lo, mid)
    c = np.clip(_linear(np.asarray([ok[0], ok[1] * lo, ok[2] * lo])), 0.0, 1.0)
    out = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return tuple(int(v) for v in np.clip(np.rint(out * 255), 0, 255))      # type: ignore[return-value]


def _mix(hues: list[tuple[tuple[int, int, int], float]]) -> np.ndarray:
    """The OKLab of a mix of colours: mean lightness and chroma, hue the chroma-weighted circular mean."""
    oks = np.asarray([oklab(h) for h, _ in hues])
    weights = np.asarray([w for _, w in hues], dtype=np.float64)
    chroma = np.hypot(oks[:, 1], oks[:, 2])
    angle = np.arctan2(oks[:, 2], oks[:, 1])
    hue = float(np.arctan2((weights * chroma * np.sin(angle)).sum(), (weights * chroma * np.cos(angle)).sum()))
    mean_l = float((weights * oks[:, 0]).sum() / weights.sum())
    mean_c = float((weights * chroma).sum() / weights.sum())
    return np.asarray([mean_l, mean_c * np.cos(hue), mean_c * np.sin(hue)])


def classify_recolor(color: str) -> Recolour:
    """How to do "make it ``color``": the exact Lab shift, a diffusion recolour, or a refusal.

    One colour (:func:`parse_colour`, also a named shade like "deep ocean blue" read as its colour
    word) → ``lab``. Patterns ("red and white striped", "leopard print", "rainbow"), materials and
    finishes ("wooden", "marble", "gold sparkly") and several colours ("black and white") →
    ``diffusion``, with ``why`` saying which.

    Raises:
        InvalidInputError: neither a colour nor a pattern or material ("happy"); one line.
    """
    if not isinstance(color, str) or not color.strip():
        raise InvalidInputError(f"colour must be a name or #hex code, got {color!r}")
    text = " ".join(color.split())
    try:
        return Recolour("lab", text, colour=parse_colour(text))
    except InvalidInputError as refused:
        error = refused
    words = _words(text)
    if set(words) & PATTERNS:
        return Recolour("diffusion", text, why="patterns")
    if set(words) & MATERIALS:
        return Recolour("diffusion", text, why="materials")
    colours = [w for w in words if _known(w) is not None or w in _ISH]
    if len(colours) >= 2:
        return Recolour("diffusion", text, why="several colours")
    if len(colours) == 1:        # a named shade: "deep ocean blue", "a sunny yellow" → its colour word
        kept = [w for w in words if w in _MODIFIERS or w == colours[0]]
        try:
            return Recolour("lab", text, colour=parse_colour(" ".join(kept)))
        except InvalidInputError:
            pass
    raise InvalidInputError(f"{text!r} is not a colour, pattern or material I can paint; say a colour (red, navy, "
                            f"#1e90ff) or a look (striped, wooden, marble)") from error


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) sRGB to float32 Lab (L in [0, 100], a/b about [-128, 127]), D65."""
    flat = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / np.float32(255.0)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb)[:-1] + (3,))


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float Lab (..., 3) to uint8 sRGB, clipped into the gamut."""
    return np.clip(np.rint(_lab_to_rgb_float(lab) * 255.0), 0, 255).astype(np.uint8)


def _lab_to_rgb_float(lab: np.ndarray) -> np.ndarray:
    """float Lab (..., 3) to float sRGB, unclipped: in [0, 1] inside the gamut, outside it beyond.

    The inverse of :func:`rgb_to_lab` (OpenCV's D65 Lab) done here, because OpenCV clips its float
    result into [0, 1], which would hide out-of-gamut colours (and shift their hue when clipped).
    """
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f ** 3, 3.0 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0)) * _WHITE
    linear = xyz @ _XYZ_TO_LINEAR.T
    magnitude = np.abs(linear)
    rgb = np.where(magnitude <= 0.0031308, 12.92 * magnitude, 1.055 * magnitude ** (1 / 2.4) - 0.055)
    return (np.sign(linear) * rgb).astype(np.float32)


_WHITE = np.asarray([0.950456, 1.0, 1.088754])
"""OpenCV's D65 white point (X, Y, Z) for Lab."""
_XYZ_TO_LINEAR = np.linalg.inv(np.asarray([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                                           [0.019334, 0.119193, 0.950227]]))
"""OpenCV's XYZ → linear sRGB matrix (the inverse of its sRGB → XYZ)."""
SHOWN_CHROMA = 0.8
"""A colour shift must reach this share of the target's chroma: where the object's lightness cannot show it
(yellow on a black cup, red on a white one), the lightness moves as far as needed (:func:`recolor_lab`)."""


def _in_gamut(lab: np.ndarray, tol: float = 0.5 / 255.0) -> np.ndarray:
    """bool (...,): which Lab colours sRGB can show."""
    rgb = _lab_to_rgb_float(lab)
    return ((rgb >= -tol) & (rgb <= 1 + tol)).all(axis=-1)


def _showing_lightness(lightness: float, target: np.ndarray) -> float:
    """The lightness nearest ``lightness`` (towards the target's) at which sRGB shows the target's hue
    with at least :data:`SHOWN_CHROMA` of its chroma; ``lightness`` itself when it already can."""
    candidates = np.linspace(lightness, float(target[0]), 101)
    scaled = np.empty((len(candidates), 3))
    scaled[:, 0] = candidates
    scaled[:, 1:] = target[1:] * SHOWN_CHROMA
    fits = np.flatnonzero(_in_gamut(scaled))
    return float(candidates[fits[0]]) if len(fits) else float(target[0])


def _into_gamut(lab: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Lab (N x 3) moved into sRGB by shrinking chroma only: lightness and hue angle stay (no RGB clipping shift)."""
    outside = ~_in_gamut(lab)
    if not outside.any():
        return lab
    sub = lab[outside]
    lo, hi = np.zeros(len(sub), np.float32), np.ones(len(sub), np.float32)
    for _ in range(iterations):  # bisect the largest chroma scale that stays in gamut
        mid = (lo + hi) / 2
        trial = np.concatenate([sub[:, :1], sub[:, 1:] * mid[:, None]], axis=1)
        ok = _in_gamut(trial)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    out = lab.copy()
    out[outside, 1:] = sub[:, 1:] * lo[:, None]
    return out


def recolor_lab(pixels: np.ndarray, color: tuple[int, int, int], *,
                match_lightness: bool = False, parts: np.ndarray | None = None) -> np.ndarray:
    """Give ``pixels`` (uint8 N x 3, one object) the hue and chroma of ``color``, keeping lightness and texture.

    Every pixel's a/b moves by the same offset, from the object's mean a/b to the target's, so
    shading and texture (the per-pixel deviations) survive and L is untouched. For achromatic
    targets (white, black, greys) the mean lightness moves to the target's too, again by one
    offset, or "make it white" would only grey the object; so does ``match_lightness`` (the words
    fixed it: "light blue", "dark navy"). Where the object's lightness cannot show the colour at
    :data:`SHOWN_CHROMA` of its chroma (yellow on a black cup, red on a white one), the mean lightness
    moves, by one offset, only as far as needed; pixels sRGB still cannot show lose chroma, never
    hue (no per-channel clipping).

    Args:
        parts: int (N,) labels when the pixels are several objects ("both cups": a blue one and a white
            one): each label is shifted as an object of its own, so each shows the colour (one shift for
            all would leave a purple cup and a peach one for "red"). None: one object.

    Returns:
        uint8 N x 3.
    """
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    labels = np.zeros(len(pixels), dtype=np.int64) if parts is None else np.asarray(parts, dtype=np.int64).reshape(-1)
    if len(labels) != len(pixels):
        raise InvalidInputError(f"parts must label each of the {len(pixels)} pixels, got {len(labels)} labels")
    # Each (colour, object) pair is shifted once: a photo's region repeats its colours many times over,
    # and the gamut mapping of millions of pixels would cost seconds.
    key = (labels << 24) | (pixels[:, 0].astype(np.int64) << 16) | (pixels[:, 1].astype(np.int64) << 8) | pixels[:, 2]
    keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    colours = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=-1).astype(np.uint8)
    lab = rgb_to_lab(colours)
    target = rgb_to_lab(np.asarray([color], dtype=np.uint8))[0]
    out = lab.copy()
    owners = keys >> 24
    for label in np.unique(owners):
        part = owners == label
        out[part] = _shifted(lab[part], target, match_lightness, weights=counts[part])
    return lab_to_rgb(_into_gamut(out))[inverse.reshape(-1)]


PART_GAP = 0.05
"""Pieces of a mask closer than this share of its box's longer side are one object (a speckled outline)."""


PART_FULL_SIZE = 1_000_000
"""Up to this many pixels in the mask's box, :func:`object_parts` joins pieces at full resolution."""


def object_parts(mask: np.ndarray) -> np.ndarray:
    """int H x W labels of a bool mask's separate objects (0 outside it), for :func:`recolor_lab`'s
    ``parts``: pieces nearer each other than :data:`PART_GAP` are one object."""
    inside = np.asarray(mask, dtype=bool)
    if not inside.any():
        return np.zeros(inside.shape, dtype=np.int32)
    ys, xs = np.nonzero(inside)
    gap = max(1, round(PART_GAP * max(int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1) / 2))
    # A region over a megapixel is joined on a grid of cells a quarter of the gap wide (a max-pool: a cell
    # holding any of the mask is in): a large ellipse dilation at full size costs seconds on a 12 MP region.
    cell = max(1, gap // 4) if inside.size > PART_FULL_SIZE else 1
    h, w = inside.shape
    padded = np.zeros((-(-h // cell) * cell, -(-w // cell) * cell), dtype=bool)
    padded[:h, :w] = inside
    small = padded.reshape(padded.shape[0] // cell, cell, padded.shape[1] // cell, cell).any(axis=(1, 3))
    reach = max(1, -(-gap // cell))
    joined = cv2.dilate(small.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    labels = cv2.connectedComponents(joined, connectivity=8)[1]
    labels = np.repeat(np.repeat(labels, cell, axis=0), cell, axis=1)[:h, :w]
    return np.where(inside, labels, 0)


def _shifted(lab: np.ndarray, target: np.ndarray, match_lightness: bool, *,
             weights: np.ndarray | None = None) -> np.ndarray:
    """One object's Lab colours moved to ``target`` by one offset (see :func:`recolor_lab`); ``weights``: how
    many pixels have each colour (None: one each)."""
    out = lab.copy()
    if not len(out):
        return out
    mean = np.average(lab, axis=0, weights=weights)
    out[:, 1:] += target[1:] - mean[1:]
    if match_lightness or float(np.hypot(target[1], target[2])) < ACHROMATIC_CHROMA:
        out[:, 0] = np.clip(out[:, 0] + (target[0] - mean[0]), 0.0, 100.0)
    else:
        out[:, 0] = np.clip(out[:, 0] + (_showing_lightness(float(mean[0]), target) - mean[0]), 0.0, 100.0)
    return out
