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


# -- through the Editor: whatever the planner says, a turn ends in a truthful Reply and the session reopens --


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    from tests.editor_helpers import Opener

    opener = Opener(tmp_path, coffee, tiny_profile)
    yield opener
    opener.close_all()


def _printable(text: str) -> bool:
    return all(line.isprintable() for line in text.split("\n"))


class _BrokenStr(RuntimeError):
    def __str__(self) -> str:
        raise ValueError("even str() fails")


def test_a_planner_that_raises_is_said_to_have_failed_not_misread(make):
    import numpy as np

    editor = make(RecursionError("deep"), _BrokenStr(), MemoryError())
    before = np.asarray(editor.current_image).copy()
    replies = [editor.send("remove the cup") for _ in range(3)]
    assert [r.text for r in replies] == [
        "The planner model failed (RecursionError: deep); nothing changed. Try again.",
        "The planner model failed (_BrokenStr); nothing changed. Try again.",       # its str() raised: its name
        "The planner model failed (MemoryError); nothing changed. Try again."]
    assert all(r.version is None and r.error for r in replies)
    assert np.array_equal(np.asarray(editor.current_image), before) and editor.current_version == 0


def test_words_the_planner_writes_reach_the_reply_without_invisible_or_terminal_characters(make):
    said = "a\x7fb\x9b31mc\x85d\u200e\u200f\u061ce\u2028f\u2029g\ufeffh\u200bi\u2066j\u2060k"
    editor = make(plan({"action": "answer", "content": said}))
    reply = editor.send("what is this?")
    assert reply.text == "ab31mcde\nf\ngh" + "ijk" and reply.version is None
    assert _printable(reply.text)
    # emoji sequences keep their zero-width joiner
    coder = "👩\u200d💻"
    assert Plan.model_validate(plan({"action": "answer", "content": coder})).steps[0].content == coder


@pytest.mark.slow
def test_blank_attributes_are_dropped_not_shown(make):
    editor = make(plan({"action": "remove", "referent": {"phrase": "cup", "selector": "leftmost",
                                                         "attributes": ["\x1b", "", "   ", "\u202e"]}}))
    reply = editor.send("remove the left cup")
    assert reply.version == 1 and reply.text == "Removed the cup. (version 1)"
    assert reply.plan.steps[0].referent.attributes == []
    # an exclusion whose only attributes were blank says nothing: the plan is refused, not run on everything
    bare = plan({"action": "remove", "referent": {"phrase": "cup", "exclude": [{"attributes": ["\x00"]}]}})
    assert parse_plan(json.dumps(bare))[0] is None


def test_a_truncated_reply_is_described_in_plain_words():
    found, reason = parse_plan('{"reas')
    assert found is None and reason == "the reply's JSON is malformed (Unterminated string starting at, at character 1)"


_ACTIONS = ["replace", "remove", "recolor", "add", "background", "global", "undo", "redo", "revert", "answer",
            "ask", "zap", "", None, 3]
_NUMBERS = [0, 1, 2, 7, 49, 50, 51, -1, 10**6, 1e308, -1e308, 0.5, True, "3", None, float("nan"), float("inf")]


def _value(rng: random.Random) -> Any:
    """A hostile JSON value: a number from :data:`_NUMBERS`, odd text, an empty or nested container."""
    return rng.choice([rng.choice(_NUMBERS), "", " ", "\x1b[2J", "\u202ecup", "😀" * rng.randint(1, 300),
                       "x" * rng.randint(0, 600), [], {}, [rng.choice(_NUMBERS)] * rng.randint(0, 6), {"a": {"b": []}}])


def _referent(rng: random.Random) -> dict[str, Any]:
    referent: dict[str, Any] = {}
    if rng.random() < 0.7:
        referent["phrase"] = rng.choice(["cup", "cup", "table", "saucer", "elephant", "", "\x00", " cup "])
    if rng.random() < 0.3:
        referent["box"] = [rng.choice([rng.uniform(-300, 300), *_NUMBERS[:12]]) for _ in range(rng.choice([4, 4, 3]))]
    for key, values in (("selector", ["leftmost", "rightmost", "all", "nth_from_left", "largest", "middle"]),
                        ("n", _NUMBERS), ("count", _NUMBERS), ("last_edited", [True, False, 1]),
                        ("pointed", [True, False]), ("attributes", [[], ["red"], [""], ["\x1b"] * 9]),
                        ("exclude", [[{"selector": "leftmost"}], [{}], [{"count": 50, "selector": "all"}]]),
                        ("relation", ["left_of", "on", "inside"]), ("anchor", [{"phrase": "cup"}, {"phrase": ""}])):
        if rng.random() < 0.15:
            referent[key] = rng.choice(values)
    if rng.random() < 0.05:
        referent[rng.choice(["extra", "__class__"])] = _value(rng)
    return referent


def _step(rng: random.Random) -> dict[str, Any]:
    step: dict[str, Any] = {"action": rng.choice(_ACTIONS)}
    if rng.random() < 0.8:
        step["referent"] = _referent(rng) if rng.random() < 0.9 else _value(rng)
    if rng.random() < 0.7:
        step["content"] = rng.choice(["red", "blue", "a red mug", "😀", "", "\x07", "watercolor", "which one?"]) \
            if rng.random() < 0.85 else _value(rng)
    for key in ("count", "version", "place", "two_stage"):
        if rng.random() < 0.1:
            step[key] = rng.choice([*_NUMBERS, "next_to", "on", True])
    return step


def _plausible(rng: random.Random) -> dict[str, Any]:
    """A step that mostly validates: a known action with the fields it needs, numbers and boxes at the edges."""
    cup = {"phrase": rng.choice(["cup", "table", "elephant", "saucer"])}
    if rng.random() < 0.5:
        cup.update(rng.choice([{"selector": "leftmost"}, {"selector": "all"}, {"count": rng.choice([1, 2, 50])},
                               {"selector": "nth_from_left", "n": rng.choice([1, 2, 50])}, {"last_edited": True},
                               {"box": rng.choice([[10, 20, 50, 60], [-50, -50, -1, -1], [0, 0, 1e308, 1e308],
                                                   [149, 99, 400, 400], [10.1, 10.1, 10.5, 10.5]])},
                               {"relation": "left_of", "anchor": {"phrase": "cup"}}, {"pointed": True}]))
    return rng.choice([
        {"action": "recolor", "referent": cup, "content": rng.choice(["red", "navy", "😀", "striped", "x" * 500])},
        {"action": "remove", "referent": cup},
        {"action": "replace", "referent": cup, "content": "a red mug"},
        {"action": "answer", "content": rng.choice(["ok", "\x9b2J\u202e" * 50])},
        {"action": "ask", "content": "which one?"},
        {"action": "undo", "count": rng.choice([1, 2, 100])}, {"action": "redo"},
        {"action": "revert", "version": rng.choice([0, 1, 2, 99_999])}])


def _reply(rng: random.Random) -> str:
    """A planner reply drawn from hostile plans: plausible and broken steps, broken JSON, prose around it."""
    if rng.random() < 0.5:
        steps = [_plausible(rng) for _ in range(rng.choice([1, 1, 1, 2, 3, 8]))]
        data: Any = {"reasoning": rng.choice(["r", "w " * 60_000 if rng.random() < 0.1 else "The user asked."]),
                     "steps": steps}
    else:
        data = {"reasoning": rng.choice(["r", "", "w " * 60_000, "\ud800", 5, None]),
                "steps": [_step(rng) for _ in range(rng.choice([0, 1, 1, 1, 2, 3, 9, 1000]))]}
    if rng.random() < 0.05:
        data = _value(rng)
    text = json.dumps(data, allow_nan=True, ensure_ascii=rng.random() < 0.5)
    roll = rng.random()
    if roll < 0.1:
        text = text[: rng.randint(0, len(text))]
    elif roll < 0.2:
        text = f"Sure! Here is the plan:\n```json\n{text}\n```\nAnything else?"
    elif roll < 0.25:
        text = rng.choice(["", " \n\t", "\x00" * 50, "I cannot help with that."])
    return text


_MOVED = ("Undid", "Redid", "Went back", "Went forward", "Switched")


@pytest.mark.slow
def test_seeded_hostile_plans_through_the_editor_never_escape_and_never_change_the_image_silently(make):
    """Turns on 120 random hostile replies (a turn takes one, or two after a re-ask): every turn is a Reply in
    printable words, the image changes only with the version the reply names or a move it states, and the
    session reopens where it was."""
    import numpy as np

    from agent.editor import Reply

    rng = random.Random(20261203)
    editor = make(*(_reply(rng) for _ in range(120)))
    turns = 0
    while editor.planner.left and turns < 100:
        turns += 1
        before, head = np.asarray(editor.current_image).copy(), editor.current_version
        reply = editor.send(rng.choice(["do it", "remove the cup", "make it red"]))
        assert isinstance(reply, Reply) and reply.text.strip() and _printable(reply.text), reply.text
        assert reply.error is None or "\n" not in reply.error
        if reply.version is not None:
            assert reply.version == editor.current_version and f"(version {reply.version})" in reply.text
        elif not np.array_equal(np.asarray(editor.current_image), before) or editor.current_version != head:
            assert any(word in reply.text for word in _MOVED), reply.text
        if reply.question is not None:
            assert editor.answer("cancel").question is None
    assert turns >= 60
    head, session = editor.current_version, editor.session_dir
    editor.close()
    assert make(session=session).current_version == head


def test_megabyte_replies_do_not_grow_the_session_by_as_much(make):
    """A planner that answers 5 MB twice a turn: the turn says so, and what is kept of its replies is cut."""
    from agent.graph.planning import MAX_KEPT_REPLY_CHARS

    big = "x" * 5_000_000
    editor = make(*[big] * 6)
    for _ in range(3):
        reply = editor.send("do it")
        assert "the reply is too long (5000000 characters)" in reply.text and reply.version is None
        assert [len(r) for r in reply.planner_replies] == [MAX_KEPT_REPLY_CHARS + 43] * 2
        assert reply.planner_replies[0].endswith("... (cut; the reply was 5000000 characters)")
    session = editor.session_dir
    editor.close()
    assert sum(f.stat().st_size for f in session.rglob("*") if f.is_file()) < 3_000_000     # 30 MB before


@pytest.mark.slow
def test_an_edit_dropped_by_a_later_failing_step_is_said_to_be_dropped(make):
    import numpy as np

    red = {"action": "recolor", "referent": {"phrase": "cup", "selector": "leftmost"}, "content": "red"}
    editor = make(plan(red, {"action": "remove", "referent": {"phrase": "elephant"}}))
    before = np.asarray(editor.current_image).copy()
    reply = editor.send("make the left cup red and remove the elephant")
    assert reply.text.startswith("I couldn't find the elephant in the image. Nothing changed;")
    assert reply.text.endswith(' The edit before it in this message ("Made the cup red.") was not kept either.')
    assert reply.version is None and editor.current_version == 0
    assert np.array_equal(np.asarray(editor.current_image), before)
