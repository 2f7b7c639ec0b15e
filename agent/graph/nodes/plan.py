"""The plan node: starts a turn, asks the planner model for a typed plan of steps."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.session.history import History
from agent.graph.state import State
from tools.errors import Cancelled

logger = logging.getLogger(__name__)

TURN_RESET: dict[str, Any] = {
    "plan": None, "planner_replies": [], "step_index": 0, "draft": None, "records": [], "question": None,
    "chosen": [], "mask": None, "result": None, "attempt": 0, "notes": [], "halt": False, "error": None,
    "committed": None, "reply": None,
}
"""The per-turn fields, as a new turn starts."""


def _box(box: Any) -> str:
    return "[" + ", ".join(f"{float(v):.0f}" for v in box) + "]"


def _did(record: dict[str, Any]) -> str:
    """ "replace the cup with a red mug, box [120, 80, 260, 210]" """
    step = record.get("step") or {}
    text = f"{record.get('action', '?')} {record.get('target', '')}".strip()
    content = str(step.get("content") or "").strip()
    if content:
        text += {"replace": " with ", "recolor": " to "}.get(str(record.get("action")), ": ") + content
    if record.get("box") is not None:
        text += f", box {_box(record['box'])}"
    return text


def digest(history: History, messages: list[AnyMessage], *, versions: int = 6, turns: int = 6) -> str:
    """A short text of what happened so far, for the planner: versions up to the head, recent talk."""
    made = [v for v in history.versions[1: history.head + 1]][-versions:]
    parts = [f"v{v.number}: " + "; ".join(_did(r) for r in v.steps) + "." for v in made]
    text = " ".join(parts) if parts else "no edits yet."
    text += f" Current version: {history.head}" + (" (the original)." if history.head == 0 else ".")
    if history.can_redo():
        text += f" {history.can_redo()} undone version(s) can be redone."
    recent = [m for m in messages if m.type in ("human", "ai")][-turns:]
    if recent:
        talk = " | ".join(f"{'user' if m.type == 'human' else 'editor'}: {' '.join(str(m.content).split())[:160]}"
                          for m in recent)
        text += f" Recent conversation: {talk}"
    return text


def plan(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Reset the turn, record the user's words, and plan. A failed plan ends the turn with a clear reply."""
    from agent.graph.planning import MAX_IMAGE_SIDE, make_plan

    ctx = runtime.context
    ctx.report("plan")
    update: dict[str, Any] = {**TURN_RESET, "messages": [HumanMessage(state.text)],
                              "version": ctx.store.history.head}
    if ctx.planner is None:
        return {**update, "halt": True, "error": "no planner model",
                "notes": ["There is no planner model to understand that; nothing changed."]}
    text = digest(ctx.store.history, state.messages)
    try:
        head = ctx.store.history.current.image
        image = ctx.store.load_image(head)
        png = ctx.store.version_png(head) if max(image.size) <= MAX_IMAGE_SIDE else None   # sent as it is
        outcome = make_plan(ctx.planner, image=image, png=png, digest=text, text=state.text)
    except Cancelled:
        return {**update, "halt": True, "notes": ["Cancelled. Nothing changed."]}
    except Exception as e:  # the planner is any chat model (served, local): none of its failures may end the app
        logger.exception("planner failed")
        return {**update, "halt": True, "error": f"planner failed: {e}",
                "notes": [f"The planner model failed ({type(e).__name__}: {e}); nothing changed. Try again."]}
    update["planner_replies"] = list(outcome.replies)
    if outcome.plan is None:
        why = outcome.error or "no usable plan"
        return {**update, "halt": True, "error": why,
                "notes": [f"I couldn't work out what to do ({why}). Nothing changed; try rephrasing, "
                          "e.g. \"remove the cup\" or \"make the sky blue\"."]}
    logger.info("plan: %s", [s.action for s in outcome.plan.steps])
    return {**update, "plan": outcome.plan.model_dump()}
