"""The chat TUI's turns, driven by Textual's pilot over the real Editor (tiny models, a scripted fake planner):
instructions, undo/redo/revert, questions, failed and cancelled edits, branches, the queue, verification."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import ImageChops

import tui
import tui_leaving
from tui_pilot import (CUP_BOX, chat_texts, drive, errors, held_planner, history_rows, palette, pending, plan, planner,
                       recolor_box, settle, type_line)

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")


def test_an_instruction_makes_a_version_and_undo_redo_move_back_and_forth(tmp_path):
    async def script(app, pilot):
        assert history_rows(app) == ["● v0  original"]
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and not errors(app)
        assert history_rows(app) == ["│ v0  original", "● v1  make the cup red"]
        assert app.snapshot.before is not None and app.snapshot.overlay is not None
        assert ImageChops.difference(app.editor.current_image, app.snapshot.before).getbbox() is not None

        await type_line(pilot, "/undo")
        await settle(app, pilot)
        assert app.snapshot.current == 0
        assert history_rows(app) == ["● v0  original", "↷ v1  make the cup red"]

        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert app.snapshot.current == 1
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert app.snapshot.current == 0 and app.editor.current_version == 0

        out = tmp_path / "saved.png"
        await type_line(pilot, f"/save {out}")
        await settle(app, pilot)
        assert out.is_file() and any("Saved v0" in t for t in chat_texts(app, "system"))

        app.query_one(tui.HistoryList).focus()
        await pilot.press("down")
        await settle(app, pilot)
        assert app.image_pane.preview is not None and app.image_pane.preview[0] == 1
        assert app.snapshot.current == 0, "highlighting a version only previews it"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and app.image_pane.preview is None

    drive(script, tmp_path / "s", fake=planner(recolor_box()))


def test_a_clarification_shows_candidates_and_a_number_key_answers_it(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "make the cup blue")
        await settle(app, pilot)
        assert isinstance(app.screen, tui.ClarifyScreen)
        question = app.screen.question
        assert len(question.candidates) >= 2 and Path(question.image_path).is_file()
        assert app.snapshot.question is not None and app.snapshot.current == 0
        app.save_screenshot("clarify.svg", str(tmp_path))
        assert "Which" in (tmp_path / "clarify.svg").read_text() or question.text

        await pilot.press("2")
        await settle(app, pilot)
        assert not isinstance(app.screen, tui.ClarifyScreen)
        assert app.snapshot.question is None and app.snapshot.current == 1, chat_texts(app)
        assert chat_texts(app, "user")[-1] == "2"

    fake = planner(plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"}))
    drive(script, tmp_path / "s", fake=fake)


def test_a_failed_edit_is_a_notification_and_the_app_goes_on(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "paint the left edge green")
        await settle(app, pilot)
        assert errors(app), "a failed edit must be shown as an error notification"
        assert app.is_running and app.snapshot.current == 0 and not app.busy

        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1

    outside = plan({"action": "recolor", "referent": {"box": [5000.0, 5000.0, 6000.0, 6000.0]}, "content": "green"})
    drive(script, tmp_path / "s", fake=planner(outside, recolor_box()))


def test_esc_cancels_a_running_edit_and_nothing_is_half_applied(tmp_path):
    gate, fake = held_planner(plan({"action": "remove", "referent": {"box": CUP_BOX}}), recolor_box())

    async def script(app, pilot):
        await type_line(pilot, "remove the cup")
        await pilot.pause(0.2)
        assert app.busy and app.query_one(tui.ProgressStrip).display
        await pilot.press("escape")
        gate.set()
        await settle(app, pilot)
        assert any("Cancelled" in n.message for n in app._notifications) and not errors(app)
        assert "Cancelled" in chat_texts(app, "agent")[-1]
        assert app.snapshot.current == 0 and len(app.editor.history) == 1
        assert not list((app.editor.session_dir / "drafts").iterdir())

        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1

    drive(script, tmp_path / "s", fake=fake)


def test_a_compound_instruction_is_two_steps_and_one_version(tmp_path):
    both = plan({"action": "recolor", "referent": {"box": CUP_BOX}, "content": "red"},
                {"action": "recolor", "referent": {"box": [20.0, 250.0, 200.0, 390.0]}, "content": "green"})

    async def script(app, pilot):
        await type_line(pilot, "make the cup red and the table corner green")
        await settle(app, pilot)
        assert not errors(app)
        assert history_rows(app) == ["│ v0  original", "● v1  make the cup red and the table corner green"]
        steps = app.editor.history[1].steps
        assert [s["step"]["content"] for s in steps] == ["red", "green"]
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert app.snapshot.current == 0, "one undo takes the whole turn back"

    drive(script, tmp_path / "s", fake=planner(both))


def test_an_edit_that_cannot_be_saved_is_said_in_the_chat_and_nothing_changes(tmp_path, monkeypatch):
    import agent.session.store

    write = agent.session.store.atomic_write

    def full(path, data, **kwargs):
        if path.parent.name == "versions":
            raise OSError(28, "No space left on device")
        write(path, data, **kwargs)

    async def script(app, pilot):
        monkeypatch.setattr(agent.session.store, "atomic_write", full)
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 0 and app.editor.current_version == 0     # no version the reply didn't name
        assert any("No space left on device" in t and "Nothing changed" in t for t in chat_texts(app))
        monkeypatch.undo()
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1

    app = drive(script, tmp_path / "s", fake=planner(recolor_box(), recolor_box()))
    assert app.close_error is None


def test_an_edit_after_undo_starts_a_branch_shown_in_the_history_and_by_slash_history(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        await type_line(pilot, "/undo")
        await settle(app, pilot)
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 2 and not errors(app)
        assert any("Started a new branch from v0; v1 is kept" in t for t in chat_texts(app, "agent"))
        assert history_rows(app) == ["│ v0  original", "· v1  make the cup red",
                                     "  ● v2  └ from v0: make the cup red"]
        await type_line(pilot, "/history")
        await settle(app, pilot)
        assert "· v1  make the cup red" in chat_texts(app, "system")[-1]
        app.query_one(tui.HistoryList).index = 1                                 # Enter on v1: back on that branch
        app.query_one(tui.HistoryList).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and len(app.snapshot.versions) == 3     # nothing dropped

    drive(script, tmp_path / "s", fake=planner(recolor_box(), recolor_box()))


def test_input_typed_during_an_edit_is_queued_shown_droppable_and_sent_after_in_order(tmp_path):
    gate, fake = held_planner(plan({"action": "remove", "referent": {"box": CUP_BOX}}), recolor_box())

    async def script(app, pilot):
        await type_line(pilot, "remove the cup")
        await pilot.pause(0.2)
        assert app.busy
        await type_line(pilot, "make the cup red")
        await type_line(pilot, "make the cup green")
        await pilot.pause()
        assert pending(app) == ["make the cup red", "make the cup green"]
        await type_line(pilot, "/drop")                          # takes back the last one, even while busy
        await pilot.pause()
        assert pending(app) == ["make the cup red"] and app.prompt.text == ""
        gate.set()
        await settle(app, pilot)
        assert not errors(app) and pending(app) == []
        assert chat_texts(app, "user") == ["remove the cup", "/drop", "make the cup red"]      # as each was said
        assert app.snapshot.current == 2
        assert [v.instruction for v in app.editor.history[1:]] == ["remove the cup", "make the cup red"]

    drive(script, tmp_path / "s", fake=fake)


def test_input_typed_during_an_edit_that_ends_with_a_question_waits_for_the_answer(tmp_path):
    """Neither is lost: the question is shown (not dropped unseen by the queued message), the message waits,
    and runs once the question is answered."""
    blue = plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"})
    gate, fake = held_planner(recolor_box(), blue, recolor_box(), after=1)

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        await type_line(pilot, "make the cup blue")
        await pilot.pause(0.2)
        assert app.busy
        await type_line(pilot, "make the cup green")
        gate.set()
        await settle(app, pilot)
        assert isinstance(app.screen, tui.ClarifyScreen), "the question is shown, not dropped unseen"
        assert app.snapshot.question is not None and pending(app) == ["make the cup green"]
        assert any("waits until this is answered" in t and "make the cup green" in t for t in chat_texts(app))
        await pilot.press("1")
        await settle(app, pilot)
        assert pending(app) == [] and app.snapshot.question is None and not errors(app)
        assert [v.instruction for v in app.editor.history[1:]] == ["make the cup red", "make the cup blue",
                                                                  "make the cup green"]
        assert not any("Dropped the question" in t for t in chat_texts(app))

    drive(script, tmp_path / "s", fake=fake)


def test_one_click_on_a_version_previews_it_and_a_double_click_reverts(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert app.snapshot.current == 0
        item = list(app.query(tui.VersionItem))[1]
        await pilot.click(item)
        await settle(app, pilot)
        assert app.image_pane.preview is not None and app.image_pane.preview[0] == 1
        assert app.snapshot.current == 0 and app.editor.current_version == 0, "one click only previews"
        await pilot.double_click(item)
        await settle(app, pilot)
        assert app.snapshot.current == 1 and app.image_pane.preview is None

    drive(script, tmp_path / "s", fake=planner(recolor_box()))


def test_ctrl_z_with_a_question_pending_says_the_question_is_dropped_then_undoes(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        await type_line(pilot, "make the cup blue")
        await settle(app, pilot)
        assert isinstance(app.screen, tui.ClarifyScreen)
        await pilot.press("escape")
        await pilot.pause()
        question = app.snapshot.question.text
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        said = chat_texts(app)
        assert any(question in t for t in said) and said[-1].startswith("(Dropped the question about the cup.) ")
        assert sum("ropped the question" in t or "is dropped" in t for t in said) == 1, "said once"
        assert app.snapshot.current == 0 and app.snapshot.question is None

    fake = planner(recolor_box(), plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"}))
    drive(script, tmp_path / "s", fake=fake)


def test_verify_on_and_off_changes_the_next_turns_and_the_status_line_names_the_placement(tmp_path):
    async def script(app, pilot):
        status = str(app.query_one(tui.StatusLine).render())
        assert f"· {app.editor.toolkit.placement.label} ·" in status and "CPU fp32 (profile)" in status, status
        await type_line(pilot, "/verify")
        await settle(app, pilot)
        assert chat_texts(app, "system")[-1].startswith("Verification is **off**:")   # tiny's default
        await palette(pilot, "verify on")
        await settle(app, pilot)
        assert app.editor.verify and "**on** from now on" in chat_texts(app, "system")[-1]
        await type_line(pilot, "make the cup red")                 # the planner is asked to judge it: "Yes."
        await settle(app, pilot)
        assert app.editor.history[1].steps[0]["verified"] is True
        await type_line(pilot, "/verify off")
        await settle(app, pilot)
        assert not app.editor.verify and "**off** from now on" in chat_texts(app, "system")[-1]
        await type_line(pilot, "make the cup blue")                # not judged: the next reply is a plan
        await settle(app, pilot)
        assert app.snapshot.current == 2 and app.editor.history[2].steps[0]["verified"] is None
        await type_line(pilot, "/verify maybe")
        await settle(app, pilot)
        assert any("/verify takes on or off" in n.message for n in app._notifications)
        assert not app.editor.verify

    fake = planner(recolor_box(), "Yes.", recolor_box("blue"))
    drive(script, tmp_path / "s", fake=fake)


def test_quitting_during_an_edit_keeps_what_was_typed_and_says_what_became_of_it(tmp_path):
    """ctrl+q while an edit runs, with messages queued and a draft in the input: nothing typed is lost unsaid
    (each is in the input history for --resume, and `unsent` is printed after the screen is restored), and the
    edit's late reply does not reach a screen that is going (it was a MountError traceback)."""
    gate, fake = held_planner(recolor_box())

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await pilot.pause(0.2)
        assert app.busy
        await type_line(pilot, "make the cup green")
        await pilot.press(*"half typed")
        await pilot.pause()
        gate.set()
        await pilot.press("ctrl+q")
        await pilot.pause(0.5)

    app = drive(script, tmp_path / "s", fake=fake)
    assert app.return_code == 0 and app.close_error is None
    kept = len(app.editor.history) > 1
    assert any(("finished before quitting" if kept else "stopped by quitting") in u and "make the cup red" in u
               for u in app.unsent), app.unsent
    assert any("queued" in u and "make the cup green" in u for u in app.unsent)
    assert any("left in the input" in u and "half typed" in u for u in app.unsent)
    kept_inputs = tui_leaving.read_input_history(tmp_path / "s")
    assert kept_inputs[-3:] == ["make the cup red", "make the cup green", "half typed"]


def test_ctrl_z_during_an_edit_is_queued_like_a_typed_undo_and_runs_after_it(tmp_path):
    """It was refused with a passing toast: the undo was asked for and silently never done."""
    gate, fake = held_planner(recolor_box())

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await pilot.pause(0.2)
        assert app.busy
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert pending(app) == ["/undo"]
        gate.set()
        await settle(app, pilot)
        assert pending(app) == [] and not errors(app)
        assert app.editor.current_version == 0 and len(app.editor.history) == 2, chat_texts(app)
        assert chat_texts(app, "user") == ["make the cup red", "/undo"]

    drive(script, tmp_path / "s", fake=fake)


def test_an_answer_half_typed_in_the_question_is_kept_when_it_is_put_off_or_the_app_quits(tmp_path):
    """Esc put the question off and dropped what was typed in its answer box; quitting dropped it too."""
    fake = planner(plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"}))

    async def script(app, pilot):
        await type_line(pilot, "make the cup blue")
        await settle(app, pilot)
        assert isinstance(app.screen, tui.ClarifyScreen)
        await pilot.press(*"the left")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, tui.ClarifyScreen)
        assert app.prompt.text == "the left" and "in the input" in chat_texts(app, "system")[-1]
        app.prompt.clear()
        await type_line(pilot, "/question")
        await pilot.pause()
        await pilot.press(*"the right one")
        await pilot.press("ctrl+q")
        await pilot.pause(0.5)

    app = drive(script, tmp_path / "s", fake=fake)
    assert any("the right one" in u for u in app.unsent), app.unsent
    assert tui_leaving.read_input_history(tmp_path / "s")[-1] == "the right one"
