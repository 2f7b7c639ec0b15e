"""The segment node: from the chosen box(es) to one object mask (SAM 2), stored by content hash."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.context import Context
from agent.nodes.common import current_step, stop, what, working_image
from agent.state import State
from tools.errors import ChatEditError


def segment(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Segment each chosen box and store the union as the step's mask.

    ``add`` needs no segmentation: its mask is the box. A box whose mask comes back empty falls
    back to the box itself, so a step never edits nothing.
    """
    from tools.masks import area, box_mask, union

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
            masks = [m if area(m) > 0 else box_mask(b, shape) for m, b in zip(found, boxes, strict=True)]
        mask = union(*masks) if len(masks) > 1 else np.asarray(masks[0], dtype=bool)
    except ChatEditError as e:
        return stop(f"Outlining {what(step)} failed: {e}. Nothing changed.", error=str(e), notes=state.notes)
    return {"mask": ctx.store.put_mask(mask)}
