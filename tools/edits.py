"""Region edits (remove, replace, recolor, add, background) and EditResult, every one pasted back exactly."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from PIL import Image

from tools import masks
from tools.boxes import Box
from tools.color import classify_recolor, object_parts, parse_colour, recolor_lab
from tools.engines import RepaintEngine, as_engine, check_reference
from tools.errors import Cancelled, InvalidInputError
from tools.inpainting import Inpainter
from tools.repaint import InpaintResult, check_mask, default_dilation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditResult:
    """The outcome of one edit.

    Attributes:
        image: the edited image, PIL RGB at the input's size.
        region: bool HxW, True where pixels may differ from the input (all True for a global edit);
            every pixel outside it equals the input exactly.
        operation: ``remove``, ``replace``, ``recolor``, ``add``, ``background``, ``global``, ``diffedit``.
        prompt: the prompt the model was given (or the colour, for a Lab recolour).
        seed: the seed that reproduces it.
        box: XYXY pixel box of the edited object, if any.
        details: extra provenance (dilation px, crop box, method...), read-only.
    """

    image: Image.Image
    region: np.ndarray
    operation: str
    prompt: str
    seed: int
    box: Box | None = None
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # freeze a caller's dict: a copy, behind a read-only view
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


Progress = Callable[[int, int], None]

REMOVE_PROMPT = "background, empty scene, seamless continuation of the surroundings"
REMOVE_NEGATIVE = "object, person, animal, text, watermark, blurry, artifacts"


def _rgb(image: Image.Image) -> Image.Image:
    if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
        raise InvalidInputError(f"image must be a non-empty PIL image, got {image!r}")
    return image if image.mode == "RGB" else image.convert("RGB")


def _text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty description, got {value!r}")
    return " ".join(value.split())


def _staged(progress: Progress | None, done: int, total: int) -> Progress | None:
    """Report a stage's (step, n) as (done + step, total) of the whole edit; a later stage's start
    (its step 0) is not reported again."""
    if progress is None:
        return None
    def report(step: int, _n: int) -> None:
        if step or not done:
            progress(done + step, total)

    return report


Engine = RepaintEngine | Inpainter
"""What an edit repaints with: any engine (a bare Inpainter is the SD engine)."""


def _provenance(res: InpaintResult, engine: RepaintEngine, reference: Image.Image | None = None,
                **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"dilate_px": res.dilate_px, "feather_px": res.feather_px, "crop_box": res.crop_box,
                              "working_size": res.working_size, "engine": engine.name, "family": engine.family,
                              **extra}
    if reference is not None:
        out["reference_size"] = reference.size
    return out


def remove(inpainter: Engine, image: Image.Image, mask: np.ndarray, *, name: str = "", seed: int = 0,
           steps: int = 30, guidance_scale: float | None = None, dilate_px: int | None = None,
           progress: Progress | None = None, cancel: threading.Event | None = None) -> EditResult:
    """Erase the object under ``mask`` and fill in the background behind it.

    The mask is dilated twice as far as a plain inpaint (a removed object must not leave a halo
    or a shadow outline), and the object's name goes into the negative prompt.

    Args:
        inpainter: the repaint engine (:mod:`tools.engines`; a bare Inpainter is the SD engine).
        image: PIL RGB, any size.
        mask: bool HxW, the object.
        name: what the object is ("cup"): the model is told not to paint it again.
        seed, steps, guidance_scale: the sampler's settings (guidance None: the engine's default).
        dilate_px: override the grown margin (None: twice the inpainter's default).
        progress: called with (step, total); cancel: raise Cancelled when set.

    Returns:
        EditResult "remove" whose region is the dilated mask.
    """
    engine = as_engine(inpainter)
    image = _rgb(image)
    m = check_mask(mask, image.size)
    if dilate_px is None:
        dilate_px = 2 * default_dilation(m)
    negative = f"{' '.join(name.split())}, {REMOVE_NEGATIVE}" if isinstance(name, str) and name.strip() \
        else REMOVE_NEGATIVE
    res = engine.inpaint(image, m, REMOVE_PROMPT, negative_prompt=negative, seed=seed, steps=steps,
                         guidance_scale=guidance_scale, dilate_px=dilate_px, progress=progress, cancel=cancel)
    return EditResult(image=res.image, region=res.region, operation="remove", prompt=REMOVE_PROMPT, seed=res.seed,
                      box=masks.bbox(m), details=_provenance(res, engine, negative_prompt=negative, steps=steps))


def replace(inpainter: Engine, image: Image.Image, mask: np.ndarray, new: str, *, old: str = "",
            two_stage: bool = False, new_box: Box | None = None, reference: Image.Image | None = None,
            seed: int = 0, steps: int = 30, guidance_scale: float | None = None, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> EditResult:
    """Put ``new`` where the object under ``mask`` is.

    One stage repaints the object's dilated mask with the new object's prompt: right when the two
    have similar shapes. Two stages suit different shapes (a cat → a tall vase): first the old
    object is removed (background filled in), then the new one is painted inside the mask of its
    box (``new_box``, or the old object's box) on the filled image.

    Args:
        new: the new object ("a red vase"); old: the old one's name (negative prompt).
        two_stage: remove first, then paint into the box.
        new_box: XYXY pixels where the new object goes (two-stage only; None: the old box).
        reference: an image of the new object ("put this hat on the cat"); engines with
            ``references`` only (two-stage: the painting stage uses it, not the erasing one).
        Other arguments as for :func:`remove`.

    Returns:
        EditResult "replace"; its region is the union of every stage's region.
    """
    engine = as_engine(inpainter)
    image = _rgb(image)
    m = check_mask(mask, image.size)
    prompt = _text("new object", new)
    reference = check_reference(reference, engine)
    old = " ".join(old.split()) if isinstance(old, str) else ""
    if not two_stage:
        if new_box is not None:
            raise InvalidInputError("new_box is only used by a two-stage replace; pass two_stage=True")
        res = engine.inpaint(image, m, prompt, negative_prompt=old, reference=reference, seed=seed, steps=steps,
                             guidance_scale=guidance_scale, progress=progress, cancel=cancel)
        return EditResult(image=res.image, region=res.region, operation="replace", prompt=prompt, seed=res.seed,
                          box=masks.bbox(m), details=_provenance(res, engine, reference, old=old, two_stage=False,
                                                                 steps=steps))
    box = masks.bbox(m) if new_box is None else new_box
    target = masks.box_mask(box, m.shape)
    if not target.any():
        raise InvalidInputError(f"new_box {new_box!r} lies outside the {image.width}x{image.height} image")
    first = remove(engine, image, m, name=old, seed=seed, steps=steps, guidance_scale=guidance_scale,
                   progress=_staged(progress, 0, 2 * steps), cancel=cancel)
    second = engine.inpaint(first.image, target, prompt, negative_prompt=old, reference=reference, seed=seed,
                            steps=steps, guidance_scale=guidance_scale, progress=_staged(progress, steps, 2 * steps),
                            cancel=cancel)
    region = masks.union(first.region, second.region)
    # stage 2 only changed its region of stage 1's image, so this is exact; it also re-asserts the promise
    final = masks.composite(image, second.image, region=region)
    return EditResult(image=final, region=region, operation="replace", prompt=prompt, seed=int(seed),
                      box=masks.bbox(target),
                      details=_provenance(second, engine, reference, old=old, two_stage=True, steps=steps,
                                          remove_region_px=masks.area(first.region),
                                          remove_crop_box=first.details["crop_box"]))


def recolor(image: Image.Image, mask: np.ndarray, color: str, *, method: str = "auto",
            inpainter: Engine | None = None, name: str = "", reference: Image.Image | None = None, seed: int = 0,
            steps: int = 30, strength: float | None = None, feather_px: int | None = None,
            progress: Progress | None = None, cancel: threading.Event | None = None) -> EditResult:
    """Change the colour (or the look) of the object under ``mask``.

    ``lab`` is exact and instant: in CIE Lab every masked pixel's a/b moves by one offset to the
    target colour's, so lightness, shading and texture stay (see :func:`tools.color.recolor_lab`;
    words that fix the lightness, "light blue", "dark navy", move it too); a feathered edge blends
    it in, and only ``mask`` may change. ``diffusion`` repaints the region with "a {color} {name}"
    at ``strength``: it can draw what one colour shift cannot (patterns, materials, several
    colours). ``auto`` picks by :func:`tools.color.classify_recolor`.

    Args:
        color: a colour ("navy blue", "blue-green", "#1e90ff"), or for diffusion any look ("red and white striped").
        method: ``auto`` (default), ``lab`` or ``diffusion`` (the last two are what ``auto`` may pick;
            diffusion needs ``inpainter``).
        name: what the object is ("car", "the cup"), for the diffusion prompt.
        reference: an image whose look the object should take ("make the cup look like this");
            always by diffusion, on an engine with ``references``.
        strength: how far diffusion may move from the input, in (0, 1] (None: 0.75 for a colour,
            0.95 for patterns, materials and several colours, which need new structure).
        feather_px: ``lab`` soft-edge width inside the mask (None: about 1% of the object's size).
        Other arguments as for :func:`remove`.

    Returns:
        EditResult "recolor"; ``details["method"]`` says which method ran, ``details["why"]`` why
        diffusion was needed when ``auto`` chose it.

    Raises:
        InvalidInputError: ``color`` is neither a colour nor a look ("happy"), or ``lab`` was asked
            for what is not one colour; one line.
    """
    image = _rgb(image)
    m = check_mask(mask, image.size)
    color = _text("colour", color)
    if method not in ("auto", "lab", "diffusion"):
        raise InvalidInputError(f"recolor method must be 'auto', 'lab' or 'diffusion', got {method!r}")
    if reference is not None:
        if method == "lab":
            raise InvalidInputError("a Lab recolour takes one colour, not a reference image; use method='diffusion'")
        method = "diffusion"                    # a look taken from a picture needs the model
    kind = classify_recolor(color) if method != "diffusion" else None
    if method == "lab" and kind is not None and kind.method != "lab":
        parse_colour(color)          # raises the one-line reason it is not one colour
    if method == "diffusion" or (kind is not None and kind.method == "diffusion"):
        if inpainter is None:
            raise InvalidInputError(f"recolouring to {color!r} by diffusion needs an inpainter; pass inpainter= "
                                    "or give one colour")
        engine = as_engine(inpainter)
        reference = check_reference(reference, engine)
        why = kind.why if kind is not None else ("the look comes from a reference image" if reference else "")
        if strength is None:
            strength = 0.95 if why else 0.75
        prompt = diffusion_prompt(color, name)
        res = engine.inpaint(image, m, prompt, reference=reference, seed=seed, steps=steps, strength=strength,
                             progress=progress, cancel=cancel)
        return EditResult(image=res.image, region=res.region, operation="recolor", prompt=prompt, seed=res.seed,
                          box=masks.bbox(m), details=_provenance(res, engine, reference, method="diffusion",
                                                                 color=color, steps=steps, strength=strength, why=why))
    rgb, match = kind.colour.rgb, kind.colour.sets_lightness     # type: ignore[union-attr]  # lab: one colour
    if progress is not None:
        progress(0, 1)
    if cancel is not None and cancel.is_set():
        raise Cancelled("the recolour was cancelled; the image is unchanged")
    if feather_px is None:
        feather_px = max(1, round(0.01 * np.sqrt(masks.area(m))))
    x0, y0, x1, y1 = (int(v) for v in masks.bbox(m))
    window = np.asarray(image)[y0:y1, x0:x1]
    inside = m[y0:y1, x0:x1]
    painted = window.copy()
    painted[inside] = recolor_lab(window[inside], rgb, match_lightness=match, parts=object_parts(inside)[inside])
    generated = image.copy()
    generated.paste(Image.fromarray(painted), (x0, y0))
    alpha = np.zeros(m.shape, dtype=np.float32)
    alpha[y0:y1, x0:x1] = masks.feather(inside, feather_px)
    result = masks.composite(image, generated, region=m, alpha=alpha)
    if progress is not None:
        progress(1, 1)
    return EditResult(image=result, region=m.copy(), operation="recolor", prompt=color, seed=int(seed),
                      box=masks.bbox(m), details={"method": "lab", "color": color, "rgb": rgb, "feather_px": feather_px,
                                                  "lightness": match})


_ARTICLE = re.compile(r"^(?:(?:the|a|an|this|that|these|those|my|your|some)\s+)+", re.IGNORECASE)


def diffusion_prompt(color: str, name: str = "") -> str:
    """The prompt of a diffusion recolour: "a blue cup" from ("blue", "the cup"), "an orange object" without a name."""
    color = " ".join(str(color).split())
    noun = _ARTICLE.sub("", " ".join(str(name).split())) if isinstance(name, str) else ""
    head = f"{color} {noun or 'object'}"
    return f"{'an' if head[:1].lower() in 'aeiou' else 'a'} {head}"


def add(inpainter: Engine, image: Image.Image, box: Box, obj: str, *, reference: Image.Image | None = None,
        seed: int = 0, steps: int = 30, guidance_scale: float | None = None, progress: Progress | None = None,
        cancel: threading.Event | None = None) -> EditResult:
    """Paint ``obj`` inside ``box`` (XYXY pixels), like ``reference`` if given; the box (slightly dilated)
    bounds the change."""
    engine = as_engine(inpainter)
    image = _rgb(image)
    reference = check_reference(reference, engine)
    prompt = _text("object", obj)
    target = masks.box_mask(box, (image.height, image.width))
    if not target.any():
        raise InvalidInputError(f"box {box!r} lies outside the {image.width}x{image.height} image")
    res = engine.inpaint(image, target, prompt, reference=reference, seed=seed, steps=steps,
                         guidance_scale=guidance_scale, progress=progress, cancel=cancel)
    return EditResult(image=res.image, region=res.region, operation="add", prompt=prompt, seed=res.seed,
                      box=masks.bbox(target), details=_provenance(res, engine, reference, steps=steps))


def background(inpainter: Engine, image: Image.Image, subject_mask: np.ndarray, prompt: str, *,
               reference: Image.Image | None = None, seed: int = 0, steps: int = 30,
               guidance_scale: float | None = None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> EditResult:
    """Repaint everything but the subject to match ``prompt`` (and ``reference``, a picture of the new scene).

    The edited region is the inverted subject mask eroded by a few pixels (about 0.5% of the
    image diagonal), so the subject's own edge pixels are never touched; the feather ramps inside
    that region.
    """
    engine = as_engine(inpainter)
    image = _rgb(image)
    subject = check_mask(subject_mask, image.size, "subject mask")
    reference = check_reference(reference, engine)
    prompt = _text("background prompt", prompt)
    margin = max(2, round(0.005 * float(np.hypot(image.width, image.height))))
    background_mask = masks.invert(subject)
    if not background_mask.any():
        raise InvalidInputError("the subject mask covers the whole image; there is no background to change")
    target = masks.erode(background_mask, margin)
    if not target.any():  # the background is there, but all of it lies within the margin kept around the subject
        raise InvalidInputError(f"no background is more than {margin} px away from the subject (the margin kept so "
                                f"its edge is never repainted) in this {image.width}x{image.height} image; use a "
                                f"larger image or a smaller subject mask")
    res = engine.inpaint(image, target, prompt, reference=reference, seed=seed, steps=steps,
                         guidance_scale=guidance_scale, dilate_px=0, feather_px=margin, progress=progress,
                         cancel=cancel)
    return EditResult(image=res.image, region=res.region, operation="background", prompt=prompt, seed=res.seed,
                      box=masks.bbox(subject),
                      details=_provenance(res, engine, reference, erode_px=margin, steps=steps))
