"""The chat TUI driven by Textual's pilot over the real Editor (tiny models, a scripted fake planner)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from PIL import ImageChops
from textual.widgets import Label

import tui
import tui_snapshot
import tui_widgets
from tools.samples import sample_path

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
CUP_BOX = [180.0, 20.0, 450.0, 300.0]
"""Roughly the cup in the coffee photo (600×400)."""


def plan(*steps: dict) -> str:
    return json.dumps({"reasoning": "the user wants this", "steps": list(steps)})


def recolor_box(color: str = "red") -> str:
    return plan({"action": "recolor", "referent": {"box": CUP_BOX}, "content": color})


def planner(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


async def settle(app: tui.ChatEditApp, pilot, timeout: float = 300.0) -> None:
    """Wait until the editor's worker is done and the UI has taken its result."""
    waited = 0.0
    await pilot.pause()
    while app.busy:
        if waited > timeout:
            raise TimeoutError("the editor's worker did not finish")
        await pilot.pause(0.05)
        waited += 0.05
    await app.workers.wait_for_complete()
    await pilot.pause()


async def type_line(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


def drive(source: str | Path, script: Callable[[tui.ChatEditApp, object], Awaitable[None]], *,
          session_dir: Path | None = None, fake=None) -> tui.ChatEditApp:
    """Run the app headless at 120×40 over the real Editor (tiny profile) and play ``script`` on it."""
    async def go() -> tui.ChatEditApp:
        app = tui.ChatEditApp(source, profile="tiny", session_dir=session_dir, planner=fake, image_mode="halfcell")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert app.editor is not None, [n.message for n in app._notifications]
            await script(app, pilot)
        return app

    return asyncio.run(go())


def history_rows(app: tui.ChatEditApp) -> list[str]:
    return [str(item.query_one(Label).content) for item in app.query(tui.VersionItem)]


def chat_texts(app: tui.ChatEditApp, role: str | None = None) -> list[str]:
    """The chat's messages in order (``role``: only those), as they were given to the chat."""
    return [m.source_text for m in app.query(".message") if role is None or m.role == role]


def errors(app: tui.ChatEditApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


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

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box()))


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
    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=fake)


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
    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(outside, recolor_box()))


def test_esc_cancels_a_running_edit_and_nothing_is_half_applied(tmp_path):
    gate = threading.Event()

    def replies():
        gate.wait(timeout=120)  # the planner "thinks" until the test has pressed Esc
        yield AIMessage(content=plan({"action": "remove", "referent": {"box": CUP_BOX}}))
        yield AIMessage(content=recolor_box())

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

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s",
          fake=GenericFakeChatModel(messages=replies()))


def test_the_screen_shows_chat_image_history_and_status(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        await pilot.press("f3")
        await pilot.pause()
        assert app.image_pane.showing_mask
        app.save_screenshot("tui.svg", str(tmp_path))
        svg = (tmp_path / "tui.svg").read_text()
        for text in ("make", "history", "profile", "tiny", "session", "mask", "loaded"):
            assert text in svg, text
        assert "load segmentation" in app.loaded, "model loads reach the status line"
        await pilot.press("f2")
        await pilot.pause()
        assert app.image_pane.showing_before and not app.image_pane.showing_mask

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box()))


def test_resume_reopens_a_session_with_its_pending_question_and_sessions_lists_it(tmp_path):
    root = tmp_path / "sessions"

    async def ask(app, pilot):
        await type_line(pilot, "make the cup blue")
        await settle(app, pilot)
        assert isinstance(app.screen, tui.ClarifyScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.snapshot.question is not None

    fake = planner(plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"}))
    drive(sample_path("coffee"), ask, session_dir=root / "cups", fake=fake)

    async def resumed(app, pilot):
        assert isinstance(app.screen, tui.ClarifyScreen)
        assert app.snapshot.question is not None
        said = chat_texts(app)
        earlier = next(i for i, t in enumerate(said) if t.startswith("Earlier in this session"))
        assert "make the cup blue" in said[earlier:] and chat_texts(app, "user") == ["make the cup blue"]
        assert said[-1].startswith(app.snapshot.question.text), "the pending question is said last"

    drive(root / "cups", resumed, fake=planner())

    out = subprocess.run([sys.executable, "tui.py", "sessions", "--root", str(root)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("cups"))
    assert line.split()[-1] == "yes" and " 1 " in f" {line} "


def test_help_is_instant_and_imports_no_torch():
    code = ("import sys, contextlib, io\nimport tui\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n    tui.main(['--help'])\n"
            "assert 'usage: chatedit' in buf.getvalue(), buf.getvalue()\n"
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'agent.editor') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    help_run = subprocess.run([sys.executable, "tui.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    assert help_run.returncode == 0 and "--resume" in help_run.stdout and "sessions" in help_run.stdout


def test_a_broken_image_is_one_line_before_the_app_starts(tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_text("not a picture")
    code = ("import sys, runpy; sys.argv = ['tui.py', sys.argv[1]]\n"
            "try:\n    runpy.run_path('tui.py', run_name='__main__')\n"
            "finally:\n    print('torch' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(bad)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == "False"                       # failed fast, without loading torch
    assert "holiday.png" in lines[-2] and "error" in lines[-2] and "Traceback" not in out.stderr


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

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(both))


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

    app = drive(sample_path("coffee"), script, session_dir=tmp_path / "s",
                fake=planner(recolor_box(), recolor_box()))
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
        assert history_rows(app) == ["│ v0  original", "· v1  make the cup red", "  ● v2  └ from v0: make the cup red"]
        await type_line(pilot, "/history")
        await settle(app, pilot)
        assert "· v1  make the cup red" in chat_texts(app, "system")[-1]
        app.query_one(tui.HistoryList).index = 1                                 # Enter on v1: back on that branch
        app.query_one(tui.HistoryList).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and len(app.snapshot.versions) == 3     # nothing dropped

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box(), recolor_box()))


def test_a_first_run_on_tiny_shows_the_banner_and_the_grammar_plans(tmp_path):
    """No planner given: the tiny profile's own planner (random weights). The banner is the first message
    after opening and sits in the status line; an instruction is planned by the offline grammar."""
    async def script(app, pilot):
        said = chat_texts(app, "system")
        assert said[0].startswith("Opening")
        banner = said[1]
        assert "profile tiny" in banner and "pictures are noise" in banner and "offline grammar" in banner
        status = str(app.query_one(tui.StatusLine).render())
        assert status.startswith("profile tiny (random weights: pictures are noise, plans by the offline grammar)")
        await type_line(pilot, "make it autumn")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and not errors(app)
        reply = chat_texts(app, "agent")[-1]
        assert "Planned by the offline grammar" in reply and "make it autumn" in reply
        await type_line(pilot, "make it nicer")
        await settle(app, pilot)
        assert app.snapshot.current == 1
        assert "could not read that" in chat_texts(app)[-1] and "redo" not in chat_texts(app)[-1].split(".")[0]

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s")


def test_a_given_planner_on_tiny_is_real_the_banner_says_only_that_pictures_are_noise(tmp_path):
    async def script(app, pilot):
        banner = chat_texts(app, "system")[1]
        assert "pictures are noise" in banner and "grammar" not in banner
        assert "grammar" not in str(app.query_one(tui.StatusLine).render())
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and "grammar" not in chat_texts(app, "agent")[-1]

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box()))


def test_the_banner_names_a_real_profile_and_why():
    from dataclasses import replace

    from tools.profiles import LITE, TINY

    lite = tui_snapshot.profile_banner(replace(LITE, note="profile lite: no CUDA, all models cached"))
    assert lite.text == "profile lite: no CUDA, all models cached." and lite.status == ""
    tiny = tui_snapshot.profile_banner(TINY)
    assert tiny.text.startswith("profile tiny (random weights, pictures are noise).") and "grammar" in tiny.status


def pending(app: tui.ChatEditApp) -> list[str]:
    return [m.source_text for m in app.query(".pending")]


def test_input_typed_during_an_edit_is_queued_shown_droppable_and_sent_after_in_order(tmp_path):
    gate = threading.Event()

    def replies():
        gate.wait(timeout=120)  # the planner "thinks" until the test has queued its messages
        yield AIMessage(content=plan({"action": "remove", "referent": {"box": CUP_BOX}}))
        yield AIMessage(content=recolor_box())

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

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=GenericFakeChatModel(messages=replies()))


def test_user_messages_are_plain_text_and_up_recalls_earlier_inputs_kept_per_session(tmp_path):
    odd = "# make __the__ cup <red> [x](y) [b]bold[/b]"

    async def first(app, pilot):
        await type_line(pilot, odd)
        await settle(app, pilot)
        shown = app.query(".message.user").last()
        assert isinstance(shown, tui_widgets.UserMessage) and str(shown.render()) == odd
        await type_line(pilot, "/history")
        await pilot.pause()
        await pilot.press("up")
        assert app.prompt.text == "/history"
        await pilot.press("up")
        assert app.prompt.text == odd
        await pilot.press("down", "down")
        assert app.prompt.text == ""

    drive(sample_path("coffee"), first, session_dir=tmp_path / "s", fake=planner(recolor_box()))
    assert json.loads((tmp_path / "s" / tui.INPUT_HISTORY).read_text()) == [odd, "/history"]

    async def again(app, pilot):
        await pilot.press("up", "up")
        assert app.prompt.text == odd

    drive(tmp_path / "s", again, fake=planner())


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

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box()))


def test_the_palette_runs_the_apps_commands_and_f1_lists_keys_and_what_you_can_say(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))                 # no ~/Downloads there

    async def palette(pilot, query: str) -> None:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*query)
        await pilot.pause(0.5)
        await pilot.press("enter")

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        await palette(pilot, "undo")
        await settle(app, pilot)
        assert app.snapshot.current == 0
        await palette(pilot, "revert to v1")
        await settle(app, pilot)
        assert app.snapshot.current == 1
        await palette(pilot, "sessions")
        await settle(app, pilot)
        assert "Saved sessions" in chat_texts(app, "system")[-1]

        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, tui_widgets.HelpScreen)
        text = app.screen.text
        for form in ("ctrl+z", "Enter", "undo the last two", "replace|swap|switch", "/drop"):
            assert form in text, form
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, tui_widgets.HelpScreen)

        written = app.deliver_screenshot()
        assert written is not None and Path(written).parent == app.session_dir / "screenshots"
        assert Path(written).read_text().startswith("<svg")

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box()))


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
        dropped = next(i for i, t in enumerate(said) if "is dropped" in t)
        assert question in said[dropped] and dropped < len(said) - 1, said[dropped:]
        assert app.snapshot.current == 0 and app.snapshot.question is None

    fake = planner(recolor_box(), plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"}))
    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=fake)


def test_quitting_prints_the_session_folder_and_the_command_to_resume_it(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import tui, sys\n"
                          "class Quick(tui.ChatEditApp):\n"
                          "    def on_mount(self):\n"
                          "        self.session_dir = __import__('pathlib').Path(sys.argv[1])\n"
                          "        self.exit()\n"
                          "tui.ChatEditApp = Quick\n"
                          "tui.main(['coffee', '--profile', 'tiny'])", str(tmp_path / "my session")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert f"Session saved in {tmp_path / 'my session'}" in out.stdout
    assert f"chatedit --resume '{tmp_path / 'my session'}'" in out.stdout


def test_progress_shows_percent_and_time_left_for_counted_steps_only():
    from textual.app import App

    class Strip(App[None]):
        def compose(self):
            yield tui.ProgressStrip()

    async def go():
        app = Strip()
        async with app.run_test(size=(100, 3)) as pilot:
            strip = app.query_one(tui.ProgressStrip)
            strip.start("load inpainting")
            await pilot.pause()
            assert not app.query_one("#percentage").display and not app.query_one("#eta").display
            for step in range(1, 4):
                strip.set_progress("edit", step, 10)
                await pilot.pause(0.05)
            assert app.query_one("#percentage").display and app.query_one("#eta").display
            assert "30%" in str(app.query_one("#percentage").render())
            assert "step 3 of 10" in str(app.query_one("#stage").render())

    asyncio.run(go())


def test_a_forced_image_mode_the_terminal_did_not_offer_is_said_not_a_blank_pane(monkeypatch):
    monkeypatch.setattr(tui.ChatEditApp, "open_editor", lambda self: None)   # no session: only the notice
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")

    async def go(mode: str) -> list[str]:
        app = tui.ChatEditApp(sample_path("coffee"), image_mode=mode)
        async with app.run_test(size=(100, 30)) as pilot:
            app._forced_mode_notice()
            await pilot.pause()
            return [m.source_text for m in app.query(".message.error")]

    said = asyncio.run(go("sixel"))
    assert len(said) == 1 and "tmux" in said[0] and "--image-mode halfcell" in said[0]
    assert asyncio.run(go("halfcell")) == []


def test_verify_on_and_off_changes_the_next_turns_and_the_status_line_names_the_placement(tmp_path):
    async def palette(pilot, query: str) -> None:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*query)
        await pilot.pause(0.5)
        await pilot.press("enter")

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
    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=fake)


def test_a_model_load_says_bytes_percent_and_time_left():
    assert tui_snapshot.load_text("inpainting", 1_650_000_000, 4_300_000_000, 7.5) == \
        "loading inpainting 1.6 of 4.3 GB · 38% · ETA 12 s"
    assert tui_snapshot.load_text("planner", 10**8, 15 * 10**9, 30) == \
        "loading planner 0.1 of 15.0 GB · 0% · ETA 74 min 30 s"
    assert tui_snapshot.load_text("sam", 0, 494_016, 2) == "loading sam 0.0 of 494.0 kB · 0%"          # no rate yet
    assert tui_snapshot.load_text("sam", 494_015, 494_016, 2).endswith("· 99% · ETA 1 s")
    assert tui_snapshot.load_text("sam", 494_016, 494_016, 2) == "loading sam 494.0 of 494.0 kB · 100%"
    assert tui_snapshot.load_text("x", 5, 900, 3) == "loading x 5 of 900 bytes · 0% · ETA 8 min 57 s"


def test_the_progress_strip_shows_a_load_in_bytes_from_a_real_model_load(tmp_path, monkeypatch):
    shown: list[str] = []
    original = tui.ProgressStrip.set_progress

    def record(strip, stage, step, total):
        original(strip, stage, step, total)
        shown.append(str(strip.query_one("#stage", Label).render()))

    monkeypatch.setattr(tui.ProgressStrip, "set_progress", record)

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")                  # a box: the segmenter loads, then the edit
        await settle(app, pilot)
        loads = [s for s in shown if s.startswith("loading segmentation ")]
        assert loads, shown
        assert all(" of " in s and " kB · " in s and "%" in s for s in loads), loads
        percents = [int(s.split(" · ")[1].split("%")[0]) for s in loads]
        assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents), percents
        assert len(set(percents)) > 2 and any("ETA" in s for s in loads), loads
        assert app.query_one(tui.StatusLine).models == "1 of 5 loaded"

    drive(sample_path("coffee"), script, session_dir=tmp_path / "s", fake=planner(recolor_box()))
