"""Global, instruction-driven edits (style, lighting, season) with InstructPix2Pix."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tools.device import Placement, resolve_placement
from tools.diffusion_utils import (StepCounter, channels_last, check_int, check_prompt, check_range, model_native,
                                   native_size, place_pipeline, vae_scale_factor)
from tools.edits import EditResult
from tools.errors import Cancelled, InvalidInputError

logger = logging.getLogger(__name__)


class _Stop(Exception):
    """Raised from the step callback to leave the denoising loop at once."""


class InstructEditor:
    """Whole-image edits from an instruction ("make it look like winter"), with InstructPix2Pix.

    A global edit has no region: every pixel may change, so it is exempt from the toolkit's
    promise that pixels outside an edit's mask stay bit-identical (``EditResult.region`` is all
    True to say so). Use a masked edit (inpainting, DiffEdit) when only part of the image should
    change. The model runs at its native resolution (longer side 512 for the released model, sides
    multiples of 8); the result is resized back to the input's size.

    Args:
        pipe: a loaded ``StableDiffusionInstructPix2PixPipeline``, already on its device.
        placement: where it is (None: resolved once here).
    """

    def __init__(self, pipe: Any, *, placement: Placement | None = None) -> None:
        self.pipe = pipe
        self.placement = placement or resolve_placement()
        self.factor = vae_scale_factor(pipe.vae)
        self.resolution = model_native(pipe.unet, pipe.vae)
        """Native resolution in pixels: the longer side the model works at."""
        self.default_steps: int | None = None
        """Steps the toolkit uses when the caller gives none (None: the profile's); set by the quality."""
        self.default_guidance = 7.5
        """Text guidance the quality chose (always 7.5: InstructPix2Pix's image guidance needs CFG)."""
        self._lock = threading.Lock()  # the pipeline's scheduler holds per-call state
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, placement: Placement | None = None,
                        offload: bool = False) -> InstructEditor:
        """Load an InstructPix2Pix pipeline folder (safetensors only, no safety checker).

        Args:
            path: a local folder written by ``save_pretrained`` (see :func:`tools.loading.model_path`).
            placement: device and dtype (None: fp16 on CUDA, fp32 on the CPU).
            offload: keep only the running component on the GPU (model CPU offload; see
                :func:`tools.diffusion_utils.place_pipeline`).

        Raises:
            ModelUnavailableError: the folder is not a loadable InstructPix2Pix pipeline.
        """
        from diffusers import StableDiffusionInstructPix2PixPipeline

        from tools.loading import diffusers_variant, expect_unet_channels, load_errors

        expect_unet_channels(path, "InstructPix2Pix", (8,))
        placement = placement or resolve_placement()
        with load_errors("an InstructPix2Pix model", path, errors=(OSError, ValueError)):
            pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
                str(path), use_safetensors=True, safety_checker=None, requires_safety_checker=False,
                dtype=placement.dtype, variant=diffusers_variant(path))
        return cls(channels_last(place_pipeline(pipe, placement, offload=offload), placement), placement=placement)

    @torch.inference_mode()
    def edit(self, image: Image.Image, instruction: str, *, seed: int = 0, steps: int = 20,
             guidance_scale: float = 7.5, image_guidance_scale: float = 1.5,
             progress: Callable[[int, int], None] | None = None,
             cancel: threading.Event | None = None) -> EditResult:
        """Apply ``instruction`` to the whole image.

        Args:
            image: PIL RGB, any size.
            instruction: what to do, in words ("turn it into a watercolour").
            seed: seeds the sampler: equal arguments give an equal image.
            steps: denoising steps, in [1, 1000].
            guidance_scale: text guidance in [0, 100]; guidance is on when > 1 (with
                ``image_guidance_scale`` ≥ 1).
            image_guidance_scale: how closely to follow the input image, in [0, 100].
            progress: called with (step, steps) after each denoising step.
            cancel: when set, the call raises :class:`tools.errors.Cancelled` after the current step.

        Returns:
            EditResult with operation ``"global"``, ``prompt`` = the instruction, the edited image at
            the input's size and ``region`` all True (a global edit may change every pixel).

        Raises:
            InvalidInputError: an empty instruction or an out-of-range value (the message quotes it).
            Cancelled: ``cancel`` was set.
        """
        instruction = check_prompt("instruction", instruction)
        check_int("steps", steps, 1, 1000)
        check_range("guidance_scale", guidance_scale, 0.0, 100.0)
        check_range("image_guidance_scale", image_guidance_scale, 0.0, 100.0)
        check_int("seed", seed, 0, 2**63 - 1)
        if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
            raise InvalidInputError(f"image must be a non-empty PIL image, got {image!r}")
        size = native_size(image.size, self.resolution, max(8, self.factor))
        working = image.convert("RGB").resize(size.size, Image.Resampling.LANCZOS)
        counter = StepCounter(steps, progress, cancel, "the global edit")
        counter.start()

        # diffusers 0.42's InstructPix2Pix loop does not read `_interrupt`, so cancelling raises out of it.
        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            counter.tick()
            if cancel is not None and cancel.is_set():
                raise _Stop
            return tensors

        with self._lock:
            try:
                out = self.pipe(prompt=instruction, image=working, num_inference_steps=steps,
                                guidance_scale=guidance_scale, image_guidance_scale=image_guidance_scale,
                                generator=torch.Generator("cpu").manual_seed(int(seed)),
                                callback_on_step_end=on_step_end, output_type="pil")
            except _Stop:
                raise Cancelled("the global edit was cancelled; the image is unchanged") from None
        result = out.images[0].convert("RGB")
        if result.size != image.size:
            result = result.resize(image.size, Image.Resampling.LANCZOS)
        return EditResult(image=result, region=np.ones((image.height, image.width), dtype=bool), operation="global",
                          prompt=instruction, seed=int(seed),
                          details={"steps": steps, "guidance_scale": guidance_scale,
                                   "image_guidance_scale": image_guidance_scale, "working_size": size.size})
