"""The chat TUI on small terminals, by keyboard alone and over long sessions: what hides and what is said when
the terminal is too narrow for the image, the progress and status lines keeping their words, a question that fits
40×12, Esc back to the input, Up in a long instruction, the wording of refusals, and a long session reopened
with its last messages (Textual's pilot over the real Editor on the tiny profile)."""

from __future__ import annotations

import threading

import pytest
from textual.app import App
from textual.widgets import Input, Label, OptionList

import tui
from tools.samples import sample_path
from tui_clarify import ClarifyScreen
from tui_pilot import chat_texts, drive, errors, play, planner, recolor_box, settle, type_line

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")


def messages(app: App) -> list[str]:
    return [n.message for n in app._notifications]


def inside(widget, screen) -> bool:
    """Whether ``widget`` is drawn whole on ``screen`` (not pushed off its bottom or right edge)."""
    region = widget.region
    return region.height > 0 and region.bottom <= screen.region.bottom and region.right <= screen.region.right


@pytest.mark.slow
def test_a_narrow_terminal_hides_the_image_says_so_and_shows_it_again_when_widened(tmp_path, monkeypatch):
    from agent.editor import Editor

    opening, real_open = threading.Event(), Editor.open

    def held_open(*args, **kwargs):                            # the session opens once the script lets it
        opening.wait(30)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Editor, "open", held_open)

    async def script(app, pilot):
        await pilot.pause()
        assert app.editor is None                              # still opening: Esc cancels nothing, so it is not said
        assert "Esc" not in str(app.query_one("#stage", Label).render())
        assert app.prompt.placeholder.startswith("opening…")
        assert any("Image hidden: 40 columns is too narrow" in m for m in messages(app))
        assert not app.query_one("#image-side").display
        assert app.chat.region.width >= 38                     # the chat takes the width the image left
        app.prompt.insert("make the cup red " * 40)            # a long message: the chat keeps rows above it
        await pilot.pause()
        assert app.prompt.region.height <= 5 and app.chat.region.height >= 2
        app.prompt.clear()
        opening.set()
        await settle(app, pilot)
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and not errors(app)
        assert "version 1" in chat_texts(app, "agent")[-1]
        await pilot.press("f2")
        await pilot.pause()
        assert not app.image_pane.showing_before and "The image is hidden" in messages(app)[-1]
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.3)
        assert app.query_one("#image-side").display and app.image_pane.region.width > 30
        assert not any("100 columns" in m for m in messages(app))     # widening says nothing
        await pilot.press("f2")
        await pilot.pause()
        assert app.image_pane.showing_before
        await pilot.resize_terminal(50, 20)
        await pilot.pause(0.3)
        assert not app.query_one("#image-side").display
        assert "50 columns is too narrow" in messages(app)[-1]          # said each time it becomes too narrow
        await app.action_quit()

    play(tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=tmp_path / "s",
                         planner=planner(recolor_box()), image_mode="halfcell"), script, size=(40, 12))


def test_the_progress_strip_keeps_its_words_where_the_bar_does_not_fit():
    class Strip(App[None]):
        def compose(self):
            yield tui.ProgressStrip()

    async def script(app, pilot):
        strip, bar = app.query_one(tui.ProgressStrip), app.query_one("ProgressBar")
        strip.start("load planner")
        strip.set_progress("load planner", 120_000, 941_300)
        await pilot.pause()
        stage = app.query_one("#stage", Label)
        words = str(stage.render())
        assert words.startswith("loading planner 120.0 of 941.3 kB · 12%") and words.endswith("(Esc cancels)"), words
        assert not bar.display and stage.region.width >= len(words)        # no bar, every word shows
        await pilot.resize_terminal(120, 3)
        await pilot.pause()
        assert bar.display                                                 # wide enough for both
        strip.set_progress("cancelling", 0, 0)
        assert str(stage.render()) == "cancelling…"                        # Esc was pressed already
        strip.start("opening the session", cancellable=False)
        assert str(stage.render()) == "opening the session…"

    play(Strip(), script, size=(60, 3))


def test_the_status_line_shows_whole_parts_dropping_the_least_needed_first():
    class Status(App[None]):
        def compose(self):
            yield tui.StatusLine()

    async def script(app, pilot):
        status = app.query_one(tui.StatusLine)
        status.profile, status.device, status.models = "tiny", "CPU fp32 (profile)", "2 of 6 loaded"
        status.profile_note = " (random weights: pictures are noise)"
        status.session = "~/.local/share/chatedit/sessions/coffee-1754"
        shown = {}
        for width in (160, 120, 100, 60, 30, 12):
            await pilot.resize_terminal(width, 1)
            await pilot.pause()
            shown[width] = str(status.render())
        assert shown[160] == ("profile tiny (random weights: pictures are noise) · CPU fp32 (profile) · models: "
                              "2 of 6 loaded · session ~/.local/share/chatedit/sessions/coffee-1754")
        assert shown[120].endswith("models: 2 of 6 loaded · session coffee-1754")     # the folder by its name
        assert shown[100] == "profile tiny (random weights: pictures are noise) · CPU fp32 (profile) · models: " \
                             "2 of 6 loaded"                                          # no "· sess" cut off
        assert shown[60] == "profile tiny · CPU fp32 (profile) · models: 2 of 6 loaded"
        assert shown[30] == "profile tiny"
        assert shown[12] == "profile tiny"                                            # only this is cut
        status.session = ""
        await pilot.resize_terminal(160, 1)
        await pilot.pause()
        assert str(status.render()).endswith("models: 2 of 6 loaded")      # no session yet: no "session" word

    play(Status(), script, size=(160, 1))


@pytest.mark.slow
def test_a_question_on_a_40_by_12_terminal_shows_its_candidates_and_the_answer_box(tmp_path):
    from PIL import Image

    from agent.replies import Candidate, Question
    from tools.masks import annotate

    boxes = [(10 + 60 * i, 20 + 30 * i, 70 + 60 * i, 90 + 30 * i) for i in range(8)]
    path = tmp_path / "question.png"
    annotate(Image.open(sample_path("coffee")).convert("RGB"), boxes, ["cup"] * 8).save(path)
    asked = Question("I found 8 cups. Which one do you mean? Answer with a number (1-8), a position like "
                     "\"the left one\", \"all\", or \"cancel\".",
                     tuple(Candidate(i + 1, tuple(map(float, b)), "cup", 0.9) for i, b in enumerate(boxes)), path)

    class Host(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.answers: list[object] = []

        def on_mount(self) -> None:
            self.push_screen(ClarifyScreen(asked, "halfcell"), callback=self.answers.append)

    async def script(app, pilot):
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("-small") and screen.query_one("#body").has_class("-list-only")
        options, answer = screen.query_one(OptionList), screen.query_one("#answer", Input)
        assert inside(options, screen) and options.region.height >= 2      # candidates show, the rest scroll
        assert inside(answer, screen) and inside(screen.query_one("#question"), screen)
        await pilot.press(*"the left one")
        assert answer.value == "the left one"
        await pilot.press("enter")
        await pilot.pause()

    assert play(Host(), script, size=(40, 12)).answers == ["the left one"]


@pytest.mark.slow
def test_esc_from_the_history_ends_the_preview_and_goes_back_to_the_input(tmp_path):
    async def script(app, pilot):
        await type_line(pilot, "/sessions")
        await settle(app, pilot)
        assert "1 version," in chat_texts(app)[-1]
        await type_line(pilot, "make the cup red")
        await settle(app, pilot)
        while not isinstance(app.focused, tui.HistoryList):       # keyboard only: Tab to the history
            await pilot.press("tab")
        await pilot.press("up")
        await settle(app, pilot)
        caption = app.image_pane.query_one("#caption", Label)
        assert str(caption.render()).startswith("v0 (preview)")
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.prompt and str(caption.render()).startswith("v1 · current")
        for widget in (tui.ChatLog, tui.HistoryList):              # typing there goes to the input
            app.query_one(widget).focus()
            await pilot.press(*"make")
            assert app.focused is app.prompt and app.prompt.text == "make", widget
            app.prompt.clear()
        await type_line(pilot, "/undo x")                          # a refusal reads as two sentences
        await type_line(pilot, "/sessions")
        await settle(app, pilot)
        assert "/undo takes a number of steps (or none), e.g. /undo 2. Nothing changed." in chat_texts(app)
        assert "2 versions," in chat_texts(app)[-1]

    drive(script, tmp_path / "s", fake=planner(recolor_box()))



def test_up_in_a_long_wrapped_draft_moves_up_its_rows_before_it_recalls_an_earlier_input():
    class Prompt(App[None]):
        def compose(self):
            yield tui.PromptArea()

    draft = "make the cup red and the saucer blue and the spoon green and the table white " * 3
    long_one = "remove the cup\n" + "and the saucer " * 20

    async def script(app, pilot):
        area = app.query_one(tui.PromptArea)
        area.recall[:] = ["first", long_one]
        area.focus()
        area.insert(draft)
        await pilot.pause()
        rows = area.wrapped_document.height
        assert rows >= 4 and area.cursor_location[0] == 0       # one line, drawn on several rows
        for _ in range(rows - 1):                                # up its rows, the draft untouched
            await pilot.press("up")
            assert area.text == draft
        await pilot.press("up")
        assert area.text == long_one                             # from the top row: the earlier input
        await pilot.press("up")
        assert area.text == "first"                              # a recalled input is walked past at once
        await pilot.press("down", "down")
        assert area.text == draft                                # and the draft comes back

    play(Prompt(), script, size=(40, 12))


@pytest.mark.slow
def test_a_long_session_reopens_with_its_last_messages_and_says_how_many_more_the_log_holds(tmp_path, monkeypatch):
    async def talk(app, pilot):
        for line in ("/undo", "/redo", "/undo 2", "/redo 2"):             # no model: each says why, and is logged
            await type_line(pilot, line)
            await settle(app, pilot)

    drive(talk, tmp_path / "s", fake=planner())
    monkeypatch.setattr(tui.ChatLog, "EARLIER_SHOWN", 3)                 # thousands in use; 3 here

    async def resumed(app, pilot):
        earlier = [m.source_text for m in app.query(".earlier")]
        assert earlier == ["There is nothing to undo: this is the original.", "/redo 2", "There is nothing to redo."]
        said = [t for t in chat_texts(app, "system") if t.startswith("Earlier in this session")]
        assert said == ["Earlier in this session (8 messages; the last 3 are shown, every one is in the "
                        "session's `conversation.jsonl`):"]

    drive(resumed, None, source=tmp_path / "s", fake=planner())
