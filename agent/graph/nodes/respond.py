"""The respond node: ends every turn with one reply and forgets the turn's drafts."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.state import ReplyPayload, State


def respond(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Compose the reply from the turn's notes; drafts are deleted (committed ones live on as versions)."""
    ctx = runtime.context
    ctx.store.clear_drafts()
    notes = list(state.notes)
    if state.halt and notes and _moved_history(state):
        # The stop sentence says "Nothing changed", but an undo/redo/revert earlier in the turn did.
        notes[-1] = notes[-1].replace("Nothing changed", "Nothing else changed") \
                             .replace("nothing changed", "nothing else changed")
    if state.halt and state.records and state.committed is None:
        notes = _not_kept(notes, state.drafted, saving=_all_steps_ran(state))
    text = " ".join(n for n in notes if n) or "Done; nothing needed changing."
    if state.committed is not None:
        text += f" (version {state.committed})"
        if state.branched:
            text += f" {state.branched}"
    made = ctx.store.history[state.committed].image if state.committed is not None else None
    reply: ReplyPayload = {"text": text, "version": state.committed, "image": made, "error": state.error}
    return {"reply": reply, "question": None, "draft": None, "result": None, "version": ctx.store.history.head}


def _not_kept(notes: list[str], drafted: list[int], *, saving: bool = False) -> list[str]:
    """``notes`` of a turn that stopped before committing: the sentences announcing its earlier edits (drafts,
    never saved) must not stand as done, so they move to the end, quoted, as not kept. ``saving``: every
    step ran and saving them failed (there is no later step they came "before")."""
    said = [notes[i] for i in drafted if 0 <= i < len(notes)]
    rest = [n for i, n in enumerate(notes) if i not in set(drafted)]
    quoted = " ".join(f'"{s.strip()}"' for s in said)
    if saving:
        if not said:
            return [*rest, "This message's edits were not kept."]
        return [*rest, f"So this message's {'edit' if len(said) == 1 else 'edits'} ({quoted}) "
                       f"{'was' if len(said) == 1 else 'were'} not kept."]
    if not said:
        return [*rest, "The edits made earlier in this message were not kept either."]
    if len(said) == 1:
        return [*rest, f"The edit before it in this message ({quoted}) was not kept either."]
    return [*rest, f"The edits before it in this message ({quoted}) were not kept either."]


def _all_steps_ran(state: State) -> bool:
    """Whether the turn stopped after its last step (at commit), not at one of its steps."""
    return state.plan is not None and state.step_index >= len(state.plan.steps)


def _moved_history(state: State) -> bool:
    """Whether an undo, redo or revert step ran earlier in this turn (the steps before ``step_index``)."""
    steps = state.plan.steps[: state.step_index] if state.plan is not None else []
    return any(s.action in ("undo", "redo", "revert") for s in steps)
