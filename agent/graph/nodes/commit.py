"""The commit node: a turn's edits become one new version, a child of the current one (all its steps recorded)."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import stop, unchanged, versions_text
from agent.graph.plan import Step
from agent.graph.state import State
from agent.session.records import EditRecord
from tools.errors import ChatEditError

logger = logging.getLogger(__name__)


def provenance_models(models: dict[str, str], planned_by: dict[str, str]) -> dict[str, str]:
    """The toolkit's role → model ids, with ``planner`` naming the chat model that really planned the turn.

    A model that planned it is named by its id (or class); a turn planned without one (the grammar, the
    command layer, a direct move) names no planner. Unknown (``planned_by`` empty): as the toolkit says.
    """
    if not planned_by:
        return dict(models)
    out = {role: model for role, model in models.items() if role != "planner"}
    if planned_by.get("kind") == "planner":
        named = planned_by.get("model") or planned_by.get("class")
        if named:
            out["planner"] = named
    return out


def commit(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Store the turn's last draft as a version and the tree in history.json, both durably, before any reply.

    The version records who planned the turn (``state.planned_by``) and every step's seed.

    A step whose region looks as it did in the current version (a cup made red that was red: no pixel
    moved visibly, :func:`_changed`) is not claimed: its sentence says nothing visible changed (its record
    stays: its region may hold invisible changes). When no step changed anything visibly, no version is made.

    A version made where other versions already branch off starts a new branch: those are kept,
    and the reply says so. When the version cannot be saved (disk full...), the history in memory
    is put back as it was and the turn ends saying so: no version exists that the reply does not name.
    """
    from tools.masks import union

    ctx = runtime.context
    ctx.report("commit")
    store = ctx.store
    if not state.records or state.draft is None:
        raise ValueError("commit reached without edits")
    before = store.history.copy()
    parent = before.head
    kept = before.descendants(parent)
    try:
        masks = [store.load_mask(r.region) if r.region else None for r in state.records]
        changed = _changed(store, state, masks)
        notes = _said_unchanged(state, changed)
        if not any(changed):
            logger.info("the turn's %d steps changed no pixels; no version", len(state.records))
            return {"notes": notes, "drafted": []}
        image = store.promote_draft(state.draft)
        regions = [m for m in masks if m is not None]
        mask = store.put_mask(union(*regions) if len(regions) > 1 else regions[0]) if regions else None
        models = provenance_models(dict(ctx.tools.models), state.planned_by)
        records = [r.model_copy(update={"models": models}) for r in state.records]
        version = store.history.commit(image, mask=mask, instruction=state.text, steps=records,
                                       seed=records[0].seed, seeds=[r.seed for r in records if r.seed is not None],
                                       models=models, turn=state.turn, planned_by=dict(state.planned_by))
        store.save_history()
    except ChatEditError as e:
        store.history = before
        logger.warning("could not commit: %s", e)
        return stop(f"The edit could not be saved: {e}. Nothing changed.", error=str(e), notes=state.notes)
    logger.info("committed version %d (%d steps) from version %d", version.number, len(state.records), parent)
    branched = None
    if kept:
        verb = "is" if len(kept) == 1 else "are"
        branched = f"Started a new branch from v{parent}; {versions_text(kept)} {verb} kept: /history."
    return {"committed": version.number, "version": version.number, "branched": branched, "notes": notes}


VISIBLE_DELTA_E = 2.3
"""A pixel moved by less than this CIE76 ΔE (about one just-noticeable difference) looks unchanged."""
VISIBLE_SHARE = 0.01
"""A step changed its region visibly when at least this share of the region's pixels moved visibly."""


VISIBLE_SAMPLE = 100_000
"""At most this many pixels of a region (evenly spread) are compared (a 12 MP edit costs no more)."""


def _changed(store: Any, state: State, masks: list[Any]) -> list[bool]:
    """For each of the turn's records, whether the turn's result differs visibly from the current version
    inside the record's region (``masks``, aligned with the records; None: the whole image), judged on at most
    :data:`VISIBLE_SAMPLE` of the region's pixels (:data:`VISIBLE_DELTA_E`, :data:`VISIBLE_SHARE`). Only the
    region's box is converted: a 12 MP picture costs a crop, not a copy of it."""
    import numpy as np

    from tools.color import rgb_to_lab

    before, after = store.version_image(), store.load_draft(state.draft)
    if before.size != after.size:
        return [True] * len(state.records)
    out = []
    for region in masks:
        box, inside = (0, 0, *before.size), None
        if region is not None and region.shape == (before.height, before.width):
            rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
            if not len(rows):
                out.append(False)
                continue
            box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            inside = region[box[1]:box[3], box[0]:box[2]]
        was = np.asarray(before.crop(box).convert("RGB")).reshape(-1, 3)
        now = np.asarray(after.crop(box).convert("RGB")).reshape(-1, 3)
        where = np.flatnonzero(inside) if inside is not None else np.arange(len(was))
        where = where[:: max(1, len(where) // VISIBLE_SAMPLE)]
        old, new = was[where], now[where]
        moved = (old != new).any(axis=-1)
        if not moved.any():
            out.append(False)
            continue
        seen = int((np.linalg.norm(rgb_to_lab(new[moved]) - rgb_to_lab(old[moved]), axis=-1) >= VISIBLE_DELTA_E).sum())
        out.append(seen > 0 and seen >= VISIBLE_SHARE * len(where))
    return out


def _said_unchanged(state: State, changed: list[bool]) -> list[str]:
    """The turn's notes, each unchanged step's sentence replaced by one that claims no change (and the
    check's doubt about it, with its "say undo", dropped: there is nothing of it to take back)."""
    from agent.graph.nodes.verify import VERDICT_OPENINGS

    notes: list[str | None] = list(state.notes)
    said = state.drafted[-len(state.records):] if state.records else []
    for record, index, done in zip(state.records, said, changed, strict=False):
        if not done and 0 <= index < len(notes):
            notes[index] = unchanged(_step(record), count=max(1, len(record.boxes)))
            after = notes[index + 1] if index + 1 < len(notes) else None
            if after is not None and after.startswith(VERDICT_OPENINGS):
                notes[index + 1] = None
    return [n for n in notes if n is not None]


def _step(record: EditRecord) -> Step:
    return Step.model_validate(record.step)
