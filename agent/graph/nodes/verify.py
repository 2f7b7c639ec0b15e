"""The verify node: the planner model judges a step's result; one retry when it says no; the reply says the verdict."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, goal, stop, tried, working_image
from agent.graph.nodes.edit import accept
from agent.graph.state import State
from tools.errors import Cancelled

logger = logging.getLogger(__name__)

VERDICT_OPENINGS = ("The check says ", "I could not check ")
"""How the sentences on a doubtful or unclear verdict begin (the one right after the step's own sentence)."""


def verify(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Judge the pending result: a yes keeps it; a no asks the edit node for one retry (another seed,
    a larger mask); a second no keeps it too (the user asked for it) but the reply says it was tried,
    not done ("Tried to make the cup red."), that the check failed, and how to take it back; no clear
    verdict keeps it and the reply says it could not be checked.
    The record's ``verified`` is True, False or None accordingly.
    """
    from agent.graph.planning import verify_result

    ctx = runtime.context
    ctx.report("verify")
    if state.result is None:
        raise ValueError("verify reached without a result")
    step = current_step(state)
    draft, record = state.result.draft, state.result.record
    try:
        verdict = verify_result(ctx.planner, before=working_image(state, ctx), after=ctx.store.load_draft(draft),
                                step=step)
    except Cancelled:
        return stop("Cancelled. Nothing changed.", notes=state.notes)
    except Exception:  # a judge that fails must not lose a finished edit: keep it, unverified
        logger.exception("verification failed; keeping the result unverified")
        verdict = None
    if verdict is False and state.attempt < 1:
        logger.info("step %d did not pass verification; retrying", state.step_index)
        return {"result": None, "attempt": state.attempt + 1}
    update = accept(state, draft, record.model_copy(update={"verified": verdict}))
    shows = goal(step, words=state.text)
    if verdict is False:
        notes = list(update["notes"])
        notes[-1] = tried(notes[-1])           # the check doubts it: the step's sentence must not say it was done
        back = "take it back" if _edits(state) == 1 else "take back all of this message's edits (one version)"
        update["notes"] = [*notes, f"{VERDICT_OPENINGS[0]}this may not show {shows}; say \"undo\" to {back}."]
    elif verdict is None:
        update["notes"] = [*update["notes"], f"{VERDICT_OPENINGS[1]}that it shows {shows} (the check gave no clear "
                                             "yes or no)."]
    return update


def _edits(state: State) -> int:
    """How many of the turn's steps make pixels (one undo takes back all of them)."""
    from agent.graph.plan import REGION_ACTIONS

    steps = state.plan.steps if state.plan is not None else []
    return sum(1 for s in steps if s.action in REGION_ACTIONS or s.action == "global")
