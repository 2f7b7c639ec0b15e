"""The clarify node: asks "which one?" (a LangGraph interrupt) and reads the answer with the command layer."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.graph.commands import Answer, Item, Resolved, forms, read_reply, resolve
from agent.graph.context import Context
from agent.graph.nodes.common import stop, working_image
from agent.graph.plan import Plan
from agent.graph.state import QuestionPayload, State


def quoted(answer: object, limit: int = 40) -> str:
    """The answer as a short one-line quote for the reply (a pasted essay is cut, not echoed)."""
    if isinstance(answer, int) and not isinstance(answer, bool) and answer.bit_length() > 64:
        return "a very large number"
    text = " ".join(str(answer).split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _colours(state: State, ctx: Context) -> Any:
    """A box → Lab colour function on the image being edited (the median of the box's middle half)."""
    cache: dict[str, Any] = {}

    def colour_of(box: Any) -> tuple[float, float, float]:
        import numpy as np

        from tools.color import rgb_to_lab

        if "image" not in cache:
            cache["image"] = np.asarray(working_image(state, ctx).convert("RGB"))
        pixels = cache["image"]
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        xs = slice(max(0, int(x0 + w / 4)), max(int(x0 + w / 4) + 1, int(x1 - w / 4)))
        ys = slice(max(0, int(y0 + h / 4)), max(int(y0 + h / 4) + 1, int(y1 - h / 4)))
        patch = pixels[ys, xs].reshape(-1, 3)
        if patch.size == 0:
            patch = pixels.reshape(-1, 3)
        lab = rgb_to_lab(patch)
        return tuple(float(v) for v in np.median(lab, axis=0))  # type: ignore[return-value]

    return colour_of


def asked_about(question: QuestionPayload, plan: Plan | None) -> tuple[str, str | None, str]:
    """The kind a question is about ("cup": its phrase, else the step's, plus the candidates' labels), and
    the asking step's action and content."""
    step = plan.steps[question["step"]] if plan is not None and 0 <= question["step"] < len(plan.steps) else None
    words = [question.get("phrase") or "", *(str(c.get("label") or "") for c in question["candidates"])]
    if step is not None and step.referent is not None:
        words.append(step.referent.phrase)
    kind = " ".join(dict.fromkeys(w for w in words if w))
    return (kind, step.action, step.content) if step is not None else (kind, None, "")


def read(answer: object, question: QuestionPayload, state: State, ctx: Context | None) -> Resolved:
    """What an answer (the user's words, a number, or ``{"pick": [numbers]}`` from the planner) picks."""
    if isinstance(answer, dict) and isinstance(answer.get("pick"), list) \
            and all(isinstance(n, int) and not isinstance(n, bool) for n in answer["pick"]) and answer["pick"]:
        parsed = Answer("pick", (Item(numbers=tuple(answer["pick"]), words=("the planner's reading",)),))
    elif isinstance(answer, (str, int)) and not isinstance(answer, bool):
        phrase, action, content = asked_about(question, state.plan)
        reading = read_reply(answer, phrase=phrase, action=action, content=content)
        if reading.kind in ("move", "instruction"):
            return Resolved("unclear", why="that reads as a new instruction, not an answer; say \"cancel\" first "
                                           "to drop this question")
        if reading.answer is None:
            return Resolved("unclear", why=reading.why)
        parsed = reading.answer
    else:
        return Resolved("unclear", why="that is not an answer")
    return resolve(parsed, [c["box"] for c in question["candidates"]], matches=question.get("matches"),
                   want=question.get("want"), image_size=tuple(question["size"]),  # type: ignore[arg-type]
                   colour_of=_colours(state, ctx) if ctx is not None else None)


def clarify(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Interrupt with the question; resume with an answer the command layer reads (see
    :mod:`agent.graph.commands`): numbers, ordinals, positions, sizes, colours, "all", "all except 2",
    corrections, "cancel".

    The interrupt comes first and nothing before it has effects: the node re-runs from the top on
    resume. An answer that names no candidate gets one specific follow-up question (the graph comes
    back here), never a cancel: the question stays open until it is answered or cancelled.
    (What was asked and answered is kept in the session's conversation log by the turn runner.)
    """
    question = state.question
    if question is None:
        raise ValueError("clarify reached without a question")
    answer = interrupt(question)
    resolved = read(answer, question, state, runtime.context)
    if resolved.kind == "cancel":
        return stop("OK, cancelled. Nothing changed.", notes=state.notes)
    if resolved.kind == "unclear":
        said = quoted(answer) if not isinstance(answer, dict) else "the planner's reading"
        count, want = len(question["candidates"]), question.get("want")
        which = "ones" if (want or 1) > 1 else "one"
        again: QuestionPayload = {**question, "retry": True,
                                  "text": f"Sorry, I couldn't tell which {which} you meant from {said}: "
                                          f"{resolved.why}. {forms(count, want)}"}
        return {"question": again}
    return {"chosen": [list(b) for b in resolved.boxes], "question": None}
