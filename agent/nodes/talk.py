"""The talk node: "answer" and "ask" steps add the planner's words to the reply (no edit)."""

from __future__ import annotations

from typing import Any

from agent.nodes.common import current_step
from agent.state import State


def talk(state: State) -> dict[str, Any]:
    """Add the step's text to the reply and move on."""
    step = current_step(state)
    return {"notes": [*state.notes, step.content.strip()], "step_index": state.step_index + 1}
