"""Masked inpainting with diffusers (SD / SDXL inpaint) on a crop at native resolution, pasted back exactly."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tools import masks
from tools.device import Placement, resolve_placement
from tools.diffusion_utils import PipelineSteps, channels_last, check_range, model_native, place_pipeline, vae_scale_factor
from tools.errors import InvalidInputError
from tools.repaint import (WORKING, Framing, InpaintResult, Progress, check_call, check_mask,  # noqa: F401 - re-exported
                           context_crop, default_dilation, local_dilate, repaint)

logger = logging.getLogger(__name__)

FAMILIES = ("sd-inpaint", "sdxl-inpaint")


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
                feather_px: int | None = None, progress: Progress | None = None,
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
        image, m = check_call(image, mask, prompt, seed=seed, steps=steps, strength=strength,
                              negative_prompt=negative_prompt)
        if guidance_scale is None:
            guidance_scale = self.default_guidance
        check_range("guidance_scale", guidance_scale, 0.0, 100.0)
        framing = Framing(self.resolution, max(8, self.factor), context=0.75, snap=True, working=self.working)

        def paint(window: Image.Image, window_mask: Image.Image) -> Image.Image:
            return self._run(window, window_mask, prompt, negative_prompt, seed=seed, steps=steps,
                             guidance_scale=guidance_scale, strength=strength, progress=progress, cancel=cancel)

        res = repaint(image, m, paint, framing, dilate_px=dilate_px, feather_px=feather_px, cancel=cancel)
        logger.debug("inpainted %s px in crop %s at %s", masks.area(res.region), res.crop_box, res.working_size)
        return replace(res, seed=int(seed))

    def _run(self, image: Image.Image, mask: Image.Image, prompt: str, negative_prompt: str, *, seed: int,
             steps: int, guidance_scale: float, strength: float, progress: Progress | None,
             cancel: threading.Event | None) -> Image.Image:
        """One pipeline call at the working size; raises Cancelled when ``cancel`` was set during it."""
        counter = PipelineSteps(steps, strength, progress, cancel, "the inpainting")
        counter.start()
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        with self._lock:
            out = self.pipe(prompt=prompt, negative_prompt=negative_prompt or None, image=image, mask_image=mask,
                            height=image.height, width=image.width, num_inference_steps=steps, strength=strength,
                            guidance_scale=guidance_scale, generator=generator,
                            callback_on_step_end=counter.on_step_end)
        counter.finish()
        return out.images[0]
