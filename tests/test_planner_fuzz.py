"""Any planner reply at all, however hostile, takes the normal "no valid plan" path: never an exception, never slow."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from agent.graph.plan import Plan
from agent.graph.planning import MAX_REPLY_CHARS, extract_json, make_plan, parse_plan
from tests.agent_fakes import QueuePlanner, plan

GOOD = plan({"action": "remove", "referent": {"phrase": "cup"}})
SECONDS = 2.0
"""Generous bound per parse_plan call; the worst case here takes a few milliseconds."""

NASTY: dict[str, Any] = {
    "1000 open objects": '{"a":' * 1000,
    "1000 closed objects": '{"a":' * 1000 + "1" + "}" * 1000,
    "deep objects in a plan": '{"reasoning": "r", "steps": [' + '{"a":' * 5000 + "1" + "}" * 5000 + "]}",
    "5000 open arrays": '{"steps":' + "[" * 5000,
    "5000 closed arrays": '{"steps":' + "[" * 5000 + "]" * 5000 + "}",
    "16000 object-arrays": '{"a":[' * 16_000,
    "1e400": '{"reasoning": "r", "steps": [{"action": "revert", "version": 1e400}]}',
    "box of 1e400": '{"reasoning": "r", "steps": [{"action": "remove", "referent": {"box": [0, 0, 1e400, 5]}}]}',
    "5000-digit int": '{"reasoning": "r", "steps": [{"action": "revert", "version": ' + "9" * 5000 + "}]}",
    "90000-digit int": '{"x": ' + "9" * 90_000 + "}",
    "5000-digit float": '{"reasoning": 1.' + "9" * 5000 + ', "steps": [{"action": "undo"}]}',
    "5000-digit exponent": '{"reasoning": "r", "steps": [{"action": "revert", "version": 1e' + "9" * 5000 + "}]}",
    "NaN and Infinity": '{"reasoning": NaN, "steps": [Infinity, -Infinity]}',
    "NaN version": '{"reasoning": "r", "steps": [{"action": "revert", "version": NaN}]}',
    "lone surrogate": '{"reasoning": "\ud800", "steps": [{"action": "undo"}]}',
    "escaped lone surrogate": '{"reasoning": "\\udc00", "steps": [{"action": "undo"}]}',
    "surrogate key": '{"\ud800": 1, "reasoning": "r", "steps": [{"action": "undo"}]}',
    "escape-sequence key": '{"\\u001b[2J\\u0007": 1, "reasoning": "r", "steps": [{"action": "undo"}]}',
    "bidi key": '{"\u202eevil\ufeff": 1, "reasoning": "r", "steps": [{"action": "undo"}]}',
    "NUL bytes": '{"reasoning": "a\x00b", "steps": [{"action": "undo\x00"}]}',
    "escaped NUL": '{"reasoning": "r", "steps": [{"action": "undo\\u0000"}]}',
    "100000 open braces": "{" * MAX_REPLY_CHARS,
    "100000 close braces": "}" * MAX_REPLY_CHARS,
    "100000 quotes": '"' * MAX_REPLY_CHARS,
    "brace-quote pairs": '{"' * (MAX_REPLY_CHARS // 2),
    "100000 backticks": "`" * MAX_REPLY_CHARS,
    "fenced deep nesting": "```json\n" + '{"a":' * 1000 + "\n```",
    "a 99 kB key": '{"' + "k" * 99_000 + '": 1}',
    "a 99 kB unterminated string": '{"reasoning": "' + "x" * 99_000,
    "5000 invalid steps": '{"reasoning": "r", "steps": [' + ",".join(['{"action": "zap"}'] * 5000) + "]}",
    "3 MB of text": "x" * 3_000_000,
    "3 MB of braces": "{" * 3_000_000,
    "just past the limit": '{"reasoning": "r", "steps": [{"action": "undo"}]}' + " " * MAX_REPLY_CHARS,
    "empty": "",
    "whitespace": " \n\t\r",
    "prose": "I cannot help with that.",
    "a JSON string": '"{\\"reasoning\\": \\"r\\"}"',
}
NOT_TEXT: dict[str, Any] = {"None": None, "int": 42, "bytes": b'{"reasoning": "r"}', "list": ['{"a": 1}'],
                            "a plan as a dict": GOOD, "object": object(), "float nan": float("nan")}


def _soup(rng: random.Random) -> str:
    """A reply of brace/quote/number soup, sometimes behind a plausible plan's opening."""
    tokens = ["{", "}", "[", "]", '"', ":", ",", "\\", "\\u", "d800", "\\ud800", "\ud800", "\x00", "\x1b", "1e400",
              "-", ".", "e", "NaN", "Infinity", "true", "null", '"reasoning"', '"steps"', '"action"', '"undo"',
              '"remove"', '"referent"', '"box"', "```", "```json\n", " ", "\n", "é", "😀"]
    parts = [rng.choice(['{"reasoning": "r", "steps": [', '{"a":' * rng.randint(1, 3000), "[" * rng.randint(1, 3000),
                         ""])]
    for _ in range(rng.randint(0, 3000)):
        roll = rng.random()
        if roll < 0.02:
            parts.append("9" * rng.randint(1, 6000))
        elif roll < 0.04:
            parts.append(rng.choice("{[") * rng.randint(1, 2000))
        else:
            parts.append(rng.choice(tokens))
    return "".join(parts)


def _check(reply: Any) -> float:
    """parse_plan on ``reply``: no plan, a printable one-line reason, within :data:`SECONDS`; returns the time."""
    start = time.perf_counter()
    found, reason = parse_plan(reply)
    extract_json(reply)
    seconds = time.perf_counter() - start
    assert found is None or isinstance(found, Plan)
    if found is None:
        assert isinstance(reason, str) and reason and "\n" not in reason and len(reason) <= 400
        # no escape or bidi character reaches a terminal, no lone surrogate breaks printing or logging
        assert reason.isprintable(), reason
    assert seconds < SECONDS, f"parse_plan took {seconds:.2f} s"
    return seconds


@pytest.mark.parametrize("reply", [*NASTY.values(), *NOT_TEXT.values()], ids=[*NASTY, *NOT_TEXT])
def test_nasty_replies_give_no_plan_and_a_one_line_reason(reply):
    assert _check(reply) < SECONDS
    assert parse_plan(reply)[0] is None


def test_seeded_soup_never_raises_and_stays_fast():
    rng = random.Random(20240611)
    worst = max(_check(_soup(rng)) for _ in range(300))
    assert worst < SECONDS


@pytest.mark.parametrize("reply", list(NASTY.values()), ids=list(NASTY))
def test_make_plan_re_asks_after_a_nasty_reply_and_takes_the_valid_one(reply):
    model = QueuePlanner().push(reply, GOOD)
    outcome = make_plan(model, image=None, digest="", text="remove the cup")
    assert outcome.plan == Plan.model_validate(GOOD) and outcome.error is None
    assert model.calls == 2 and model.left == 0 and len(outcome.replies) == 2


def test_make_plan_reads_a_reply_whose_content_is_not_text_and_re_asks():
    odd = AIMessage(content=[{"type": "text", "text": 5}, {"type": "image_url", "image_url": {"url": "x"}}, "{["])
    replies = iter([odd, AIMessage(content=json.dumps(GOOD))])
    outcome = make_plan(GenericFakeChatModel(messages=replies), image=None, digest="", text="remove the cup")
    assert outcome.plan == Plan.model_validate(GOOD) and len(outcome.replies) == 2
    assert next(replies, None) is None


def test_nasty_replies_twice_end_in_a_one_line_error():
    model = QueuePlanner().push(NASTY["1000 open objects"], NASTY["5000-digit int"])
    outcome = make_plan(model, image=None, digest="", text="remove the cup")
    assert outcome.plan is None and model.calls == 2
    assert outcome.error == ("the planner gave no valid plan after a retry: "
                             "the reply's JSON holds a number too long to read; answer with one plan object")
