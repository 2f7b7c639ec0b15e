"""Nothing typed in the chat TUI is lost to a killed app: queued messages, a draft and a half-typed answer are kept
in the session's unsent.json as they change, and offered back (never sent) when the session is opened again.
Driven by Textual's pilot, and by a real kill -9 of a TUI running in a pseudo-terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tui
from agent.session.unsent import UNSENT, Unsent, left_unsent, read_unsent, write_unsent
from terminal import Terminal, wait_for
from tui_pilot import chat_texts, drive, held_planner, pending, planner, recolor_box, settle, type_line

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")


def _kinds(root: Path) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in read_unsent(root)]


def test_a_queued_message_is_on_disk_the_moment_it_is_queued_and_gone_once_sent(tmp_path):
    gate, fake = held_planner(recolor_box(), recolor_box("green"))
    root = tmp_path / "s"

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await pilot.pause(0.2)
        assert app.busy and _kinds(root) == [("sending", "make the cup red")]
        await type_line(pilot, "make the cup green")
        assert _kinds(root) == [("sending", "make the cup red"), ("queued", "make the cup green")]  # no pause
        await pilot.press(*"half")
        await pilot.pause(0.6)
        assert _kinds(root)[-1] == ("draft", "half")
        gate.set()
        await settle(app, pilot)
        await settle(app, pilot)
        assert app.editor.current_version == 2 and pending(app) == []
        app.prompt.clear()
        await pilot.pause(0.6)
        assert not (root / UNSENT).exists()               # all taken: the file goes

    drive(script, root, fake=fake)


def test_reopening_offers_what_was_not_sent_and_sends_nothing_by_itself(tmp_path, coffee):
    """A session whose unsent.json (as a killed app left it) holds a message the log took and two it did not."""
    root = tmp_path / "s"

    async def first(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)

    drive(first, root, fake=planner(recolor_box()))
    said = next(m for m in _messages(root) if m.role == "user")
    write_unsent(root, [Unsent("make the cup red", "sending", said.time), Unsent("make it blue", "queued",
                                                                                said.time),
                        Unsent("make the table white", "queued", said.time), Unsent("half typ", "draft", said.time)])
    fake = planner()                                       # it must not be asked anything

    async def again(app, pilot):
        await pilot.pause(0.3)
        note = next(t for t in chat_texts(app, "system") if t.startswith("Not sent yet"))
        assert '"make it blue", "make the table white", "half typ"' in note and "make the cup red\"" not in note
        assert "nothing is sent until you press Enter" in note
        assert app.prompt.text == "make it blue" and app.editor.current_version == 1 and not app.busy
        assert app.prompt.recall[-2:] == ["half typ", "make the table white"]      # Up: the next one first
        assert chat_texts(app, "user") == ["make the cup red"]
        assert _kinds(root) == [("draft", "make it blue"), ("offered", "make the table white"),
                                ("offered", "half typ")]
        await pilot.press("ctrl+q")
        await pilot.pause(0.3)

    app = drive(again, None, source=root, fake=fake)
    assert any("given back" in u and "make the table white" in u for u in app.unsent), app.unsent
    assert [e.text for e in read_unsent(root)] == ["make it blue", "make the table white", "half typ"]


def _messages(root: Path):
    from agent.session.conversation import CONVERSATION, Conversation

    return Conversation(root / CONVERSATION, writable=False).messages


def test_what_the_log_took_after_it_was_typed_is_not_offered(tmp_path):
    from agent.session.conversation import Message

    write_unsent(tmp_path, [Unsent("/undo", "sending", "2026-01-01T10:00:00+00:00"),
                            Unsent("red cup", "queued", "2026-01-01T10:00:00+00:00"),
                            Unsent("blue cup", "queued", "2026-01-01T10:00:05+00:00"),
                            Unsent("red cup", "draft", "2026-01-01T10:00:06+00:00")])
    log = [Message("user", "/undo 1", 3, "move", time="2026-01-01T10:00:01+00:00"),
           Message("user", "blue cup", 2, "say", time="2026-01-01T09:00:00+00:00")]    # said earlier, not since
    assert [(e.kind, e.text) for e in left_unsent(tmp_path, log)] == [("queued", "red cup"), ("queued", "blue cup")]
    (tmp_path / UNSENT).write_text("{not json")
    assert read_unsent(tmp_path) == []
    (tmp_path / UNSENT).write_text(json.dumps([{"text": 3, "kind": "queued"}, {"text": "x", "kind": "nope"},
                                               {"text": "ok", "kind": "draft"}]))
    assert [e.text for e in read_unsent(tmp_path)] == ["ok"]


# -- a real kill -9 of the TUI in a pseudo-terminal ---------------------------------------------------------

def _logged(root: Path, text: str) -> bool:
    return any(m.text == text for m in _messages(root)) if (root / "conversation.jsonl").exists() else False


@pytest.mark.slow
def test_kill_9_of_the_tui_loses_no_queued_message_and_no_draft(tmp_path):
    """The TUI is killed while an edit runs (its planner never answers), with a message queued and one half typed;
    reopened, both are offered back, the stopped turn is said, and nothing is sent by itself."""
    root = tmp_path / "s"
    term = Terminal("coffee", str(root), "hold")
    try:
        term.opened(root)
        term.type("make the cup red\r")
        wait_for(lambda: _logged(root, "make the cup red"), terminal=term)
        term.type("make the cup green\r")
        wait_for(lambda: ("queued", "make the cup green") in _kinds(root), 20, term)
        term.type("and then blu")
        wait_for(lambda: ("draft", "and then blu") in _kinds(root), 20, term)
    finally:
        term.kill()

    async def reopened(app, pilot):
        await pilot.pause(0.3)
        system = chat_texts(app, "system")
        assert any('The session stopped before \\"make the cup red\\" was done' in t or
                   'The session stopped before "make the cup red" was done' in t for t in chat_texts(app)), system
        note = next(t for t in system if t.startswith("Not sent yet"))
        assert '"make the cup green", "and then blu"' in note and '"make the cup red"' not in note, note
        assert app.prompt.text == "make the cup green" and app.prompt.recall[-1] == "and then blu"
        assert app.editor.current_version == 0 and not app.busy and chat_texts(app, "user") == ["make the cup red"]

    drive(reopened, None, source=root, fake=planner())


@pytest.mark.slow
def test_kill_9_with_an_answer_half_typed_keeps_the_question_and_the_answer(tmp_path, coffee):
    root = tmp_path / "s"
    term = Terminal("coffee", str(root), "ask")
    try:
        term.opened(root)
        term.type("make the cup blue\r")
        wait_for(lambda: any(m.kind == "question" for m in _messages(root)) if _logged(root, "make the cup blue")
              else False, terminal=term)
        wait_for(lambda: term.shows("Press a number key"), 60, term)     # the question's box is up
        term.pause(1.5)             # and settled: keys typed the instant it appeared once did not all reach it
        term.type("the left o")
        wait_for(lambda: ("answer", "the left o") in _kinds(root), 20, term)
    finally:
        term.kill()

    async def reopened(app, pilot):
        await pilot.pause(0.3)
        assert app.editor.pending_question is not None and not isinstance(app.screen, tui.ClarifyScreen)
        assert app.prompt.text == "the left o"
        assert any("half-typed answer to the question is in the input" in t for t in chat_texts(app, "system"))
        await pilot.press(*"ne")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.editor.pending_question is None and app.editor.current_version == 1
        assert not (root / UNSENT).exists() or read_unsent(root) == []

    drive(reopened, None, source=root, fake=planner())
