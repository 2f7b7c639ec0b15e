"""The segment node: from the chosen box(es) to one object mask (SAM 2), stored by content hash."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, stop, what, working_image
from agent.graph.state import State
from tools.errors import ChatEditError, InvalidInputError

BOX_MARGIN = 0.1
"""A mask may reach this fraction of its box's size beyond the box (SAM sometimes spills into the background)."""


def segment(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Segment each chosen box and store the union as the step's mask.

    ``add`` needs no segmentation: its mask is the box. Each mask is kept within a margin of its box
    (an edit must not spread far beyond what was located), and a box whose mask comes back empty
    falls back to the box itself, so a step never edits nothing.
    """
    from tools.masks import box_mask, near_box, union

    ctx = runtime.context
    ctx.report("segment")
    step = current_step(state)
    image = working_image(state, ctx)
    shape = (image.size[1], image.size[0])
    boxes = [tuple(b) for b in state.chosen]
    if not boxes:
        raise ValueError("segment reached without a chosen box")
    try:
        if step.action == "add":
            masks = [box_mask(b, shape) for b in boxes]
        else:
            found = ctx.tools.segment(image, boxes)
            if len(found) != len(boxes) or any(np.shape(m) != shape for m in found):
                raise InvalidInputError(f"the segmenter gave {len(found)} masks of shapes "
                                        f"{sorted({np.shape(m) for m in found})} for {len(boxes)} boxes "
                                        f"on a {shape[1]}×{shape[0]} image")
            # any toolkit's masks, clipped again here: the agent's own promise, whatever segmented
            masks = [near_box(m, b, BOX_MARGIN) for m, b in zip(found, boxes, strict=True)]
        mask = union(*masks) if len(masks) > 1 else np.asarray(masks[0], dtype=bool)
    except ChatEditError as e:
        return stop(f"Outlining {what(step)} failed: {e}. Nothing changed.", error=str(e), notes=state.notes)
    return {"mask": ctx.store.put_mask(mask)}
