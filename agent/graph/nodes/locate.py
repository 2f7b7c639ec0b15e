"""The locate node: from a step's referent to the box(es) it means, or a question, or "not found"."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, stop, what, working_image
from agent.graph.plan import Referent
from agent.graph.referents import reading_order, select
from agent.graph.state import CandidatePayload, QuestionPayload, State
from agent.session.records import EditRecord
from tools.boxes import clip_box, iou
from tools.errors import ChatEditError

logger = logging.getLogger(__name__)

_NTH = {1: "1st", 2: "2nd", 3: "3rd"}


def last_region(state: State, ctx: Context) -> EditRecord | None:
    """The most recent edit record with a box: this turn's first, then the history's."""
    for record in reversed(state.records):
        if record.box is not None:
            return record
    return ctx.store.history.last_region()


def _with_attributes(ctx: Context, image: Any, ref: Referent, dets: list[Any]) -> list[Any]:
    """Keep the candidates a detection of the full phrase (with its attributes) agrees with.

    When the full phrase agrees with none of them, nothing can be ruled out and all are kept.
    """
    full = " ".join([ref.phrase.strip(), *(a.strip() for a in ref.attributes)])
    found = ctx.tools.detect(image, full)
    if not found:
        return dets
    best = max(d.score for d in found)
    strong = [d for d in found if d.score >= ctx.min_relative_score * best]
    kept = [d for d in dets if any(iou(d.box, f.box) >= ctx.attribute_iou for f in strong)]
    return kept or dets


def locate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Find what the current step acts on.

    Exactly one box (or every box for "all") → ``chosen``; several → ``question`` (the clarify node
    asks); none → the turn stops with a reply that says what was not found.
    """
    ctx = runtime.context
    ctx.report("locate")
    step = current_step(state)
    ref = step.referent
    if ref is None:
        raise ValueError(f"step {state.step_index} ({step.action}) has no referent to locate")
    reset = {"chosen": [], "mask": None, "question": None, "result": None, "attempt": 0}
    image = working_image(state, ctx)
    size = image.size

    if ref.last_edited:
        record = last_region(state, ctx)
        if record is None:
            return stop("There is no earlier edit for \"it\" to refer to yet. Nothing changed; "
                        "say which object you mean.", notes=state.notes)
        return {**reset, "chosen": [list(record.box)]}

    if ref.box is not None:
        x0, y0, x1, y1 = ref.box
        if x1 - x0 < 1 or y1 - y0 < 1:
            return stop(f"The box {[round(v, 1) for v in ref.box]} is less than a pixel wide or tall, so it marks "
                        "nothing. Nothing changed; mark a larger area.", error="empty box", notes=state.notes)
        box = clip_box(ref.box, size)
        if box is None:
            return stop(f"The box {[round(v) for v in ref.box]} lies outside the {size[0]}x{size[1]} image. "
                        "Nothing changed; point at something inside the picture.",
                        error="box outside the image", notes=state.notes)
        return {**reset, "chosen": [list(box)]}

    try:
        dets = ctx.tools.detect(image, ref.phrase)
        if dets:
            best = max(d.score for d in dets)
            dets = [d for d in dets if d.score >= ctx.min_relative_score * best]
        if len(dets) > 1 and ref.attributes:
            dets = _with_attributes(ctx, image, ref, dets)
    except ChatEditError as e:
        return stop(f"Finding {what(step)} failed: {e}. Nothing changed.", error=str(e), notes=state.notes)
    if not dets:
        return stop(f"I couldn't find {what(step)} in the image. Nothing changed; try naming it another way "
                    "(a more common word, or where it is: \"the thing on the left\").",
                    error=None, notes=state.notes)

    chosen = select(dets, ref.selector, n=ref.n, image_size=size)
    if not chosen:
        side = "left" if ref.selector == "nth_from_left" else "right"
        return stop(f"I found only {len(dets)} of {what(step)}, so there is no "
                    f"{_NTH.get(ref.n or 0, f'{ref.n}th')} from the {side}. Nothing changed.", notes=state.notes)
    if len(chosen) == 1 or ref.selector == "all":
        return {**reset, "chosen": [[float(v) for v in d.box] for d in chosen]}

    # Several left and nothing to choose by: ask, showing numbered candidates (best first, then left to right).
    from tools.masks import annotate

    shown = reading_order(sorted(chosen, key=lambda d: -d.score)[: ctx.max_candidates])
    candidates: list[CandidatePayload] = [
        {"number": i + 1, "box": [float(v) for v in d.box], "label": str(d.label), "score": float(d.score)}
        for i, d in enumerate(shown)]
    ctx.store.persist_drafts()                  # the question may outlive this process; so must its drafts
    image_id = ctx.store.put_question_image(annotate(image, [tuple(c["box"]) for c in candidates],
                                                     [c["label"] for c in candidates]))
    text = (f"I found {len(candidates)} matches for {what(step)}. Which one do you mean? "
            f"Answer with a number (1-{len(candidates)}), a position like \"the left one\", \"all\", or \"cancel\".")
    question: QuestionPayload = {"text": text, "candidates": candidates, "image": image_id, "size": list(size),
                                 "step": state.step_index}
    return {**reset, "question": question}
