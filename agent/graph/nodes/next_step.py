"""The next_step node: a junction every step returns to; its router picks the next step's node."""

from __future__ import annotations

from typing import Any

from agent.graph.state import State


def next_step(state: State) -> dict[str, Any]:
    """Nothing to do: routing happens on the edge out (see :func:`agent.graph.graph.route_step`)."""
    return {}
