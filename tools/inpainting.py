"""Masked inpainting with diffusers (SD / SDXL inpaint) on a crop at native resolution, pasted back exactly."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tools import masks
from tools.boxes import Box
from tools.device import Placement, resolve_placement
from tools.diffusion_utils import (channels_last, check_int, check_range, following_size, model_native,
                                   native_size, place_pipeline, vae_scale_factor)
from tools.errors import Cancelled, InvalidInputError

logger = logging.getLogger(__name__)

FAMILIES = ("sd-inpaint", "sdxl-inpaint")
WORKING = ("crop", "native")
"""Working sizes: ``crop`` follows the crop up to the model's native resolution (a small object is not
upscaled), ``native`` always brings the crop's longer side to it."""


@dataclass(frozen=True)
class InpaintResult:
    """One inpainting call's outcome.

    Attributes:
        image: PIL RGB at the input's full size.
        region: bool HxW, the dilated mask: exactly where pixels may differ from the input; every
            pixel outside it equals the input bit for bit.
        crop_box: XYXY pixels of the window the model saw (the region's box plus context).
        seed: the seed that reproduces it.
        dilate_px: how far the caller's mask was grown.
        feather_px: width of the soft edge blended inside ``region``.
        working_size: (width, height) the model ran at.
    """

    image: Image.Image
    region: np.ndarray
    crop_box: Box
    seed: int
    dilate_px: int = 0
    feather_px: int = 0
    working_size: tuple[int, int] = (0, 0)


def default_dilation(mask: np.ndarray) -> int:
    """Dilation radius that scales with the object: 5% of its size, 3 px to 2% of the image diagonal."""
    h, w = mask.shape
    cap = max(3, round(0.02 * math.hypot(w, h)))
    return int(min(cap, max(3, round(0.05 * math.sqrt(masks.area(mask))))))


def check_mask(mask: np.ndarray, size: tuple[int, int], what: str = "mask") -> np.ndarray:
    """``mask`` as bool HxW for an image of ``size`` (w, h), or InvalidInputError naming the problem."""
    if isinstance(mask, Image.Image) or not isinstance(mask, np.ndarray):
        raise InvalidInputError(f"{what} must be a bool HxW numpy array, got {type(mask).__name__}")
    if mask.shape != (size[1], size[0]):
        raise InvalidInputError(f"{what} shape {mask.shape} does not match the image's (h, w) {(size[1], size[0])}")
    m = mask if mask.dtype == bool else mask > 0
    if not m.any():
        raise InvalidInputError(f"{what} is empty (no pixel selected); select the region to edit first")
    return m


def local_dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """:func:`tools.masks.dilate` computed on the mask's neighbourhood only (same result, cheap on 12 MP)."""
    x0, y0, x1, y1 = (int(v) for v in masks.bbox(mask))
    h, w = mask.shape
    r0, r1, c0, c1 = max(0, y0 - px - 1), min(h, y1 + px + 1), max(0, x0 - px - 1), min(w, x1 + px + 1)
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = masks.dilate(mask[r0:r1, c0:c1], px)
    return out


def context_crop(region: np.ndarray, min_side: int, multiple: int = 1) -> tuple[int, int, int, int]:
    """A window around ``region`` with context: as square as the image allows, inside it, containing the region.

    Args:
        region: bool HxW, not empty.
        min_side: the window's side is at least this (where the image is that large).
        multiple: the side is rounded up to a multiple of this (where the image allows), so a window
            the model runs at its own size needs no resampling.

    Returns:
        (x0, y0, x1, y1) integers, x1/y1 exclusive.
    """
    h, w = region.shape
    x0, y0, x1, y1 = (int(v) for v in masks.bbox(region))
    longest = max(x1 - x0, y1 - y0)
    side = max(min_side, longest + 2 * max(16, longest // 4))
    side = -(-side // multiple) * multiple

    def span(lo: int, hi: int, limit: int) -> tuple[int, int]:
        size = min(side, limit)
        start = (lo + hi) // 2 - size // 2
        start = min(max(0, start), limit - size)
        return start, start + size

    (cx0, cx1), (cy0, cy1) = span(x0, x1, w), span(y0, y1, h)
    return cx0, cy0, cx1, cy1


class Inpainter:
    """Repaint a masked region of an image with a diffusers inpainting pipeline.

    The model only ever sees a window around the (dilated) mask, at least 3/4 of its native
    resolution on a side where the image allows (context). With ``working="crop"`` the window runs
    at its own size up to native (a small object in a 600x400 photo costs a 384² run, not 512²;
    windows below half of native are brought up to it); with ``"native"`` its longer side is
    always brought to native. A 12 MP photo costs what a native-size image costs. The result is
    pasted back through :func:`tools.masks.composite`, so every pixel outside the dilated mask
    equals the input exactly.

    Args:
        pipe: a loaded ``StableDiffusionInpaintPipeline`` or ``StableDiffusionXLInpaintPipeline``, on its device.
        placement: where it is (None: resolved once here).
        family: ``sd-inpaint`` or ``sdxl-inpaint`` (for provenance).
        working: ``crop`` or ``native`` (see above; :data:`WORKING`).
    """

    def __init__(self, pipe: Any, *, placement: Placement | None = None, family: str = "sd-inpaint",
                 working: str = "crop") -> None:
        if working not in WORKING:
            raise InvalidInputError(f"working size must be one of {', '.join(WORKING)}, got {working!r}")
        self.pipe = pipe
        self.placement = placement or resolve_placement()
        self.family = family
        self.factor = vae_scale_factor(pipe.vae)
        self.resolution = model_native(pipe.unet, pipe.vae)
        """Native resolution in pixels (512 for SD 1.5, 1024 for SDXL): the longest side the model works at."""
        self.working = working
        """``crop`` or ``native``: how the working size is chosen (set by :func:`tools.quality.apply_quality`)."""
        self.default_steps: int | None = None
        """Steps the edit tools use when the caller gives none (None: the profile's); set by the quality."""
        self.default_guidance = 7.5
        """Guidance when the caller gives none (1.0 with the LCM-LoRA: no classifier-free guidance)."""
        self._lock = threading.Lock()  # the scheduler holds per-call state
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, placement: Placement | None = None,
                        family: str = "sd-inpaint", offload: bool = False, working: str = "crop") -> Inpainter:
        """Load an inpainting pipeline folder (safetensors only, no safety checker), once, onto the device.

        Args:
            path: a local folder written by ``save_pretrained`` (see :func:`tools.loading.model_path`).
            placement: device and dtype (None: fp16 on CUDA, fp32 on the CPU).
            family: ``sd-inpaint`` or ``sdxl-inpaint``.
            offload: keep only the running component on the GPU (model CPU offload, for small
                GPUs; see :func:`tools.diffusion_utils.place_pipeline`).
            working: ``crop`` or ``native`` working size.

        Raises:
            InvalidInputError: an unknown family.
            ModelUnavailableError: the folder is not a loadable pipeline of that family.
        """
        from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

        from tools.loading import diffusers_variant, expect_unet_channels, load_errors

        if family not in FAMILIES:
            raise InvalidInputError(f"inpainting family must be one of {', '.join(FAMILIES)}, got {family!r}")
        expect_unet_channels(path, family, (9,))  # a text-to-image UNet would ignore the mask's conditioning
        placement = placement or resolve_placement()
        kwargs: dict[str, Any] = {"use_safetensors": True, "dtype": placement.dtype,
                                  "variant": diffusers_variant(path)}
        if family == "sd-inpaint":
            pipeline_cls: Any = StableDiffusionInpaintPipeline
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        else:
            pipeline_cls = StableDiffusionXLInpaintPipeline
        with load_errors(f"a {family} model", path, errors=(OSError, ValueError, TypeError)):
            pipe = pipeline_cls.from_pretrained(str(path), **kwargs)
        pipe = channels_last(place_pipeline(pipe, placement, offload=offload), placement)
        return cls(pipe, placement=placement, family=family,
                   working=working)

    @torch.inference_mode()
    def inpaint(self, image: Image.Image, mask: np.ndarray, prompt: str, *, negative_prompt: str = "", seed: int = 0,
                steps: int = 30, guidance_scale: float | None = 7.5, strength: float = 1.0, dilate_px: int | None = None,
                feather_px: int | None = None, progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None) -> InpaintResult:
        """Repaint ``mask`` (grown by ``dilate_px``) to match ``prompt``; leave every other pixel alone.

        Args:
            image: PIL RGB, any size.
            mask: bool HxW, True where to repaint; must match the image and select something.
            prompt: what the region should show.
            negative_prompt: what it should not show.
            seed: seeds the sampler: equal arguments give an equal image.
            steps: denoising steps (diffusers' ``num_inference_steps``), in [1, 1000]; with
                ``strength`` < 1 only ``int(steps * strength)`` of them run.
            guidance_scale: text guidance in [0, 100] (on when > 1; None: :attr:`default_guidance`).
            strength: how far to move from the input, in (0, 1] (1: repaint from noise).
            dilate_px: grow the mask by this many pixels first (None: 5% of the object's size,
                3 px to 2% of the image diagonal). A tight mask leaves a halo of the old object.
            feather_px: soft-edge width inside the grown mask (None: ``dilate_px``, so the object
                itself is fully repainted).
            progress: called with (0, total) before the model runs (prompt and image encoding count as
                the edit), then with (step, total) after each denoising step.
            cancel: when set, the call stops after the current step and raises Cancelled.

        Returns:
            InpaintResult whose ``region`` (the dilated mask) bounds every changed pixel.

        Raises:
            InvalidInputError: a bad image, mask, prompt or out-of-range value (the message quotes it).
            Cancelled: ``cancel`` was set; nothing is returned.
        """
        if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
            raise InvalidInputError(f"image must be a non-empty PIL image, got {image!r}")
        image = image if image.mode == "RGB" else image.convert("RGB")
        m = check_mask(mask, image.size)
        if not isinstance(prompt, str) or not isinstance(negative_prompt, str):
            raise InvalidInputError(f"prompt and negative_prompt must be strings, got {prompt!r} and "
                                    f"{negative_prompt!r}")
        check_int("steps", steps, 1, 1000)
        if guidance_scale is None:
            guidance_scale = self.default_guidance
        check_range("strength", strength, 0.0, 1.0, open_low=True)
        check_range("guidance_scale", guidance_scale, 0.0, 100.0)
        check_int("seed", seed, 0, 2**63 - 1)
        if int(steps * strength) < 1:
            raise InvalidInputError(f"steps * strength must be at least 1 step, got {steps} * {strength}; "
                                    f"raise steps or strength")
        if dilate_px is None:
            dilate_px = default_dilation(m)
        check_int("dilate_px", dilate_px, 0, 10_000)
        if feather_px is None:
            feather_px = dilate_px
        check_int("feather_px", feather_px, 0, 10_000)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the inpainting was cancelled; the image is unchanged")

        region = local_dilate(m, dilate_px)
        multiple = max(8, self.factor)
        x0, y0, x1, y1 = context_crop(region, 3 * self.resolution // 4, multiple)
        crop = image.crop((x0, y0, x1, y1))
        if self.working == "native":
            size = native_size(crop.size, self.resolution, multiple)
        else:
            size = following_size(crop.size, self.resolution, multiple)
        working = crop.resize(size.size, Image.Resampling.LANCZOS)
        # any coverage of a working pixel counts as masked, so the model repaints all of `region`
        crop_mask = Image.fromarray(region[y0:y1, x0:x1].astype(np.uint8) * 255, "L")
        working_mask = crop_mask.resize(size.size, Image.Resampling.BOX).point(lambda v: 255 if v > 0 else 0)

        painted = self._run(working, working_mask, prompt, negative_prompt, seed=seed, steps=steps,
                            guidance_scale=guidance_scale, strength=strength, progress=progress, cancel=cancel)
        if painted.size != crop.size:
            painted = painted.resize(crop.size, Image.Resampling.LANCZOS)
        generated = image.copy()
        generated.paste(painted, (x0, y0))
        alpha = np.zeros(m.shape, dtype=np.float32)
        alpha[y0:y1, x0:x1] = masks.feather(region[y0:y1, x0:x1], feather_px)
        result = masks.composite(image, generated, region=region, alpha=alpha)
        logger.debug("inpainted %s px in crop %s at %s", masks.area(region), (x0, y0, x1, y1), size.size)
        return InpaintResult(image=result, region=region, crop_box=(float(x0), float(y0), float(x1), float(y1)),
                             seed=int(seed), dilate_px=int(dilate_px), feather_px=int(feather_px),
                             working_size=size.size)

    def _run(self, image: Image.Image, mask: Image.Image, prompt: str, negative_prompt: str, *, seed: int,
             steps: int, guidance_scale: float, strength: float, progress: Callable[[int, int], None] | None,
             cancel: threading.Event | None) -> Image.Image:
        """One pipeline call at the working size; raises Cancelled when ``cancel`` was set during it."""
        planned = min(int(steps * strength), steps)

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                progress(step + 1, getattr(pipe, "_num_timesteps", None) or planned)
            if cancel is not None and cancel.is_set():
                pipe._interrupt = True  # diffusers skips the remaining steps
            return tensors

        if progress is not None:
            progress(0, planned)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the inpainting was cancelled; the image is unchanged")
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        with self._lock:
            out = self.pipe(prompt=prompt, negative_prompt=negative_prompt or None, image=image, mask_image=mask,
                            height=image.height, width=image.width, num_inference_steps=steps, strength=strength,
                            guidance_scale=guidance_scale, generator=generator, callback_on_step_end=on_step_end)
        if cancel is not None and cancel.is_set():
            raise Cancelled("the inpainting was cancelled; the image is unchanged")
        return out.images[0]
