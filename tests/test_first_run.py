"""A truthful first run: a planner with random weights never plans (the offline grammar does, and says so),
an unreachable planner is named as such, and every plan records who made it."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.graph import compile_graph
from agent.graph.context import Context
from agent.graph.planning import is_unreachable
from agent.scripted.scripted_planner import ScriptedPlanner
from agent.session.store import SessionStore
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

SIZE = (150, 100)
LEFT_CUP, RIGHT_CUP = (10, 20, 50, 60), (95, 15, 140, 65)


class RandomPlanner(QueuePlanner):
    """A planner that says it has random weights, as the tiny profile's does; asking it is a test failure."""

    random_weights: bool = True


class ServedPlanner(QueuePlanner):
    """A planner behind an OpenAI-compatible endpoint (only its address matters here)."""

    base_url: str = "http://127.0.0.1:9/v1"
    model_name: str = "llava-served"


class APIConnectionError(Exception):
    """Named like openai's: recognised by its name, without importing openai."""


class Session:
    """One session's graph on the real tiny tools, with fixed detections and the given planner."""

    def __init__(self, root: Path, image, profile, planner, detections=None) -> None:
        self.store = SessionStore.create(root, image)
        self.tools = FixedDetections(profile, detections if detections is not None else {"cup": [det(LEFT_CUP)]})
        self.planner = planner
        self.graph = compile_graph(InMemorySaver())
        self.config = {"configurable": {"thread_id": "t"}}
        self.turn = 0

    def send(self, text: str) -> dict:
        self.turn += 1
        context = Context(store=self.store, tools=self.tools, planner=self.planner)
        return self.graph.invoke({"text": text, "turn": self.turn}, self.config, context=context)


@pytest.fixture
def small(coffee):
    return coffee.resize(SIZE)


def test_a_random_planner_is_never_asked_the_grammar_plans_and_the_reply_says_so(tmp_path, small, tiny_profile):
    s = Session(tmp_path / "s", small, tiny_profile, RandomPlanner())
    out = s.send("make the cup red")
    assert out["reply"]["version"] == 1 and out["reply"]["error"] is None
    assert [st.action for st in out["plan"].steps] == ["recolor"] and out["plan"].steps[0].content == "red"
    assert "offline grammar" in out["reply"]["text"] and "random weights" in out["reply"]["text"]
    assert "Made the cup red" in out["reply"]["text"] and "redo" not in out["reply"]["text"]
    assert out["planned_by"] == {"kind": "grammar"}
    assert s.planner.calls == 0
    assert s.store.history.head == 1 and s.store.history[1].steps[0].action == "recolor"


def test_what_the_grammar_cannot_read_changes_nothing_and_lists_what_it_can(tmp_path, small, tiny_profile):
    s = Session(tmp_path / "s", small, tiny_profile, RandomPlanner())
    out = s.send("make it better somehow")
    assert out["reply"]["version"] is None and s.store.history.head == 0
    text = out["reply"]["text"]
    assert "Nothing changed" in text and "could not read" in text and "remove the cup" in text
    assert out["reply"]["error"] and s.planner.calls == 0 and out["plan"] is None


def test_a_compound_and_a_set_through_the_grammar(tmp_path, small, tiny_profile):
    s = Session(tmp_path / "s", small, tiny_profile, RandomPlanner(),
                {"cup": [det(LEFT_CUP), det(RIGHT_CUP, 0.7)], "table": [det((0, 70, 150, 100))]})
    out = s.send("remove all the cups except the one on the left, then make the table white")
    steps = out["plan"].steps
    assert [st.action for st in steps] == ["remove", "recolor"]
    assert steps[0].referent.selector == "all" and steps[0].referent.exclude[0].selector == "leftmost"
    assert out["reply"]["version"] == 1 and "offline grammar" in out["reply"]["text"]


def test_a_real_planner_plans_and_is_named_in_planned_by(tmp_path, small, tiny_profile):
    planner = ServedPlanner().push(plan({"action": "remove", "referent": {"phrase": "cup"}}))
    s = Session(tmp_path / "s", small, tiny_profile, planner)
    out = s.send("remove the cup")
    assert out["reply"]["version"] == 1 and "grammar" not in out["reply"]["text"]
    assert out["planned_by"] == {"kind": "planner", "class": "ServedPlanner", "model": "llava-served",
                                 "endpoint": "http://127.0.0.1:9/v1"}
    assert planner.calls == 1


@pytest.mark.parametrize("error", [ConnectionError("Connection refused"), TimeoutError("timed out"),
                                   APIConnectionError("Connection error."),
                                   RuntimeError("request failed")])
def test_an_unreachable_planner_is_said_with_what_to_do(tmp_path, small, tiny_profile, error):
    if isinstance(error, RuntimeError):
        error.__cause__ = ConnectionRefusedError(111, "Connection refused")   # wrapped by a client library
    s = Session(tmp_path / "s", small, tiny_profile, ServedPlanner().push(error))
    out = s.send("make it better somehow")
    text = out["reply"]["text"]
    assert out["reply"]["version"] is None and s.store.history.head == 0
    assert text.startswith("The planner at http://127.0.0.1:9/v1 is not reachable (")
    assert "Nothing changed; start it" in text and "--profile" in text and "rephrasing" not in text


def test_an_unreachable_planner_falls_back_to_the_grammar_and_says_both(tmp_path, small, tiny_profile):
    s = Session(tmp_path / "s", small, tiny_profile, ServedPlanner().push(ConnectionError("Connection refused")))
    out = s.send("remove the cup")
    assert out["reply"]["version"] == 1 and out["planned_by"] == {"kind": "grammar"}
    assert "offline grammar" in out["reply"]["text"] and "not reachable" in out["reply"]["text"]


def test_an_invalid_reply_is_still_rephrase_not_unreachable(tmp_path, small, tiny_profile):
    s = Session(tmp_path / "s", small, tiny_profile, QueuePlanner().push("no idea", "still no idea"))
    out = s.send("remove the cup")
    assert "try rephrasing" in out["reply"]["text"] and "reachable" not in out["reply"]["text"]
    assert out["reply"]["version"] is None


def test_unreachable_is_read_from_the_error_and_its_causes():
    wrapped = ValueError("bad")
    wrapped.__context__ = TimeoutError()
    assert is_unreachable(ConnectionRefusedError()) and is_unreachable(wrapped)
    assert is_unreachable(APIConnectionError()) and not is_unreachable(ValueError("no JSON"))


class _Live(QueuePlanner):
    random_weights: bool = True


def test_a_scripted_planner_is_random_only_on_a_turn_without_pins_over_a_random_live_planner():
    live = _Live()
    scripted = ScriptedPlanner(live=lambda: live)
    scripted.pin(['{"reasoning": "r", "steps": [{"action": "undo"}]}'])
    assert scripted.random_weights is False and not scripted.loaded       # a pinned reply is a real planner's
    scripted.pin([])
    assert scripted.random_weights is True
    assert ScriptedPlanner(live=None).random_weights is False
    real = ScriptedPlanner(live=QueuePlanner)
    assert real.random_weights is False


def test_the_editor_on_the_tiny_profile_plans_make_the_cup_red_with_the_grammar(tmp_path, small):
    """The first run as a new user has it: no planner given, the tiny profile's own (random) planner."""
    from agent.editor import Editor

    with Editor.open(small, profile="tiny", session_dir=tmp_path / "s") as editor:
        reply = editor.send("make the cup red")
        if reply.question is not None:            # random detections: the cup is one of several matches
            reply = editor.answer(1)
        assert reply.version == 1 and "nothing to redo" not in reply.text.lower()
        assert "offline grammar" in reply.text
        assert reply.plan is not None and reply.plan.steps[0].action == "recolor"
        assert getattr(editor.planner, "random_weights", None) is True


def test_a_grammar_turn_that_asks_which_one_says_who_planned_it_first(tmp_path, small, tiny_profile):
    s = Session(tmp_path / "s", small, tiny_profile, RandomPlanner(),
                {"cup": [det(LEFT_CUP), det(RIGHT_CUP, 0.7)]})
    from agent.turns import Turns

    turns = Turns(s.store)
    context = Context(store=s.store, tools=s.tools, planner=s.planner)
    reply = turns.say("make the cup red", context)
    assert reply.question is not None
    assert reply.text.startswith("(Planned by the offline grammar") and reply.text.endswith(reply.question.text)
    answered = turns.answer("the left one", context)
    assert answered.version == 1 and "offline grammar" in answered.text


@pytest.mark.parametrize("text", ["help", "?", "what can you do?", "Hi!", "thanks!"])
def test_help_and_hello_on_a_first_run_are_an_answer_not_an_error(tmp_path, small, text):
    """The tiny profile's grammar reads no such words: the reply says what it does read, as a plain answer."""
    from agent.editor import Editor
    from agent.graph.grammar import read_plan
    from agent.helping import EXAMPLES

    with Editor.open(small, profile="tiny", session_dir=tmp_path / "s") as editor:
        reply = editor.send(text)
        assert reply.error is None and reply.version is None and reply.question is None
        assert editor.current_version == 0 and len(editor.history) == 1
        assert "Nothing was changed" in reply.text
        if text == "thanks!":
            assert reply.text.startswith("You're welcome.")
        else:
            assert "remove the cup" in reply.text and "random weights" in reply.text
            assert reply.text.startswith("Hello. ") == (text == "Hi!")
        assert editor.conversation[-2:] == [("user", text), ("assistant", reply.text)]
    assert all(read_plan(example) is not None for example in EXAMPLES)     # every example given is one it reads


def test_help_goes_to_a_real_planner(tmp_path, small):
    from agent.editor import Editor

    planner = QueuePlanner().push(plan({"action": "answer", "content": "I edit photos."}))
    with Editor.open(small, profile="tiny", session_dir=tmp_path / "s", planner=planner) as editor:
        reply = editor.send("what can you do?")
    assert planner.calls == 1 and "I edit photos." in reply.text
