"""chatedit's entry point: the chat TUI (`chatedit [IMAGE]`), `chatedit sessions`, and `chatedit edit`.

The app's UI side; its Editor worker is in `tui_worker`, the slash commands and palette in `tui_commands`,
quitting and the input history in `tui_leaving`, the argument parser in `tui_args`, the widgets in
`tui_widgets`, `tui_image` (with `tui_pointing`) and `tui_clarify`.
Importing this module stays cheap: the agent, torch and the models load only inside the app's worker
thread, and textual-image (which queries the terminal) only when the app starts.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Footer, ListView

from tui_args import build_parser, check_ready, resolve_source, served_planner_from
from tui_commands import IMMEDIATE, ChatEditCommands, SlashCommands
from tui_clarify import ClarifyScreen
from tui_image import ImagePane, Pointed
from tui_leaving import Leaving, read_input_history, write_input_history
from tui_pointing import Pointing
from tui_snapshot import Opened, Progress, Snapshot, TurnDone, models_label, stage_label
from tui_widgets import ChatLog, HistoryList, ProgressStrip, PromptArea, StatusLine, VersionItem, printable
from tui_worker import EditorWorker

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- the app

class ChatEditApp(EditorWorker, SlashCommands, Leaving, App[None]):
    """Chat on the left, the image and its history on the right; the Editor runs on a worker thread.

    Args:
        source: an image path, or a session folder to reopen.
        profile, session_dir, planner, toolkit, seed, engine, quality: passed to ``Editor.open``.
        image_mode: how images are drawn (``auto``: kitty/sixel where the terminal can, else half cells).
    """

    TITLE = "chatedit"
    CSS = """
    #main { height: 1fr; }
    #chat-side { width: 1fr; min-width: 36; }
    #image-side { width: 1fr; border-left: vkey $panel; }
    #prompt { margin: 0 1; border: round $primary 40%; }
    #prompt:focus { border: round $primary; }
    Screen.-narrow #image-side { display: none; }
    Screen.-narrow #chat-side { min-width: 0; }
    Screen.-short #prompt { max-height: 5; }
    """
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (56, "-wide")]
    """Below 56 columns the image side would be a sliver: it is hidden and the chat takes the width."""
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]
    """Below 20 rows a long message in the input leaves the chat a few rows, not none."""
    BINDINGS = [
        Binding("ctrl+z", "undo", "Undo"),
        Binding("ctrl+y", "redo", "Redo"),
        Binding("f2,ctrl+b", "toggle_before", "Before"),
        Binding("f3,ctrl+t", "toggle_mask", "Mask"),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    ESCAPE_TO_MINIMIZE = False
    COMMANDS = App.COMMANDS | {ChatEditCommands}

    busy = reactive(False)

    def __init__(self, source: str | Path, *, profile: str = "auto", session_dir: str | Path | None = None,
                 planner: Any = None, toolkit: Any = None, seed: int = 0, image_mode: str = "auto",
                 read_only: bool = False, verify: bool | None = None, engine: str | None = None,
                 quality: str | None = None) -> None:
        super().__init__()
        self.source, self.image_mode = source, image_mode
        self.open_kwargs = {"profile": profile, "session_dir": session_dir, "planner": planner,
                            "toolkit": toolkit, "seed": seed, "read_only": read_only,
                            "verify": verify, "engine": engine, "quality": quality}
        self.editor: Any = None
        self.snapshot: Snapshot | None = None
        self.loaded: set[str] = set()
        self.cancel_asked = False
        self.close_error: str | None = None
        self.queued: list[tuple[str, Widget]] = []
        """Messages typed while an edit ran (text, their pending line in the chat), sent in order after it."""
        self.reference: Path | None = None
        """The reference image attached with /ref: it goes with the next message, then clears."""
        self.model_total = 0
        self.session_dir: Path | None = None
        self.idle = threading.Event()
        """Set while no turn runs on the worker thread (quitting waits for it)."""
        self.idle.set()
        self.last_turn: tuple[Any, str | None, bool] = (None, None, False)
        """The last editor call's (reply, error, cancelled), set on the worker thread before ``idle``."""
        self.quitting = False
        self.open_failed = ""
        """Why the session did not open ("" while it opens or once it is open): then nothing can be sent."""
        """Set when quitting begins: what the worker still posts is not shown (the screen is going)."""
        self.running: str | None = None
        """The message the running turn is about (None for a move, a save, or when idle)."""
        self.said_narrow = False
        """Whether the terminal was last too narrow for the image (said once, when it becomes so)."""
        self.unsent: list[str] = []
        """Said in the terminal after quitting: what was typed and not sent or not kept, and where it is."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-side"):
                yield ChatLog()
                yield PromptArea(placeholder="Say what to change (F1: help)", id="prompt")
            with Vertical(id="image-side"):
                yield ImagePane(self.image_mode)
                yield HistoryList()
        yield ProgressStrip()
        yield StatusLine()
        yield Footer(compact=True)

    @property
    def chat(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def image_pane(self) -> ImagePane:
        return self.query_one(ImagePane)

    @property
    def prompt(self) -> PromptArea:
        return self.query_one("#prompt", PromptArea)

    def on_mount(self) -> None:
        self.prompt.focus()
        self.chat.say(f"Opening **{Path(self.source).name}**…", "system")
        self.query_one(ProgressStrip).start("opening the session", cancellable=False)
        self.busy = True
        self.open_editor()


    def _start(self, stage: str, call: Callable[[Any], Any]) -> None:
        if self.editor is None:
            self.notify("The session is still opening; one moment.", severity="warning")
        elif self.busy:
            self.notify("An edit is running; Esc cancels it.", severity="warning")
        else:
            self.busy, self.cancel_asked = True, False
            self.idle.clear()
            self.query_one(ProgressStrip).start(stage)
            self.query_one(StatusLine).models = "working"
            self.run_editor(call)

    def watch_busy(self, busy: bool) -> None:
        if self.open_failed:
            return
        self.prompt.placeholder = (
            "opening… (what you type now is sent once the session is open)" if busy and self.editor is None else
            "working… (Esc cancels; what you type now is sent after)" if busy else
            "Answer: a number, or words like 'the left one'" if self.snapshot and self.snapshot.question else
            "Say what to change (F1: help)")

    @on(Opened)
    async def _opened(self, message: Opened) -> None:
        if self.quitting:                   # quit while opening: the editor is still closed on unmount
            self.editor, self.session_dir = message.editor, message.snapshot.session_dir
            return
        self.editor, self.model_total = message.editor, message.models
        self.session_dir = message.snapshot.session_dir
        if message.banner is not None:      # the profile first: on tiny, why pictures are noise and who plans
            self.chat.say(message.banner.text, "system")
            self.query_one(StatusLine).profile_note = message.banner.status
        self.chat.earlier(message.conversation)
        self.prompt.recall[:0] = read_input_history(self.session_dir)
        await self._apply(message.snapshot)
        self._finish(ok=True)
        snap = message.snapshot
        at = f" at v{snap.current} ({len(snap.versions)} versions)" if len(snap.versions) > 1 else ""
        mode = " read-only (changes are refused)" if snap.read_only else ""
        self.chat.say(f"Session **{snap.session_dir.name}** is open{mode}{at}. Say what to change, or `/help`.",
                      "system")
        note = getattr(self.editor, "opening_note", None) or ""
        for _, said in message.conversation[-2:]:   # a recovered reply is in the conversation shown above already
            note = note.replace(said, "").strip()
        if note:
            self.chat.say(note, "system")
        self._forced_mode_notice()
        answering = self.offer_unsent()     # what a run killed before left typed and not sent (tui_leaving)
        if snap.question is not None:       # reopened with it: what was typed while opening may answer it
            self._ask(snap.question, modal=not (self.queued or answering), hold=False)
        self._send_queued(past_question=True)

    @on(Progress)
    def _progressed(self, message: Progress) -> None:
        if self.busy and not self.quitting:
            self.query_one(ProgressStrip).set_progress(message.stage, message.step, message.total)
            if message.stage.startswith("load "):
                self.query_one(StatusLine).models = stage_label(message.stage)
                self.loaded.add(message.stage)

    @on(TurnDone)
    async def _turn_done(self, message: TurnDone) -> None:
        if self.quitting:                   # the screen is going; action_quit says what became of the turn
            return
        self.running = None
        committed = message.reply is not None and message.reply.version is not None
        if message.cancelled or (self.cancel_asked and not committed):
            self.notify("Cancelled; nothing changed.", severity="warning")
        elif self.cancel_asked:
            self.notify("The edit finished before it could be cancelled; ctrl+z undoes it.", severity="warning")
        if message.cancelled:
            self.chat.say("Cancelled; nothing changed.", "system")
        errors = [e for e in (message.error, getattr(message.reply, "error", None)) if e]
        for error in errors:
            self.notify(error, title="That didn't work", severity="error", timeout=8, markup=False)
        reply = message.reply
        if reply is not None and reply.text and reply.question is None:
            self.chat.say(reply.text, "error" if reply.error and reply.version is None else "agent")
        elif reply is not None and reply.question is not None and (lead := reply.text.removesuffix(
                reply.question.text).strip()):                   # what the reply says besides its question
            self.chat.say(lead, "error" if reply.error else "agent")
        elif errors and message.error:
            self.chat.say(message.error, "error")
        if message.note:
            self.chat.say(message.note, "system")
        if message.snapshot is not None:
            await self._apply(message.snapshot)
        self._finish(ok=not errors)
        if reply is not None and reply.question is not None:
            self._ask(reply.question)
        self._send_queued()
        self._preview_pointing()

    def _finish(self, ok: bool) -> None:
        self.busy = False
        self.query_one(ProgressStrip).stop()
        status = self.query_one(StatusLine)
        if self.editor is None:
            status.models = "session failed to open" if not ok else "starting"
            if not ok:
                self._open_failed()
        else:
            status.models = models_label(len(self.loaded), self.model_total)

    def _open_failed(self) -> None:
        """The session did not open: what was queued while it opened is said to be unsent, never left 'queued'."""
        self.open_failed = "the session did not open (see above)"
        self.prompt.placeholder = "The session did not open: nothing can be changed; ctrl+q quits"
        if self.queued:
            texts = [text for text, _ in self.queued]
            for _, line in self.queued:
                line.remove()
            self.queued.clear()
            self.chat.say("Not sent, since the session did not open: " + ", ".join(f"\"{t}\"" for t in texts)
                          + ". Fix what is said above and start chatedit again (Up brings them back until you quit).",
                          "error")
            self.unsent += [f"Not sent (the session did not open): \"{t}\"" for t in texts]

    @on(Pointed)
    def _preview_pointing(self) -> None:
        """Preview what is pointed (SAM from the clicks and box) unless it is shown already or the editor is busy
        (then it follows when the edit ends)."""
        if self.editor is not None and not self.busy and (pointing := self.image_pane.preview_due()):
            self._start("finding what you pointed at", lambda editor: self._pointed_mask(editor, pointing))

    def _send_queued(self, *, past_question: bool = False) -> None:
        """Send queued messages in order while the app is free (the rest follow as each turn ends).

        They wait while a question an edit just asked is open: typed before the question was seen, a
        message is no answer to it, and sent as a new instruction it would drop the question unseen.
        They follow once it is answered or dropped; what is typed meanwhile goes at once (as the answer).
        ``past_question``: the question was there when the session was reopened (``--resume`` shows it
        in the conversation), so a message typed while it opened is the next thing said.
        """
        while self.queued and self.editor is not None and not self.busy \
                and (past_question or not self._question_open()):
            text, line = self.queued.pop(0)
            line.remove()
            self._submit(text)
            past_question = False

    def _question_open(self) -> bool:
        return self.snapshot is not None and self.snapshot.question is not None

    def _queue(self, text: str) -> None:
        self.queued.append((text, self.chat.say(text, "pending")))
        self.keep_typed()                   # on disk at once: a killed app loses no queued message

    async def _apply(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.image_pane.show(snap)
        await self.query_one(HistoryList).set_rows(snap.versions, snap.current)
        self.query_one(StatusLine).show(snap)
        self.query_one(StatusLine).planner = str(getattr(self.open_kwargs["planner"], "label", "") or "")
        self.watch_busy(self.busy)

    def _ask(self, question: Any, modal: bool = True, *, hold: bool = True) -> None:
        labels = {c.label for c in question.candidates}
        lines = (f"{len(question.candidates)} candidates, numbered on the image." if len(labels) == 1 else
                 " · ".join(f"**{c.number}** {c.label}" for c in question.candidates))
        self.chat.say(f"{question.text}\n\n{lines}", "agent")
        if self.queued and hold:
            waiting = ", ".join(f"\"{text}\"" for text, _ in self.queued)
            self.chat.say(f"What you typed during the edit waits until this is answered ({waiting}); answer it, "
                          "or say \"cancel\" to drop the question, and it follows.", "system")
        if modal:
            screen = ClarifyScreen(question, self.image_mode)
            self.push_screen(screen, callback=lambda answer: self._answered(answer, screen.draft))

    def _answered(self, answer: object, draft: str = "") -> None:
        if answer is None:
            self.chat.say("Answer when you like: type a number or describe it (`/question` shows it again)."
                          + (" What you typed in the question is in the input." if draft else ""), "system")
            if draft:                       # put off with an answer half typed: it is not lost
                self.action_prefill(" ".join(filter(None, (self.prompt.text.strip(), draft))))
            return
        if isinstance(answer, Pointing):                  # a click on the question's picture, outside every box
            self.chat.say(f"this one ({answer.describe()})", "user")
            self._start("resolving your answer", lambda editor: editor.answer("this one", **answer.kwargs()))
            return
        self.chat.say(str(answer), "user")
        self.keep_typed(sending=str(answer))
        self._start("resolving your answer", lambda editor: editor.answer(answer))

    @on(PromptArea.Submitted, "#prompt")
    def _submitted(self, event: PromptArea.Submitted) -> None:
        text = printable(event.text).strip()
        if not text:
            return
        event.area.remember(text)
        if self.session_dir is not None and not (self.snapshot and self.snapshot.read_only):
            try:
                write_input_history(self.session_dir, event.area.recall)
            except OSError as exc:
                logger.warning("could not keep the input history: %s", exc)
        if text.startswith("/") and text[1:].split(" ")[0].lower() in IMMEDIATE:
            self.run_command(text)
        elif self.open_failed:
            self.chat.say(text, "user")
            self.chat.say(f"Not sent: {self.open_failed}. Fix that and start chatedit again; ctrl+q quits.", "error")
            self.unsent.append(f"Not sent (the session did not open): \"{text}\"")
        elif self.editor is None or self.busy or (self.queued and not self._question_open()):
            self._queue(text)
        else:
            self._submit(text)

    def _submit(self, text: str) -> None:
        """Send what was typed: a slash command, an answer to the pending question, or an instruction."""
        self.keep_typed(sending=text)       # kept in unsent.json until its turn ends (then the log holds it)
        if text.startswith("/"):
            self.run_command(text)
            return
        pointing = self.image_pane.take_pointing()       # what is pointed goes with this message, then clears
        pointed = pointing.kwargs()
        self.chat.say(text, "user")
        if pointing:
            self.chat.say(f"(pointing at {pointing.describe()})", "system")
        if self.reference is not None:                    # so does the reference image
            pointed["reference"] = self.reference
            self.chat.say(f"(with the reference image {self.reference.name})", "system")
            self.action_reference("")
        self.running = text
        if self.snapshot is not None and self.snapshot.question is not None:
            answer: str | int = int(text) if text.isdigit() else text
            self._start("resolving your answer", lambda editor: editor.answer(answer, **pointed))
        else:
            self._start("planning", lambda editor: editor.send(text, **pointed))

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Save an SVG screenshot into the session folder's ``screenshots`` (the current folder before it opens)."""
        folder = Path(path) if path else (self.session_dir / "screenshots" if self.session_dir else Path.cwd())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(f"The screenshot could not be saved: {exc}", severity="error", markup=False)
            return None
        self.notify(f"Screenshot saved to {written}", markup=False)
        return written

    def _forced_mode_notice(self) -> None:
        """Say when ``--image-mode sixel``/``tgp`` was forced where the terminal did not say it can draw it
        (tmux, say): then the image pane may stay blank."""
        if self.image_mode not in ("sixel", "tgp"):
            return
        import os

        import textual_image.renderable as tir

        forced = tir.SixelImage if self.image_mode == "sixel" else tir.TGPImage
        if tir.Image is not forced or os.environ.get("TMUX"):
            where = "tmux" if os.environ.get("TMUX") else "This terminal"
            self.chat.say(f"{where} did not say it can draw `--image-mode {self.image_mode}` images, so the image "
                          "pane may stay blank: restart with `--image-mode halfcell` (or `auto`).", "error")

    def on_resize(self, event: Resize) -> None:
        """Say once when the terminal becomes too narrow for the image (the chat takes the whole width)."""
        narrow = event.size.width < self.HORIZONTAL_BREAKPOINTS[1][0]
        if narrow and not self.said_narrow:
            self.notify(f"Image hidden: {event.size.width} columns is too narrow (it shows from "
                        f"{self.HORIZONTAL_BREAKPOINTS[1][0]}; /history lists the versions).", timeout=6, markup=False)
        self.said_narrow = narrow

    def action_cancel(self) -> None:
        """Esc: cancel the running edit; else back to the input from the history or the chat (ending a
        preview); else clear what is pointed, then the reference image."""
        if self.busy and self.editor is not None:
            self.editor.cancel()
            self.cancel_asked = True
            self.query_one(ProgressStrip).set_progress("cancelling", 0, 0)
        elif self.focused is not self.prompt and self.focused is not None:
            self.prompt.focus()
        elif not self.image_pane.clear_pointing():
            self.action_reference("")

    @on(ListView.Highlighted, "HistoryList")
    def _highlighted(self, event: ListView.Highlighted) -> None:
        item, snap = event.item, self.snapshot
        if not isinstance(item, VersionItem) or snap is None:
            return
        if item.row.number == snap.current:
            self.image_pane.show(snap)
        else:
            self.load_preview(item.row)

    def _show_preview(self, number: int, image: PILImage) -> None:
        item = self.query_one(HistoryList).highlighted_child
        if isinstance(item, VersionItem) and item.row.number == number and self.snapshot is not None \
                and number != self.snapshot.current:
            self.image_pane.show_preview(number, image)

    @on(ListView.Selected, "HistoryList")
    def _selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, VersionItem) and self.snapshot is not None \
                and event.item.row.number != self.snapshot.current:
            self.action_revert(event.item.row.number)

    def on_descendant_blur(self, event: Any) -> None:
        if isinstance(event.widget, HistoryList) and self.snapshot is not None and self.image_pane.preview:
            self.image_pane.show(self.snapshot)


def main(argv: list[str] | None = None) -> int:
    """``chatedit [IMAGE] [OPTIONS]`` (the TUI), ``chatedit sessions``, ``chatedit edit ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "edit":
        from tools.cli import main as edit_main

        return edit_main(argv[1:])
    if argv and argv[0] == "sessions":
        from agent.housekeeping import sessions_main

        return sessions_main(argv[1:])
    if argv and argv[0] == "run":
        from agent.scripted.runner import run_main

        return run_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    source = resolve_source(args, parser)
    planner = served_planner_from(args, parser)
    check_ready(args, parser, served=planner is not None)
    from textual.logging import TextualHandler

    logging.basicConfig(level=logging.INFO, handlers=[TextualHandler()])
    logging.getLogger("textual_image").setLevel(logging.ERROR)  # a terminal that doesn't answer is not news
    import textual_image.widget  # noqa: F401 - asks the terminal what it can draw, before Textual takes it over

    if args.read_only and args.resume is None:
        parser.error("--read-only opens a saved session: use it with --resume [DIR]")
    app = ChatEditApp(source, profile=args.profile, session_dir=args.session, seed=args.seed,
                      image_mode=args.image_mode, read_only=args.read_only, verify=args.verify, planner=planner,
                      engine=args.engine, quality=args.quality)
    app.run()
    for line in app.unsent:
        print(line)
    if app.close_error:
        print(f"chatedit: the session could not be saved on quitting: {app.close_error}", file=sys.stderr)
    elif app.session_dir is not None:
        print(f"Session saved in {app.session_dir}\nResume it: chatedit --resume {shlex.quote(str(app.session_dir))}")
    # Everything is on disk (the session is closed): skip the interpreter's seconds-long teardown of the models.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(1 if app.close_error else 0)


if __name__ == "__main__":
    sys.exit(main())
