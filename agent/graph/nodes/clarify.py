"""The clarify node: asks "which one?" (a LangGraph interrupt) and reads the answer."""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

from agent.graph.nodes.common import stop
from agent.graph.referents import Choice, parse_answer
from agent.graph.state import QuestionPayload, State


def _quoted(answer: object, limit: int = 40) -> str:
    """The answer as a short one-line quote for the reply (a pasted essay is cut, not echoed)."""
    if isinstance(answer, int) and answer.bit_length() > 64:
        return "a very large number"
    text = str(answer)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _parse(answer: object, question: QuestionPayload) -> Choice | None:
    if not isinstance(answer, (str, int)):
        return None
    boxes = [c["box"] for c in question["candidates"]]
    return parse_answer(answer, boxes, image_size=tuple(question["size"]))


def clarify(state: State) -> dict[str, Any]:
    """Interrupt with the question; resume with a number, ordinal, position, "all" or "cancel".

    The interrupt comes first and nothing before it has effects: the node re-runs from the top on
    resume. An answer that names no candidate is asked about once more, then the turn stops.
    (What was asked and answered is kept in the session's conversation log by the turn runner.)
    """
    question = state.question
    if question is None:
        raise ValueError("clarify reached without a question")
    answer = interrupt(question)
    choice = _parse(answer, question)
    if choice is None:
        again: QuestionPayload = {**question, "retry": True,
                                  "text": f"Sorry, I didn't understand {_quoted(answer)}. {question['text']}"}
        answer = interrupt(again)
        choice = _parse(answer, question)
    if choice is None:
        return stop(f"I still couldn't tell which one you meant from {_quoted(answer)}. Nothing changed; "
                    "say the instruction again with the number, e.g. \"remove number 2\".",
                    error="unclear answer", notes=state.notes)
    if choice.kind == "cancel":
        return stop("OK, cancelled. Nothing changed.", notes=state.notes)
    candidates = question["candidates"]
    picked = candidates if choice.kind == "all" else [candidates[i] for i in choice.indices]
    return {"chosen": [list(c["box"]) for c in picked], "question": None}
