"""The planner asked what an answer means, when the command layer cannot read it ("the one by the window")."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)


def planner_reads_answers(planner: Any) -> bool:
    """Whether ``planner`` can be asked what an answer means: a model that says it has random weights
    (``random_weights``, the tiny profile's) cannot; any other chat model is a real planner."""
    return planner is not None and getattr(planner, "random_weights", False) is not True


def _reading_schema(count: int) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False,
            "properties": {"pick": {"type": "array", "maxItems": count,
                                    "items": {"type": "integer", "minimum": 1, "maximum": count}},
                           "instruction": {"type": "boolean"}}}


def planner_reading(planner: Any, text: str, payload: dict[str, Any], *, image: Any = None) -> list[int] | str | None:
    """Ask the planner what an answer means: candidate numbers, "instruction" (a new request), or None.

    ``image``: the question's annotated picture (numbered boxes), sent along when given.

    The reply is constrained to ``{"pick": [numbers]}`` / ``{"instruction": true}``; anything else,
    a failure, or numbers out of range is None (the person gets a follow-up question).
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent.graph.planning import extract_json, image_block, is_unreachable

    candidates = payload.get("candidates") or []
    count = len(candidates)
    if not count:
        return None
    width, height = (payload.get("size") or [0, 0])[:2]
    listed = "\n".join(f"{c['number']}: box [{', '.join(f'{float(v):.0f}' for v in c['box'])}]"
                        for c in candidates)
    said = text if len(text) <= 500 else text[:497] + "..."
    messages = [SystemMessage(content="You read a person's answer to a question about numbered boxes in an "
                                      "image. Reply with JSON only: {\"pick\": [numbers]} for the boxes the "
                                      "answer names, {\"instruction\": true} when the message is a new "
                                      "request instead of an answer, {} when it is neither."),
                HumanMessage(content=[*([image_block(image)] if image is not None else []),
                                      {"type": "text",
                                       "text": f"Image {width}x{height} pixels. Question: {payload.get('text', '')}\n"
                                               f"Boxes (x0, y0, x1, y1):\n{listed}\nAnswer: {json.dumps(said)}"}])]
    kwargs = {"json_schema": _reading_schema(count)} if getattr(planner, "supports_json_schema", False) else {}
    try:
        content = planner.invoke(messages, **kwargs).content
        raw = extract_json(content if isinstance(content, str) else str(content))
        data = json.loads(raw) if raw else None
    except Exception as e:  # noqa: BLE001 - any model failure means: ask the person instead
        if is_unreachable(e):
            raise                                # the caller says the planner is down (asking again would not help)
        logger.warning("the planner could not read the answer: %s", e)
        return None
    if not isinstance(data, dict):
        return None
    if data.get("instruction") is True:
        return "instruction"
    pick = data.get("pick")
    if isinstance(pick, list) and pick and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= count
                                               for n in pick):
        return list(dict.fromkeys(pick))
    return None
