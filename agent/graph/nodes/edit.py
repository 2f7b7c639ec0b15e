"""The edit node: runs the step's tool on the working image and keeps the result as a draft."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, describe, stop, what, working_image
from agent.graph.plan import Plan, Step
from agent.graph.relations import WORDS
from agent.graph.state import Pending, State
from agent.session.records import EditRecord, Reference
from tools.boxes import clip_box, outer_box, scale_box
from tools.errors import Cancelled, ChatEditError

logger = logging.getLogger(__name__)

_BIGGER = re.compile(r"\b(bigger|larger|enlarge|grow|wider|taller)\b", re.IGNORECASE)
_SMALLER = re.compile(r"\b(smaller|shrink|tinier|narrower|shorter)\b", re.IGNORECASE)

# Shape and size words of a replace's new content: (width factor, height factor) as powers of the
# resize factor. A strong word ("huge", "tiny") counts twice.
_SHAPE_WORDS = (
    ("tall|taller|tallest|high|higher", 0, 1),
    ("short|shorter|squat|low|lower|flat|flatter", 0, -1),
    ("wide|wider|widest|broad|broader|long|longer|longest|fat|fatter", 1, 0),
    ("thin|thinner|narrow|narrower|slim|slimmer|slender|skinny", -1, 0),
    ("big|bigger|biggest|large|larger|largest|enlarge|grow", 1, 1),
    ("small|smaller|smallest|little|mini|shrink", -1, -1),
    ("huge|giant|gigantic|enormous|massive", 2, 2),
    ("tiny|tinier|miniature", -2, -2),
)
_SHAPES = tuple((re.compile(rf"\b({w})\b", re.IGNORECASE), x, y) for w, x, y in _SHAPE_WORDS)


def resize(step: Step, text: str, factor: float) -> float:
    """How much a step on the last edited region wants its box scaled: "make it bigger" → ``factor``."""
    if step.referent is None or not step.referent.last_edited or step.action != "replace":
        return 1.0
    words = f"{step.content} {text}"
    if _BIGGER.search(words):
        return factor
    if _SMALLER.search(words):
        return 1.0 / factor
    return 1.0


def reshaped(box: list[float], words: str, size: tuple[int, int], factor: float) -> list[float] | None:
    """The box for new content whose shape or size words differ from the old object ("a tall vase").

    Each word scales the box's width and/or height by ``factor`` (twice for "huge", "tiny"); the new
    box keeps the old one's bottom edge and horizontal centre, so the new object stands where the
    old one stood (a taller one grows upwards), clamped to the image. None: no such words.
    """
    wx = hy = 0
    for pattern, x, y in _SHAPES:
        if pattern.search(words):
            wx, hy = wx + x, hy + y
    if wx == 0 and hy == 0:
        return None
    x0, y0, x1, y1 = box
    w, h = (x1 - x0) * factor ** wx, (y1 - y0) * factor ** hy
    cx = (x0 + x1) / 2
    new = clip_box((cx - w / 2, y1 - h, cx + w / 2, y1), size)
    return [float(v) for v in new] if new is not None and list(new) != list(box) else None


def target_box(step: Step, text: str, box: list[float] | None, size: tuple[int, int],
               factor: float) -> list[float] | None:
    """Where a replace of the last edited thing puts the new one, when it should change size.

    The planner's own box wins ("make it bigger" with a proposed larger box); otherwise size words
    ("bigger", "smaller") scale the last box around its centre. None: keep the object's own shape.
    """
    ref = step.referent
    if box is None or ref is None or not ref.last_edited or step.action != "replace":
        return None
    if ref.box is not None:
        proposed = clip_box(ref.box, size)
        if proposed is not None and list(proposed) != box:
            return list(proposed)
    f = resize(step, text, factor)
    return list(scale_box(box, f, size)) if f != 1.0 else None


def two_stage_box(step: Step, text: str, boxes: list[list[float]], size: tuple[int, int],
                  factor: float) -> tuple[bool, list[float] | None]:
    """Whether a replace goes in two stages (erase, then paint the new object), and into which new box.

    Two stages when the new object's box differs from the old one's: "it" made bigger or smaller
    (:func:`target_box`), shape or size words in the new content (:func:`reshaped`: "a tall vase"),
    or the step asking for it (``two_stage``: the old box is kept). A step saying ``two_stage``
    false, or several objects replaced at once, stays one-stage.
    """
    if step.action != "replace" or len(boxes) != 1 or step.two_stage is False:
        return False, None
    box = [float(v) for v in boxes[0]]
    new_box = target_box(step, text, box, size, factor)
    if new_box is None:
        ref = step.referent
        words = f"{step.content} {text}" if ref is not None and ref.last_edited else step.content
        new_box = reshaped(box, words, size, factor)
    return (new_box is not None or bool(step.two_stage)), new_box


def added(step: Step) -> str:
    """The reply's sentence for an add step: where the new object went against its referent."""
    words = WORDS.get(step.place or "", "at")
    return f"Added {step.content.strip()} {words} {what(step)}."


REFERENCE_ACTIONS = ("replace", "recolor", "add", "background", "global")
"""Actions that paint new content, and so can take it from a reference image."""


def reference_step(plan: Plan | None) -> int | None:
    """The index of the step a turn's reference image is for: the first that paints new content (None: none)."""
    steps = plan.steps if plan is not None else []
    return next((i for i, s in enumerate(steps) if s.action in REFERENCE_ACTIONS), None)


def reference_note(reference: Reference) -> str:
    """The reply's sentence on a step's reference image: used, or why not (never claimed when it was not)."""
    if reference.used:
        name = f"{reference.name} " if reference.name else ""           # a PIL image given has no name
        return f"It follows your reference image {name}({reference.size[0]}x{reference.size[1]})."
    engine = f"The {reference.engine} engine" if reference.engine else "This engine"
    return (f"{engine} cannot use a reference image, so the edit used only your words; choose the flux2-klein "
            "engine (--engine flux2-klein) to edit from a reference.")


def _engine_reference(tools: Any, reference: Reference, action: str) -> tuple[Reference, bool]:
    """The record's copy of ``reference`` (engine named, ``used`` set) and whether to pass it to the step's tool.

    A local step asks the repaint engine (loading it: the step is about to use it); a global step takes a
    reference only where the toolkit gives it to FLUX.2 klein (InstructPix2Pix and DiffEdit cannot).
    """
    if action == "global":
        name = str(getattr(tools, "engine_name", ""))
        can = name == "flux2-klein"
    else:
        engine = getattr(tools, "engine", None)
        name, can = str(getattr(engine, "name", "")), bool(getattr(engine, "references", False))
    return reference.model_copy(update={"used": can, "engine": name}), can


def edit(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Apply the current step. Without verification the result is accepted at once (next step)."""
    from tools.masks import dilate

    ctx = runtime.context
    step = current_step(state)
    image = working_image(state, ctx)
    seed = ctx.seed + state.step_index + 1000 * state.attempt
    outer = outer_box(state.chosen)
    box = list(outer) if outer is not None else None
    mask = ctx.store.load_mask(state.mask) if state.mask is not None else None
    if mask is not None and state.attempt:
        mask = dilate(mask, ctx.retry_dilate_px * state.attempt)   # a retry covers more of the old object
    extra: dict[str, Any] = {}

    def progress(i: int, n: int) -> None:
        ctx.report("edit", i, n)

    long = {"seed": seed, "progress": progress, "cancel": ctx.cancel}
    ref = step.referent
    reference: Reference | None = None
    notes = list(state.notes)
    at = reference_step(state.plan) if state.reference is not None else None
    if state.reference is not None and at is None and state.step_index == 0 and not state.attempt:
        notes.append(f"(The reference image was not used: a {step.action} step cannot take one.)")
    try:
        if at == state.step_index and state.reference is not None:
            reference, can = _engine_reference(ctx.tools, state.reference, step.action)
            if can:
                long["reference"] = ctx.store.load_reference(state.reference.id)
        if step.action == "remove":
            result = ctx.tools.remove(image, mask, name=ref.phrase if ref else "", **long)
        elif step.action == "replace":
            two, new_box = two_stage_box(step, state.text, state.chosen, image.size, ctx.resize_factor)
            if two:
                if new_box is not None:
                    extra["new_box"] = new_box
                result = ctx.tools.replace(image, mask, step.content, old=ref.phrase if ref else "",
                                           two_stage=True, new_box=tuple(new_box) if new_box else None, **long)
            else:
                result = ctx.tools.replace(image, mask, step.content, old=ref.phrase if ref else "", **long)
        elif step.action == "recolor":
            result = ctx.tools.recolor(image, mask, step.content, name=ref.phrase if ref else "", **long)
        elif step.action == "add":
            result = ctx.tools.add(image, tuple(box), step.content, **long)
        elif step.action == "background":
            result = ctx.tools.background(image, mask, step.content, **long)
        elif step.action == "global" and ref is not None and ref.phrase.strip():
            result = ctx.tools.diffedit(image, ref.phrase, step.content, **long)
        elif step.action == "global":
            result = ctx.tools.global_edit(image, step.content, **long)
        else:
            raise ValueError(f"edit reached with a {step.action} step")
    except Cancelled:
        return stop("Cancelled. Nothing changed.", notes=state.notes)
    except ChatEditError as e:
        logger.info("edit step %d failed: %s", state.step_index, e)
        return stop(f"Editing {what(step)} failed: {e}. Nothing changed.", error=str(e), notes=state.notes)
    state = replace(state, notes=notes) if notes != state.notes else state

    try:
        draft = ctx.store.put_draft(result.image)
        region = ctx.store.put_mask(result.region)
    except ChatEditError as e:
        return stop(f"The edit of {what(step)} could not be kept: {e}. Nothing changed.", error=str(e),
                    notes=state.notes)
    if "new_box" in extra:
        where = extra["new_box"]                # "it" now lives in the new box
    elif result.box is not None and box is None:
        where = [float(v) for v in result.box]
    else:
        where = box
    record = EditRecord(action=step.action, target=what(step), instruction=state.text, step=step.model_dump(),
                        box=where, boxes=[list(b) for b in state.chosen], mask=state.mask, region=region,
                        seed=int(result.seed), models=dict(ctx.tools.models), operation=result.operation,
                        prompt=result.prompt, attempt=state.attempt, new_box=extra.get("new_box"),
                        pointing=state.pointing.to_json() if state.pointing and ref and ref.pointed else None,
                        reference=reference)
    if ctx.verify and ctx.planner is not None:
        return {"result": Pending(draft=draft, record=record), "notes": state.notes}
    return accept(state, draft, record)


def accept(state: State, draft: str, record: EditRecord) -> dict[str, Any]:
    """The state update that keeps a step's result and moves to the next step."""
    step = current_step(state)
    said = added(step) if step.action == "add" else describe(step, count=len(record.boxes), words=state.text)
    if record.reference is not None:
        said = f"{said} {reference_note(record.reference)}"
    return {"draft": draft, "records": [*state.records, record], "step_index": state.step_index + 1,
            "notes": [*state.notes, said], "drafted": [*state.drafted, len(state.notes)], "result": None, "attempt": 0,
            "chosen": [], "mask": None}
