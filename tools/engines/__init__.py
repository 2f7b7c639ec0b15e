"""Repaint engines: one interface (:class:`RepaintEngine`), SD/SDXL inpainting and FLUX.2 [klein] 4B behind it.

Every engine repaints a crop at its native size and composites it back exactly: outside the
dilated mask the output equals the input bit for bit. ``reference=`` (an image to take a look or
an object from) is part of every call; engines that cannot use one say so in one line.
"""

from __future__ import annotations

from typing import Any

from tools.engines.base import (ENGINE_OF, ENGINES, FAMILY, Framing, Painter, Progress, RepaintEngine, check_engine,
                                check_reference, repaint)

__all__ = ["ENGINES", "ENGINE_OF", "FAMILY", "Framing", "Painter", "Progress", "RepaintEngine", "as_engine",
           "check_engine", "check_reference", "repaint"]


def as_engine(model: Any) -> RepaintEngine:
    """``model`` as an engine: an engine is returned as is, a bare :class:`tools.inpainting.Inpainter` is wrapped."""
    from tools.inpainting import Inpainter

    if isinstance(model, Inpainter):
        from tools.engines.sd import SDEngine

        return SDEngine(model)
    if isinstance(model, RepaintEngine):
        return model
    raise TypeError(f"not a repaint engine: {type(model).__name__}")
