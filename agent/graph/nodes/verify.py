"""The verify node: the planner model judges a step's result; one retry when it says no."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, stop, working_image
from agent.graph.nodes.edit import accept
from agent.graph.state import State
from tools.errors import Cancelled

logger = logging.getLogger(__name__)


def verify(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Accept the pending result, or ask the edit node for one retry (another seed, a larger mask)."""
    from agent.graph.planning import verify_result

    ctx = runtime.context
    ctx.report("verify")
    if state.result is None:
        raise ValueError("verify reached without a result")
    step = current_step(state)
    draft, record = state.result.draft, state.result.record
    try:
        ok = bool(verify_result(ctx.planner, before=working_image(state, ctx), after=ctx.store.load_draft(draft),
                                step=step))
    except Cancelled:
        return stop("Cancelled. Nothing changed.", notes=state.notes)
    except Exception:  # a judge that fails must not lose a finished edit: keep it, unverified
        logger.exception("verification failed; keeping the result")
        ok = True
        record = record.model_copy(update={"verified": None})
    else:
        record = record.model_copy(update={"verified": ok})
    if ok or state.attempt >= 1:
        return accept(state, draft, record)
    logger.info("step %d did not pass verification; retrying", state.step_index)
    return {"result": None, "attempt": state.attempt + 1}
