"""The segment node: from the chosen box(es) to one object mask (SAM 2), stored by content hash; an add's box."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, stop, what, working_image
from agent.graph.plan import Step
from agent.graph.pointing import pointed_mask, refers_to_pointing
from agent.graph.relations import BESIDE, WORDS, beside, object_scale
from agent.graph.state import State
from tools.boxes import Box, outer_box
from tools.errors import ChatEditError, InvalidInputError

BOX_MARGIN = 0.1
"""A mask may reach this fraction of its box's size beyond the box (SAM sometimes spills into the background)."""


def segment(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Segment each chosen box and store the union as the step's mask.

    ``add`` needs no segmentation: its mask is the box, or for an add beside the referent ("next to
    the rocket") a box of its own beside the referent's (:func:`agent.graph.relations.beside`), which
    then becomes the step's chosen box. A pointed region ("this" with a click or a box) is SAM 2's mask
    from the pointing itself (:func:`agent.graph.pointing.pointed_mask`); its outline becomes the
    chosen box. Each mask is kept within a margin of its box
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
    update: dict[str, Any] = {}
    if step.action == "add" and step.place in BESIDE:
        placed = placement(step, boxes, image.size)
        if placed is None:
            return stop(f"There is no room {WORDS[step.place or '']} {what(step)} in the picture for "
                        f"{step.content.strip()}. Nothing changed; try another side.", notes=state.notes)
        boxes = [placed]
        update["chosen"] = [list(placed)]
    pointed = state.pointing is not None and refers_to_pointing(step.referent, state.pointing)
    try:
        if step.action == "add":
            masks = [box_mask(b, shape) for b in boxes]
        elif pointed and state.pointing is not None:
            from tools.masks import bbox

            masks = [pointed_mask(ctx.tools, image, state.pointing)]    # SAM 2 from the clicks and the box
            outline = bbox(masks[0])
            if outline is not None:
                update["chosen"] = [list(outline)]
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
    return {**update, "mask": ctx.store.put_mask(mask)}


def placement(step: Step, boxes: list[Box], size: tuple[int, int]) -> Box | None:
    """Where an add beside its referent paints: a box beside the referent's boxes (their outer box), or None
    when there is no room on that side."""
    anchor = outer_box(boxes)
    if anchor is None or step.place is None:
        return None
    return beside(anchor, step.place, size, scale=object_scale(step.content))
