"""The history node: undo / redo / revert steps move the head in the version tree (no pixels are made)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.nodes.common import current_step, stop
from agent.graph.state import State
from agent.session.history import History, Move
from tools.errors import ChatEditError


def _edits(n: int) -> str:
    return "1 edit" if n == 1 else f"{n} edits"


def describe_move(kind: str, move: Move, history: History) -> str:
    """The sentence a user reads after an undo, redo or revert."""
    where = "the original" if move.new == 0 else f"version {move.new}"
    if kind == "undo":
        if move.moved == 0:
            return "There is nothing to undo: this is the original."
        short = " (that is as far back as it goes)" if move.moved < move.asked else ""
        return f"Undid {_edits(move.moved)}{short}; now at {where}."
    if kind == "redo":
        if move.moved == 0:
            return "There is nothing to redo."
        short = " (all there were)" if move.moved < move.asked else ""
        return f"Redid {_edits(move.moved)}{short}; now at {where}."
    if move.new == move.old:
        return f"Already at {where}."
    if move.new in history.path(move.old):
        return f"Went back to {where}."
    if move.old in history.path(move.new):
        return f"Went forward to {where}."
    return f"Switched to {where}, on another branch (made from v{history[move.new].parent})."


def history(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Apply an undo/redo/revert step and save the tree's new head durably.

    Edits made earlier in the same turn are not committed yet: an undo first drops them (that is
    what it undoes); a redo or revert drops them too, since it moves away from them.
    """
    ctx = runtime.context
    store = ctx.store
    step = current_step(state)
    before = store.history.copy()
    hist = store.history
    notes = list(state.notes)
    pending = bool(state.records)
    count = step.count or 1
    if pending:
        notes.append("Dropped the edits made earlier in this message.")
    if step.action == "undo":
        if pending:
            count -= 1
        text = describe_move("undo", hist.undo(count), hist) if count else ""
    elif step.action == "redo":
        text = describe_move("redo", hist.redo(count), hist)
    elif step.action == "revert":
        if step.version is None or step.version > hist.latest:
            text = f"There is no version {step.version}; versions go from 0 (the original) to {hist.latest}."
        else:
            text = describe_move("revert", hist.revert(step.version), hist)
    else:
        raise ValueError(f"history reached with a {step.action} step")
    try:
        store.save_history()
    except ChatEditError as e:
        store.history = before
        where = "the original" if before.head == 0 else f"version {before.head}"
        return stop(f"The move could not be saved: {e}. Still at {where}.", error=str(e), notes=state.notes)
    if text:
        notes.append(text)
    return {"notes": notes, "version": hist.head, "step_index": state.step_index + 1,
            "draft": None, "records": [], "drafted": [], "chosen": [], "mask": None}
