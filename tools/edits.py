"""Region edits (remove, replace, recolor, add, background) and EditResult, every one pasted back exactly."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from PIL import Image

from tools.masks import Box

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
