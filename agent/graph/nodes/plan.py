"""The plan node: starts a turn (its fields reset in one place) and gets a typed plan: given, from the planner,
or from the offline grammar when the planner has random weights or cannot be reached."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from agent.graph.context import Context
from agent.graph.grammar import FORMS, read_plan
from agent.graph.unread import unread_reason
from agent.graph.pointing import Pointing, aim
from agent.graph.state import State, turn_reset
from agent.session.conversation import Message
from agent.session.history import History
from agent.session.records import EditRecord
from tools.errors import Cancelled

logger = logging.getLogger(__name__)


def _box(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):.0f}" for v in box) + "]"


def _did(record: EditRecord) -> str:
    """ "replace the cup with a red mug, box [120, 80, 260, 210]" """
    text = f"{record.action} {record.target}".strip()
    content = str(record.step.get("content") or "").strip()
    if content:
        text += {"replace": " with ", "recolor": " to "}.get(record.action, ": ") + content
    if record.box is not None:
        text += f", box {_box(record.box)}"
    return text


def digest(history: History, messages: Sequence[Message], *, versions: int = 6, turns: int = 6) -> str:
    """A short text of what happened so far, for the planner: the versions leading to the head, recent talk."""
    made = [history[n] for n in history.path()[1:]][-versions:]
    parts = [f"v{v.number}: " + "; ".join(_did(r) for r in v.steps) + "." for v in made]
    text = " ".join(parts) if parts else "no edits yet."
    text += f" Current version: {history.head}" + (" (the original)." if history.head == 0 else ".")
    if history.can_redo():
        text += f" {history.can_redo()} undone version(s) can be redone."
    recent = list(messages)[-turns:]
    if recent:
        talk = " | ".join(f"{'user' if m.role == 'user' else 'editor'}: {' '.join(m.text.split())[:160]}"
                          for m in recent)
        text += f" Recent conversation: {talk}"
    return text


def plan(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Reset the turn and plan it. A given plan (a direct undo/redo/revert) skips the planner.

    A planner with random weights never plans: the offline grammar does (:mod:`agent.graph.grammar`),
    and so it does when the planner cannot be reached. A failed plan ends the turn with a clear reply.
    """
    ctx = runtime.context
    update: dict[str, Any] = {**turn_reset(), "version": ctx.store.history.head}
    if state.direct is not None:       # replies: those of a plan made before the turn (see Turns.instead)
        return {**update, "plan": state.direct, "planned_by": dict(state.planned_by) or {"kind": "direct"},
                "planner_replies": list(state.direct_replies)}
    ctx.report("plan")
    return {**update, **plan_words(ctx, state.text, state.turn, pointing=state.pointing, reference=state.reference)}


def plan_words(ctx: Context, text: str, turn: int, *, pointing: Pointing | None = None,
               reference: Any = None) -> dict[str, Any]:
    """The plan of the user's words ``text`` for turn ``turn`` as a state update: ``plan`` and ``planned_by``
    (and ``planner_replies``), or ``halt`` with an ``error`` and ``notes`` saying why nothing will change.
    Reads the session, changes nothing: :meth:`agent.turns.Turns.instead` plans with it before it drops a
    question, so a planner that fails leaves the question open."""
    from agent.graph.planning import MAX_IMAGE_SIDE, make_plan

    store = ctx.store
    update: dict[str, Any] = {}
    if ctx.planner is None:
        return {**update, "halt": True, "error": "no planner model",
                "notes": ["There is no planner model to understand that; nothing changed."]}
    if ctx.planner_has_random_weights():
        return {**update, **by_grammar(text, "the planner model has random weights", pointing=pointing,
                                       referenced=reference is not None)}
    earlier = [m for m in store.conversation.recent(24) if m.turn < turn]
    history = digest(store.history, earlier)
    try:
        head = store.history.current.image
        image = store.load_image(head)
        png = store.version_png(head) if max(image.size) <= MAX_IMAGE_SIDE else None   # sent as it is
        said = text if pointing is None else f"{text}\n(The user pointed at: {pointing.describe()}.)"
        if reference is not None:
            said += (f"\n(The user attached a reference image: {reference.describe()}. The step that paints "
                     "the new object or look takes it from that image.)")
        outcome = make_plan(ctx.planner, image=image, png=png, digest=history, text=said)
    except Cancelled:
        return {**update, "halt": True, "notes": ["Cancelled. Nothing changed."]}
    except Exception as e:  # the planner is any chat model (served, local): none of its failures may end the app
        logger.exception("planner failed")
        return {**update, "halt": True, "error": f"planner failed: {e}",
                "notes": [f"The planner model failed ({type(e).__name__}: {e}); nothing changed. Try again."]}
    update["planner_replies"] = list(outcome.replies)
    if outcome.plan is None and outcome.unreachable:
        address = endpoint(ctx.planner)
        where = f"The planner at {address}" if address else f"The planner ({type(ctx.planner).__name__})"
        failure = (outcome.error or "").removeprefix("the planner failed: ")
        reason = f"{where[0].lower()}{where[1:]} is not reachable: {failure}"
        note = (f"{where} is not reachable ({failure}). Nothing changed; start it, or open chatedit "
                "with another planner (Editor.open(..., planner=...)) or profile (--profile).")
        if outcome.said:        # the model's own line already says what is wrong and what to do
            line = failure.rstrip(".")
            reason, note = f"{line[:1].lower()}{line[1:]}", f"{line}. Nothing changed."
        referenced = reference is not None
        if read_plan(text, pointed=pointing is not None, referenced=referenced) is not None:
            return {**update, **by_grammar(text, reason, pointing=pointing, referenced=referenced)}
        return {**update, "halt": True, "error": outcome.error, "notes": [note]}
    if outcome.plan is None and outcome.failed:
        why = outcome.error or "the planner failed"
        return {**update, "halt": True, "error": why,
                "notes": [f"The planner model failed ({why.removeprefix('the planner failed: ')}); nothing changed. "
                          "Try again."]}
    if outcome.plan is None:
        why = outcome.error or "no usable plan"
        return {**update, "halt": True, "error": why,
                "notes": [f"I couldn't work out what to do ({why}). Nothing changed; try rephrasing, "
                          "e.g. \"remove the cup\" or \"make the sky blue\"."]}
    logger.info("plan: %s", [s.action for s in outcome.plan.steps])
    return {**update, "plan": aim(outcome.plan, pointing), "planned_by": planned_by(ctx.planner)}


def by_grammar(text: str, reason: str, *, pointing: Pointing | None = None, referenced: bool = False) -> dict[str, Any]:
    """The update that plans ``text`` with the offline grammar, saying why (``reason``: why not the planner).

    What the grammar cannot read ends the turn with the forms it knows; it is never guessed at. With
    ``pointing``, "this", "here", "it" and an instruction without an object mean the pointed region;
    ``referenced``: a reference image came with the words ("make the cup look like this").
    """
    found = aim(read_plan(text, pointed=pointing is not None, referenced=referenced), pointing)
    if found is None:
        forms = "; ".join(f"\"{f}\"" for f in FORMS)
        why = unread_reason(text, read_plan)
        return {"halt": True, "error": "the offline grammar could not read that",
                "notes": [f"{reason[0].upper()}{reason[1:]}, so the offline grammar plans turns; it could not "
                          f"read that{': ' + why if why else ''}. Nothing changed. It reads forms like {forms}; "
                          "and undo, redo, revert N."]}
    logger.info("plan (offline grammar): %s", [s.action for s in found.steps])
    return {"plan": found, "planned_by": {"kind": "grammar"},
            "notes": [f"(Planned by the offline grammar: {reason}.)"]}


def planned_by(model: Any) -> dict[str, str]:
    """Provenance of a model's plan: its class, and its model id and endpoint when it says them."""
    out = {"kind": "planner", "class": type(model).__name__}
    name = next((v for a in ("model_name", "model", "model_id") if isinstance(v := getattr(model, a, None), str)
                 and v), None)
    address = endpoint(model)
    if name:
        out["model"] = name
    if address:
        out["endpoint"] = address
    return out


def endpoint(model: Any) -> str | None:
    """The server address a served chat model talks to (``base_url`` and its spellings), or None."""
    for attribute in ("openai_api_base", "base_url", "api_base", "endpoint", "endpoint_url"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
