"""The respond node: ends every turn with one reply and forgets the turn's drafts."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from agent.context import Context
from agent.state import State


def respond(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Compose the reply from the turn's notes; drafts are deleted (committed ones live on as versions)."""
    ctx = runtime.context
    ctx.store.clear_drafts()
    text = " ".join(n for n in state.notes if n) or "Done; nothing needed changing."
    if state.committed is not None:
        text += f" (version {state.committed})"
    reply = {"text": text, "version": state.committed, "error": state.error}
    return {"reply": reply, "messages": [AIMessage(text)], "question": None, "draft": None, "result": None,
            "version": ctx.store.history.head}
