"""The commit node: a turn's edits become one new version (all its steps recorded)."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.state import State

logger = logging.getLogger(__name__)


def commit(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Promote the turn's last draft to a version, record every step, save the history atomically."""
    from tools.masks import union

    ctx = runtime.context
    ctx.report("commit")
    store = ctx.store
    if not state.records or state.draft is None:
        raise ValueError("commit reached without edits")
    image = store.promote_draft(state.draft)
    regions = [store.load_mask(r["region"]) for r in state.records if r.get("region")]
    mask = store.put_mask(union(*regions) if len(regions) > 1 else regions[0]) if regions else None
    version = store.history.commit(image, mask=mask, instruction=state.text, steps=state.records,
                                   seed=state.records[0].get("seed"), models=dict(ctx.tools.models))
    store.save_history()
    logger.info("committed version %d (%d steps)", version.number, len(state.records))
    return {"committed": version.number, "version": version.number}
