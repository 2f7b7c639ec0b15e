"""The talk node: "answer" and "ask" steps add the planner's words to the reply (no edit); "ask" ends the plan."""

from __future__ import annotations

from typing import Any

from agent.graph.nodes.common import current_step
from agent.graph.state import State


def talk(state: State) -> dict[str, Any]:
    """Add the step's text to the reply; an "answer" moves on, an "ask" ends the plan.

    A question back means the planner needs the user's word before going further, so the steps
    after an "ask" never run (nothing is made or committed for them). Edits from steps before it
    were asked for in the same message and are already done: they are still committed, and the
    reply says so before the question.
    """
    step = current_step(state)
    following = len(state.plan.steps) if step.action == "ask" and state.plan else state.step_index + 1
    return {"notes": [*state.notes, step.content.strip()], "step_index": following}
