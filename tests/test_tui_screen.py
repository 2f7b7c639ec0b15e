"""What the chat TUI shows, how it starts and how it ends, driven by Textual's pilot (tiny models, a scripted
fake planner): the screen, banners, progress, help and the palette, resuming, input history, the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Label

import tui
import tui_leaving
import tui_snapshot
import tui_widgets
from tools.samples import sample_path
from tui_pilot import chat_texts, drive, errors, palette, plan, planner, play, recolor_box, settle, type_line

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent


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

    drive(script, tmp_path / "s", fake=planner(recolor_box()))


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
    drive(ask, root / "cups", fake=fake)

    async def resumed(app, pilot):
        assert isinstance(app.screen, tui.ClarifyScreen)
        assert app.snapshot.question is not None
        said = chat_texts(app)
        earlier = next(i for i, t in enumerate(said) if t.startswith("Earlier in this session"))
        assert "make the cup blue" in said[earlier:] and chat_texts(app, "user") == ["make the cup blue"]
        assert said[-1].startswith(app.snapshot.question.text), "the pending question is said last"

    drive(resumed, None, source=root / "cups", fake=planner())

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

    drive(script, tmp_path / "s")


def test_a_given_planner_on_tiny_is_real_the_banner_says_only_that_pictures_are_noise(tmp_path):
    async def script(app, pilot):
        banner = chat_texts(app, "system")[1]
        assert "pictures are noise" in banner and "grammar" not in banner
        assert "grammar" not in str(app.query_one(tui.StatusLine).render())
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and "grammar" not in chat_texts(app, "agent")[-1]

    drive(script, tmp_path / "s", fake=planner(recolor_box()))


def test_the_banner_names_a_real_profile_and_why():
    from dataclasses import replace

    from tools.profiles import LITE, TINY

    lite = tui_snapshot.profile_banner(replace(LITE, note="profile lite: no CUDA, all models cached"))
    assert lite.text == "profile lite: no CUDA, all models cached." and lite.status == ""
    tiny = tui_snapshot.profile_banner(TINY)
    assert tiny.text.startswith("profile tiny (random weights, pictures are noise).") and "grammar" in tiny.status


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

    drive(first, tmp_path / "s", fake=planner(recolor_box()))
    assert json.loads((tmp_path / "s" / tui_leaving.INPUT_HISTORY).read_text()) == [odd, "/history"]

    async def again(app, pilot):
        await pilot.press("up", "up")
        assert app.prompt.text == odd

    drive(again, None, source=tmp_path / "s", fake=planner())


def test_the_palette_runs_the_apps_commands_and_f1_lists_keys_and_what_you_can_say(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))                 # no ~/Downloads there

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

    drive(script, tmp_path / "s", fake=planner(recolor_box()))


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
    class Strip(App[None]):
        def compose(self):
            yield tui.ProgressStrip()

    async def script(app, pilot):
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

    play(Strip(), script, size=(100, 3))


def test_a_forced_image_mode_the_terminal_did_not_offer_is_said_not_a_blank_pane(monkeypatch):
    monkeypatch.setattr(tui.ChatEditApp, "open_editor", lambda self: None)   # no session: only the notice
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")

    def said(mode: str) -> list[str]:
        found: list[str] = []

        async def script(app, pilot):
            app._forced_mode_notice()
            await pilot.pause()
            found.extend(m.source_text for m in app.query(".message.error"))

        play(tui.ChatEditApp(sample_path("coffee"), image_mode=mode), script, size=(100, 30))
        return found

    sixel = said("sixel")
    assert len(sixel) == 1 and "tmux" in sixel[0] and "--image-mode halfcell" in sixel[0]
    assert said("halfcell") == []


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

    drive(script, tmp_path / "s", fake=planner(recolor_box()))


def test_slash_engine_says_which_engine_paints_and_an_unknown_command_is_said_in_the_chat(tmp_path):
    import tui_args
    from tools.engines import ENGINES

    assert tui_args.ENGINES == ENGINES                  # --engine's choices are the engines there are

    async def script(app, pilot):
        await type_line(pilot, "/engine")
        await pilot.pause()
        said = chat_texts(app, "system")[-1]
        assert "**sd** engine" in said and f"--resume {app.editor.session_dir} --engine ENGINE" in said
        assert "`sdxl` or `flux2-klein`" in said
        await type_line(pilot, "/engnie")
        await pilot.pause()
        assert chat_texts(app, "system")[-1] == "There is no command /engnie; `/help` lists them. Nothing changed."
        assert app.snapshot.current == 0

    drive(script, tmp_path / "s")


def test_a_slash_command_with_a_bad_argument_says_why_in_the_chat_never_a_bare_exception(tmp_path):
    """Each refusal is one line in the chat (a toast alone scrolls away); none reaches the worker as an
    exception's repr (a ~user that does not exist was 'RuntimeError: Could not determine home directory.')."""
    (tmp_path / "notes.png").write_text("not an image")
    cases = {"/revert abc": "/revert takes a version number", "/undo x": "/undo takes a number of steps",
             "/save": "/save needs a path", "/save ~no_such_user_h7/x.png": "names a home folder that does not exist",
             f"/save {tmp_path}/{'a' * 300}.png": "check the path", "/verify maybe": "/verify takes on or off",
             f"/ref {tmp_path / 'notes.png'}": "is not an image file", "/ref /no/such.png": "is not an image file",
             "/engine x": "the engine is chosen when chatedit starts", "/question": "No question is pending",
             "/drop": "Nothing is queued", "/revert 99": "There is no version 99"}

    async def script(app, pilot):
        for command, why in cases.items():
            app.prompt.load_text(command)
            await pilot.press("enter")
            await settle(app, pilot)
            said = chat_texts(app)
            at = len(said) - 1 - said[::-1].index(command)
            assert any(why in t for t in said[at + 1:]), (command, said[at:])
            assert not any("Error:" in t for t in said[at + 1:]), (command, said[at:])
        assert app.reference is None and app.snapshot.current == 0

    drive(script, tmp_path / "s")


def test_pasted_control_characters_never_reach_the_terminal_and_a_long_paste_is_kept_whole(tmp_path):
    """An ESC in a paste would be drawn raw (garbling the terminal); a 20,000-character paste is sent whole."""
    from textual import events

    async def script(app, pilot):
        app.post_message(events.Paste("make\x1b[31m the\x00 cup\x07 red\r\nplease\x7f"))     # as the driver does
        await pilot.pause()
        assert app.prompt.text == "make[31m the cup red\nplease"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "make[31m the cup red\nplease" in chat_texts(app, "user")
        app.chat.say("a reply naming \x1b]0;title\x07 a file", "agent")
        await pilot.pause()
        shown = app.export_screenshot()
        assert not any(c in shown for c in "\x1b\x00\x07\x7f"), "a control character reached the screen"
        big = ("make the cup red " * 1200)[:20000]
        app.post_message(events.Paste(big))
        await pilot.pause()
        assert app.prompt.text == big
        await pilot.press("enter")
        await settle(app, pilot)
        assert big.strip() in chat_texts(app, "user") and app.prompt.text == ""

    drive(script, tmp_path / "s")


def test_a_session_that_does_not_open_says_what_is_typed_is_not_sent_never_queued_for_ever(tmp_path):
    """It was shown as 'queued: sent when the edit ends' and never sent."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone else's")
    app = tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=taken, image_mode="halfcell")

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")              # while it opens, or just after it failed
        await settle(app, pilot)
        await type_line(pilot, "make the cup blue")
        await pilot.pause()
        assert app.editor is None and app.queued == [] and not app.query(".pending")
        said = chat_texts(app)
        assert any("already exists and is not empty" in t for t in said)
        assert [t for t in said if "make the cup blue" in t] == ["make the cup blue"]
        assert said[-1].startswith("Not sent") and "did not open" in app.prompt.placeholder
        await pilot.press("ctrl+q")

    play(app, script)
    assert any("make the cup red" in u for u in app.unsent) and any("make the cup blue" in u for u in app.unsent)


def test_an_unexpected_error_is_one_line_whatever_its_message_holds():
    from tui_worker import error_text

    said = error_text(RuntimeError("boom\nTraceback (most recent call last):\n  File \"x.py\", line 1\nValueError: no"))
    assert "\n" not in said and said.startswith("RuntimeError: boom Traceback")


def test_a_reply_recovered_on_reopening_is_shown_once(tmp_path):
    """A reply whose conversation line was lost (the log's end damaged) is recovered into the conversation on
    reopening; the chat shows it with the earlier messages, not a second time as the opening note."""
    session = tmp_path / "s"

    async def edit(app, pilot):
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1

    drive(edit, session, fake=planner(recolor_box("red")))
    log = session / "conversation.jsonl"
    log.write_bytes(log.read_bytes()[:-30])                   # the reply's line cut short

    async def resumed(app, pilot):
        recovered = [t for t in chat_texts(app) if t.startswith("The session stopped just before this reply")]
        assert len(recovered) == 1 and "(version 1)" in recovered[0]

    drive(resumed, None, source=session, fake=planner())
