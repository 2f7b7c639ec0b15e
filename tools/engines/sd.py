"""The SD 1.5 / SDXL inpainting engine: :class:`tools.inpainting.Inpainter` behind the engine interface."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

from tools.engines.base import ENGINE_OF, Progress, check_reference
from tools.inpainting import Inpainter
from tools.repaint import InpaintResult


class SDEngine:
    """Stable Diffusion (1.5 or XL) inpainting as a :class:`tools.engines.base.RepaintEngine`.

    A thin wrapper: :meth:`Inpainter.inpaint` already crops at native size and composites exactly.
    These models take no reference image.

    Args:
        inpainter: the loaded SD or SDXL inpainter.
    """

    references = False

    def __init__(self, inpainter: Inpainter) -> None:
        self.inpainter = inpainter
        self.family = inpainter.family
        self.name = ENGINE_OF.get(inpainter.family, "sd")
        self.resolution = int(inpainter.resolution)
        self.multiple = max(8, int(inpainter.factor))

    @property
    def pipe(self) -> Any:
        return self.inpainter.pipe

    @property
    def default_steps(self) -> int | None:
        """Steps when the caller gives none: the inpainter's quality setting (None: the profile's)."""
        return self.inpainter.default_steps

    def inpaint(self, image: Image.Image, mask: np.ndarray, prompt: str, *, negative_prompt: str = "",
                reference: Image.Image | None = None, seed: int = 0, steps: int = 30,
                guidance_scale: float | None = None, strength: float = 1.0, dilate_px: int | None = None,
                feather_px: int | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> InpaintResult:
        """See :meth:`tools.engines.base.RepaintEngine.inpaint` (``guidance_scale`` None: the inpainter's
        ``default_guidance``: 7.5, or 1.0 with the LCM-LoRA)."""
        check_reference(reference, self)
        return self.inpainter.inpaint(image, mask, prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                                      guidance_scale=guidance_scale,
                                      strength=strength, dilate_px=dilate_px, feather_px=feather_px,
                                      progress=progress, cancel=cancel)
