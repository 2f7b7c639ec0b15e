"""The LangGraph state machine: state, run-time context, plan schema, planning, referents, nodes, routers.

Importing this package is cheap (the plan schema and the referent grammar are pure Python);
:func:`compile_graph` imports LangGraph and the nodes on first use.
"""

from __future__ import annotations

from typing import Any


def compile_graph(checkpointer: Any = None) -> Any:
    """The compiled graph (see :func:`agent.graph.graph.compile_graph`)."""
    from agent.graph.graph import compile_graph as compile_

    return compile_(checkpointer)
