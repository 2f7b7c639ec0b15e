"""What the diffusion tests share: a per-pixel difference, and the latent sizes a UNet really ran at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image


def pixel_diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    """The largest channel difference at each pixel of two same-size RGB images (0: identical)."""
    return np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max(axis=2)


@contextmanager
def latent_sizes(unet: torch.nn.Module) -> Iterator[list[tuple[int, int]]]:
    """Records the latent (h, w) of every call of ``unet``: the resolution diffusion really ran at."""
    shapes: list[tuple[int, int]] = []
    handle = unet.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape[-2:])))
    try:
        yield shapes
    finally:
        handle.remove()
