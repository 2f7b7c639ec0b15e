"""The FLUX.2 [klein] engine: masked repaints (Flux2KleinInpaintPipeline) and instruction edits (Flux2KleinPipeline).

Both pipelines share one set of modules (transformer, VAE, Qwen3 text encoder). Local edits go
through :func:`tools.engines.base.repaint` like every engine; whole-image edits run the photo as
the pipeline's first reference image and, where a region is given, are composited into it.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tools import masks
from tools.device import Placement, resolve_placement
from tools.diffusion_utils import PipelineSteps, check_int, check_prompt, native_size, place_pipeline
from tools.edits import EditResult
from tools.engines.base import Framing, Progress, check_call, check_reference, repaint
from tools.errors import InvalidInputError
from tools.repaint import InpaintResult, check_mask

logger = logging.getLogger(__name__)

MIN_SIDE = 64
"""The pipelines refuse condition images with a side under 64 px."""
MAX_ASPECT = 8
"""... or an aspect ratio above 8:1."""
TEXT_LAYERS = (9, 18, 27)
"""The Qwen3 hidden states FLUX.2 klein reads the prompt from (the pipelines' default)."""
CACHED_PROMPTS = 8
"""Prompt embeddings kept per engine (8 MB each for the release): the same prompt (every removal's)
skips the text encoder, which under CPU offload would otherwise move 8 GB to the GPU and back."""


class Flux2KleinEngine:
    """FLUX.2 [klein] (4B: Apache-2.0) as a :class:`tools.engines.base.RepaintEngine`, plus global edits.

    The native resolution is the VAE's ``sample_size`` (1024 for the released model) and working
    sides are multiples of the VAE factor times the 2×2 latent patch (16). The step-distilled
    release runs 4 steps without classifier-free guidance; a base (undistilled) model 50 with
    guidance 4.

    Args:
        pipe: a loaded ``Flux2KleinInpaintPipeline`` on its device (its modules serve both pipelines).
        placement: where it is (None: resolved once here).
    """

    name = "flux2-klein"
    family = "flux2-klein"
    references = True

    def __init__(self, pipe: Any, *, placement: Placement | None = None) -> None:
        from diffusers import Flux2KleinPipeline

        self.pipe = pipe
        self.edit_pipe = Flux2KleinPipeline(**pipe.components, is_distilled=pipe.config.is_distilled)
        """The instruction-edit pipeline on the same modules (no second copy of any weight)."""
        self.placement = placement or resolve_placement()
        self.multiple = int(pipe.vae_scale_factor) * 2
        self.resolution = int(pipe.vae.config.sample_size)
        self.distilled = bool(pipe.config.is_distilled)
        self.default_steps = 4 if self.distilled else 50
        """Steps the model was made for (the toolkit uses them instead of the profile's SD steps)."""
        self.guidance_scale = 1.0 if self.distilled else 4.0
        layers = int(pipe.text_encoder.config.num_hidden_layers)
        self.text_layers = TEXT_LAYERS if layers > max(TEXT_LAYERS) else (layers // 3, 2 * layers // 3, layers)
        """Hidden states the prompt is read from: the release's (9, 18, 27), or thirds of a smaller encoder."""
        self._prompts: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()  # the scheduler holds per-call state
        for p in (pipe, self.edit_pipe):
            p.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, placement: Placement | None = None,
                        offload: bool = False) -> Flux2KleinEngine:
        """Load a FLUX.2 klein pipeline folder (safetensors only), once, onto the device.

        Args:
            path: a folder written by ``save_pretrained`` (see :func:`tools.loading.model_path`).
            placement: device and dtype (None: bf16/fp16 on CUDA, fp32 on the CPU).
            offload: model CPU offload (text encoder, transformer, VAE on the GPU one at a time).

        Raises:
            ModelUnavailableError: the folder is not a loadable FLUX.2 klein pipeline.
        """
        from diffusers import Flux2KleinInpaintPipeline

        from tools.loading import expect_pipeline, load_errors

        expect_pipeline(path, "FLUX.2 klein", ("Flux2KleinPipeline", "Flux2KleinInpaintPipeline"))
        placement = placement or resolve_placement()
        dtype = placement.dtype
        if placement.is_cuda and dtype == torch.float16 and torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16  # FLUX activations overflow fp16; the weights are published in bf16
        with load_errors("a FLUX.2 klein model", path, errors=(OSError, ValueError, TypeError)):
            pipe = Flux2KleinInpaintPipeline.from_pretrained(str(path), use_safetensors=True, dtype=dtype)
        return cls(place_pipeline(pipe, placement, offload=offload), placement=placement)

    @torch.inference_mode()
    def inpaint(self, image: Image.Image, mask: np.ndarray, prompt: str, *, negative_prompt: str = "",
                reference: Image.Image | None = None, seed: int = 0, steps: int = 4,
                guidance_scale: float | None = None, strength: float = 1.0, dilate_px: int | None = None,
                feather_px: int | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> InpaintResult:
        """See :meth:`tools.engines.base.RepaintEngine.inpaint`. FLUX.2 klein has no negative prompt
        (it is ignored); ``reference`` goes in as the pipeline's ``image_reference``."""
        image, m = check_call(image, mask, prompt, seed=seed, steps=steps, strength=strength)
        reference = self._reference(check_reference(reference, self))
        guidance = self._guidance(guidance_scale)

        def paint(window: Image.Image, window_mask: Image.Image) -> Image.Image:
            return self._call(self.pipe, progress, cancel, steps=steps, strength=strength,
                              prompt_embeds=self._embed(prompt), image=window, mask_image=window_mask,
                              image_reference=reference,
                              height=window.height, width=window.width, num_inference_steps=steps,
                              guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(int(seed)))

        res = repaint(image, m, paint, Framing(self.resolution, self.multiple), dilate_px=dilate_px,
                      feather_px=feather_px, cancel=cancel)
        return replace(res, seed=int(seed))

    @torch.inference_mode()
    def edit(self, image: Image.Image, instruction: str, *, reference: Image.Image | None = None,
             region: np.ndarray | None = None, seed: int = 0, steps: int | None = None,
             guidance_scale: float | None = None, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> EditResult:
        """Apply ``instruction`` to the photo (``Flux2KleinPipeline`` with the photo as its first reference).

        The photo runs at the native resolution (longer side, sides on the grid, at least 64 px);
        the result is resized back. With ``region`` only that region changes (pasted through
        :func:`tools.masks.composite`, feathered 1% of the region's size inside it); without, the
        result is a global edit whose ``region`` is all True.

        Args:
            image: PIL, any size and mode, aspect ratio at most 8:1.
            instruction: what to do ("make it autumn").
            reference: a second picture the instruction refers to ("in the style of this").
            region: bool HxW where the edit may land (a DiffEdit mask), or None for the whole image.
            seed, steps (None: the model's own), guidance_scale (None: the model's own), progress, cancel:
                as for :meth:`inpaint`.

        Returns:
            EditResult ``global``; ``details`` names the engine, the working size and whether a
            region bounded it.
        """
        instruction = check_prompt("instruction", instruction)
        if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
            raise InvalidInputError(f"image must be a non-empty PIL image, got {image!r}")
        image = image if image.mode == "RGB" else image.convert("RGB")
        steps = self.default_steps if steps is None else steps
        check_int("steps", steps, 1, 1000)
        check_int("seed", seed, 0, 2**63 - 1)
        m = check_mask(region, image.size, "region") if region is not None else None
        if max(image.size) > MAX_ASPECT * min(image.size):
            raise InvalidInputError(f"FLUX.2 klein edits whole images up to {MAX_ASPECT}:1, this one is "
                                    f"{image.width}x{image.height}; crop it or name the part to change")
        reference = self._reference(check_reference(reference, self))
        size = self._global_size(image.size)
        working = image.resize(size, Image.Resampling.LANCZOS)
        condition = [working] if reference is None else [working, reference]
        out = self._call(self.edit_pipe, progress, cancel, steps=steps, strength=1.0,
                         prompt_embeds=self._embed(instruction), image=condition, height=size[1], width=size[0],
                         num_inference_steps=steps,
                         guidance_scale=self._guidance(guidance_scale),
                         generator=torch.Generator("cpu").manual_seed(int(seed)))
        generated = out.resize(image.size, Image.Resampling.LANCZOS) if out.size != image.size else out
        details: dict[str, object] = {"engine": self.name, "family": self.family, "steps": steps,
                                      "working_size": size, "bounded": m is not None}
        if reference is not None:
            details["reference_size"] = reference.size
        if m is None:
            return EditResult(image=generated, region=np.ones((image.height, image.width), dtype=bool),
                              operation="global", prompt=instruction, seed=int(seed), details=details)
        feather = max(1, round(0.01 * math.sqrt(masks.area(m))))
        result = masks.composite(image, generated, region=m, alpha=masks.feather(m, feather))
        return EditResult(image=result, region=m.copy(), operation="global", prompt=instruction, seed=int(seed),
                          box=masks.bbox(m), details={**details, "feather_px": feather})

    def _embed(self, prompt: str) -> torch.Tensor:
        """The prompt's Qwen3 embeddings (cached: the text encoder runs once per distinct prompt)."""
        with self._lock:
            if prompt not in self._prompts:
                if len(self._prompts) >= CACHED_PROMPTS:
                    self._prompts.pop(next(iter(self._prompts)))
                embeds, _ids = self.pipe.encode_prompt(prompt, text_encoder_out_layers=self.text_layers)
                self._prompts[prompt] = embeds
            return self._prompts[prompt]

    def _guidance(self, guidance_scale: float | None) -> float:
        from tools.diffusion_utils import check_range

        if guidance_scale is None:
            return self.guidance_scale
        check_range("guidance_scale", guidance_scale, 0.0, 100.0)
        return float(guidance_scale)

    def _reference(self, reference: Image.Image | None) -> Image.Image | None:
        """A reference brought to at most the native size, sides on the grid (what the model conditions on);
        one longer than :data:`MAX_ASPECT`:1 (which the pipeline refuses) is centred on white to that ratio."""
        if reference is None:
            return None
        w, h = reference.size
        if max(w, h) > MAX_ASPECT * min(w, h):
            short = -(-max(w, h) // MAX_ASPECT)
            canvas = Image.new("RGB", (w, short) if w > h else (short, h), (255, 255, 255))
            canvas.paste(reference, ((canvas.width - w) // 2, (canvas.height - h) // 2))
            reference = canvas
        return reference.resize(self._global_size(reference.size), Image.Resampling.LANCZOS)

    def _global_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Working size of a whole picture: longer side native, both on the grid and at least :data:`MIN_SIDE`."""
        work = native_size(size, self.resolution, self.multiple).size
        if min(work) >= MIN_SIDE:
            return work
        scale = MIN_SIDE / min(size)
        grid = self.multiple
        width, height = (max(MIN_SIDE, math.ceil(side * scale / grid) * grid) for side in size)
        return width, height

    def _call(self, pipe: Any, progress: Progress | None, cancel: threading.Event | None, *,
              steps: int, strength: float, **kwargs: Any) -> Image.Image:
        """One pipeline call with progress and cancel wired to ``callback_on_step_end``."""
        counter = PipelineSteps(steps, strength, progress, cancel)
        kwargs["text_encoder_out_layers"] = self.text_layers
        if pipe is self.pipe:
            kwargs["strength"] = strength       # the inpainting pipeline's own default is 0.8, not the caller's
        if not self.distilled and kwargs.get("guidance_scale", 0) > 1:   # the pipeline's negative prompt is ""
            kwargs["negative_prompt_embeds"] = self._embed("")
        counter.start()
        with self._lock:
            try:
                out = pipe(callback_on_step_end=counter.on_step_end, **kwargs)
            except ValueError as e:  # the pipeline's own input checks (sizes it refuses)
                raise InvalidInputError(f"FLUX.2 klein refused the input: {str(e).splitlines()[0]}") from e
        counter.finish()
        return out.images[0].convert("RGB")
