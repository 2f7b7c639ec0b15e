"""The chat TUI's widgets: the chat, the prompt, the history list, the progress strip, the status line.

Widgets only show what they are given (a :class:`tui_snapshot.Snapshot`, read from the Editor on the worker
thread) and never call the Editor. Importing this module stays cheap: no torch, no agent,
and textual-image only when an image widget is first built.
"""

from __future__ import annotations

import re
import time
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Label, ListItem, ListView, Markdown, ProgressBar, Static, TextArea

from tui_snapshot import Snapshot, VersionRow, load_text, short_path, stage_label, tree_marks

IMAGE_MODES = ("auto", "halfcell", "unicode", "sixel", "tgp")
"""How images can be drawn (``--image-mode``); see :func:`image_widget_class`."""


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without control characters (an ESC would reach the terminal and garble it); CR ends a line."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def type_into_prompt(widget: Widget, event: Any) -> None:
    """A printable key typed where nothing reads it (the chat, the history) goes to the input, which takes
    the focus: keyboard-only use never loses what is typed after a Tab."""
    if event.is_printable and event.character:
        for prompt in widget.screen.query(PromptArea):
            prompt.focus()
            prompt.insert(event.character)
            event.stop()


# ---------------------------------------------------------------- widgets

class ChatMessage(Markdown):
    """One message of the agent's side: ``agent``, ``system`` or ``error`` (Markdown; links never open)."""

    DEFAULT_CSS = """
    ChatMessage { margin: 0 1 1 1; padding: 0 1; background: $boost; }
    ChatMessage.agent { margin-right: 4; border-left: thick $success; }
    ChatMessage.system { color: $text-muted; background: transparent; }
    ChatMessage.error { border-left: thick $error; color: $text-error; }
    ChatMessage.earlier { color: $text-muted; }
    """

    def __init__(self, text: str, role: str) -> None:
        super().__init__(printable(text), classes=f"message {role}", open_links=False)
        self.role, self.source_text = role, text


class UserMessage(Static):
    """What the person typed, shown as plain text (never read as Markdown or markup).

    ``pending``: typed while an edit ran; it is sent when the edit ends (``/drop`` takes it back).
    """

    DEFAULT_CSS = """
    UserMessage { margin: 0 1 1 8; padding: 0 1; background: $primary 15%; border-left: thick $primary; }
    UserMessage.pending { background: transparent; border-left: dashed $primary; color: $text-muted; }
    UserMessage.earlier { color: $text-muted; }
    """

    def __init__(self, text: str, role: str = "user") -> None:
        shown = f"{text}\n(queued: sent when the edit ends; /drop takes it back)" if role == "pending" else text
        super().__init__(Content(printable(shown)), classes=f"message {role}")
        self.role, self.source_text = role, text

    @property
    def source(self) -> str:
        return self.source_text


class ChatLog(VerticalScroll):
    """The conversation, newest at the bottom; it stays scrolled to the newest message unless scrolled up."""

    DEFAULT_CSS = "ChatLog { height: 1fr; }"

    def on_mount(self) -> None:
        self.anchor()

    def on_key(self, event: Any) -> None:
        type_into_prompt(self, event)

    def say(self, text: str, role: str = "agent") -> Widget:
        """Add a message: ``user``/``pending`` as plain text, ``agent``/``system``/``error`` as Markdown."""
        message: Widget = UserMessage(text, role) if role in ("user", "pending") else ChatMessage(text, role)
        self.mount(message)
        self.call_after_refresh(self.scroll_end, animate=False)
        return message

    EARLIER_SHOWN = 100
    """A resumed session shows at most this many of its earlier messages (thousands would stall the screen)."""

    def earlier(self, conversation: list[tuple[str, str]]) -> None:
        """Show a resumed session's earlier conversation ((role, text) pairs, role "user" or "assistant"): the
        last :attr:`EARLIER_SHOWN` messages, saying how many more the session's log holds."""
        if not conversation:
            return
        shown = conversation[-self.EARLIER_SHOWN:]
        more = len(conversation) - len(shown)
        self.say(f"Earlier in this session ({len(conversation)} messages" + (
            f"; the last {len(shown)} are shown, every one is in the session's `conversation.jsonl`):" if more
            else "):"), "system")
        for role, text in shown:
            self.say(text, "user" if role == "user" else "agent").add_class("earlier")


class VersionItem(ListItem):
    def __init__(self, row: VersionRow, mark: str, indent: int, branch: bool) -> None:
        text = row.instruction or "original"
        start = f"└ from v{row.parent}: " if branch else ""
        super().__init__(Label(printable(f"{'  ' * indent}{mark} v{row.number}  {start}{text}"), markup=False),
                         classes="redo" if mark == "↷" else "other" if mark == "·" else "")
        self.row = row
        self.clicks = 1
        """How many clicks the last click was a run of (2: a double click)."""

    def _on_click(self, event: Any) -> None:
        self.clicks = event.chain
        super()._on_click(event)


class HistoryList(ListView):
    """The version tree: ● current, │ its way back, ↷ redo, · other branches (indented where they start).

    A click or a highlight previews a version; Enter or a double click makes it current (nothing is ever
    dropped).
    """

    DEFAULT_CSS = """
    HistoryList { height: 30%; min-height: 5; max-height: 14; border: round $panel; }
    HistoryList:focus { border: round $primary; }
    HistoryList .redo { color: $text-muted; }
    HistoryList .other { color: $text-disabled; }
    """
    BORDER_TITLE = "history"

    def on_key(self, event: Any) -> None:
        type_into_prompt(self, event)

    async def set_rows(self, rows: tuple[VersionRow, ...], current: int) -> None:
        marks = tree_marks(rows, current)
        await self.clear()
        await self.extend(VersionItem(row, *marks[row.number]) for row in rows)
        self.index = next((i for i, r in enumerate(rows) if r.number == current), None)

    def _on_list_item__child_clicked(self, event: ListItem._ChildClicked) -> None:
        """One click highlights (previews) the version; a double click selects it (reverts)."""
        event.stop()
        event.prevent_default()                 # not ListView's own handler, which selects on every click
        self.focus()
        self.index = self._nodes.index(event.item)
        if getattr(event.item, "clicks", 1) >= 2:
            self.post_message(self.Selected(self, event.item, self.index))


class ProgressStrip(Horizontal):
    """The running stage's name and its progress (percent and time left for counted steps, bytes for a model
    load); hidden while idle."""

    DEFAULT_CSS = """
    ProgressStrip { height: 1; display: none; padding: 0 1; }
    ProgressStrip.-busy { display: block; }
    ProgressStrip #stage { width: 1fr; color: $accent; }
    ProgressStrip ProgressBar { width: auto; }
    """

    BAR_WIDTH = 32
    """The bar's columns (Textual's ``Bar``); a counted stage adds its percentage (5) and time left (9)."""

    def __init__(self) -> None:
        super().__init__()
        self._stage, self._total, self._step, self._since = "", 0, 0, 0.0
        self._text = ""
        self.cancellable = True
        """Whether Esc stops what runs (not while the session opens or the app quits): said only then."""

    def compose(self) -> ComposeResult:
        yield Label("", id="stage", markup=False)
        yield ProgressBar(show_eta=True, show_percentage=True)

    def start(self, stage: str, *, cancellable: bool = True) -> None:
        self.add_class("-busy")
        self.cancellable = cancellable
        self.set_progress(stage, 0, 0)

    def set_progress(self, stage: str, step: int, total: int) -> None:
        """Show ``stage`` at ``step`` of ``total`` (1 or less: not counted); a model load's steps are bytes."""
        now = time.monotonic()
        if (stage, total) != (self._stage, self._total) or step < self._step:     # a new count: its time starts
            self._stage, self._total, self._since = stage, total, now
        self._step = step
        loading = stage.startswith("load ") and total > 1
        if loading:
            text = load_text(stage.removeprefix("load "), step, total, now - self._since)
        else:
            text = f"{stage_label(stage)}…" + (f"  step {step} of {total}" if total > 1 else "")
        self._text = f"{text}  (Esc cancels)" if self.cancellable and stage != "cancelling" else text
        self.query_one("#stage", Label).update(self._text)
        bar = self.query_one(ProgressBar)
        if total > 1 and (bar.total != total or step < bar.progress):   # a new counted stage: a fresh ETA
            bar.update(total=None)
            bar.update(total=total, progress=0)
        bar.update(total=total if total > 1 else None, progress=step)
        for part in bar.query("#percentage, #eta"):              # only counted steps (a load says its own)
            part.display = total > 1 and not loading
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Hide the bar where it would cut the stage's words (a narrow terminal): the words say more."""
        bar = self.query_one(ProgressBar)
        counted = self._total > 1 and not self._stage.startswith("load ")
        needs = Content(self._text).cell_length + 2 + self.BAR_WIDTH + (14 if counted else 0)
        bar.display = not self.content_size.width or self.content_size.width >= needs

    def stop(self) -> None:
        self.remove_class("-busy")


class PromptArea(TextArea, inherit_bindings=False):
    """Where the person types: Enter sends, ctrl+j (or shift+enter) starts a new line for a long instruction;
    Up on the first line and Down on the last walk through earlier inputs (:attr:`recall`)."""

    DEFAULT_CSS = """
    PromptArea { height: auto; min-height: 3; max-height: 8; }
    """
    BINDINGS = [b for b in TextArea.BINDINGS if not str(getattr(b, "key", "")).startswith(("ctrl+z", "ctrl+y"))]
    """The text area's own bindings, less its undo/redo: ctrl+z and ctrl+y step through the versions."""

    class Submitted(Message):
        """Enter was pressed: ``text`` is what the area held (it is cleared)."""

        def __init__(self, area: PromptArea, text: str) -> None:
            super().__init__()
            self.area, self.text = area, text

        @property
        def control(self) -> PromptArea:
            return self.area

    def __init__(self, placeholder: str = "", **kwargs: Any) -> None:
        super().__init__(placeholder=placeholder, soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         highlight_cursor_line=False, **kwargs)
        self.recall: list[str] = []
        """Earlier inputs, oldest first."""
        self._at: int | None = None
        self._draft = ""

    async def _on_key(self, event: Any) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text
            self.clear()
            self._at = None
            self.post_message(self.Submitted(self, text))
        elif event.key in ("ctrl+j", "shift+enter"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
        else:
            await super()._on_key(event)

    async def _on_paste(self, event: Any) -> None:
        """Paste without control characters (what a terminal would act on, not show); TextArea's own handler
        (called next by Textual, base classes' handlers too) inserts it."""
        event.text = printable(event.text)

    def remember(self, text: str) -> None:
        """Add ``text`` to :attr:`recall` (a repeat of the last one is kept once)."""
        if text and (not self.recall or self.recall[-1] != text):
            self.recall.append(text)
        self._at = None

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def _walking(self) -> bool:
        """Whether an earlier input is shown as recalled, unedited: then Up/Down go on through :attr:`recall`
        wherever the cursor is (a long one is not walked row by row)."""
        return self._at is not None and self.text == self.recall[self._at]

    def action_cursor_up(self, select: bool = False) -> None:
        """Up: the row above, as drawn (a long line wraps); from the top row (or a recalled input), the earlier
        input."""
        top = self._walking() or self.navigator.is_first_wrapped_line(self.cursor_location)
        if select or not top or not self.recall or self._at == 0:
            super().action_cursor_up(select)
            return
        if self._at is None:
            self._draft, self._at = self.text, len(self.recall)
        self._at -= 1
        self._show(self.recall[self._at])

    def action_cursor_down(self, select: bool = False) -> None:
        """Down: the row below, as drawn; from the bottom row (or a recalled input), the next input, then the
        draft that was being typed."""
        bottom = self._walking() or self.navigator.is_last_wrapped_line(self.cursor_location)
        if select or self._at is None or not bottom:
            super().action_cursor_down(select)
            return
        self._at += 1
        if self._at >= len(self.recall):
            self._at = None
            self._show(self._draft)
        else:
            self._show(self.recall[self._at])


class HelpScreen(ModalScreen[None]):
    """F1: the keys and what you can say (Markdown); Esc, F1 or q closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll { width: 90%; max-width: 120; height: 90%; border: thick $accent;
                                background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text, open_links=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()


class StatusLine(Static):
    """profile (and its banner's note) · served planner · device · model status · session folder."""

    DEFAULT_CSS = "StatusLine { height: 1; background: $panel; color: $text-muted; padding: 0 1; }"

    profile = reactive("…")
    profile_note = reactive("")
    """Said after the profile's name: " (random weights: ...)" on the tiny profile."""
    device = reactive("…")
    models = reactive("starting")
    session = reactive("")
    planner = reactive("")
    """A served planner's ``model @ host:port`` ("" for the profile's own planner)."""

    def show(self, snapshot: Snapshot) -> None:
        """Take profile, device and session folder (home written as ``~``) from ``snapshot``."""
        self.profile, self.device, self.session = snapshot.profile, snapshot.device, short_path(snapshot.session_dir)
        if snapshot.engine:
            self.profile = f"{snapshot.profile} · engine {snapshot.engine}"

    def render(self) -> Content:
        served = f" · planner {self.planner}" if self.planner else ""
        heads = [f"profile {self.profile}{self.profile_note}{served} · {self.device} · models: {self.models}",
                 f"profile {self.profile}{self.profile_note}{served} · models: {self.models}",
                 f"profile {self.profile}{served} · {self.device} · models: {self.models}",
                 f"profile {self.profile}{served} · models: {self.models}",
                 f"profile {self.profile} · models: {self.models}", f"profile {self.profile}"]
        # Narrow: the session's folder by its name, then none, then drop the device, the profile's note, the
        # served planner, the models' state: what shows is whole (never "· sess"); cut only where nothing fits.
        name = self.session.rstrip("/").rsplit("/", 1)[-1]
        tails = [f" · session {where}" for where in dict.fromkeys((self.session, name)) if where]
        lines = [head + tail for head in heads for tail in (*tails, "")]
        width = self.content_size.width
        return Content(next((line for line in lines if Content(line).cell_length <= width), lines[-1])
                       if width else lines[0])


def image_widget_class(mode: str) -> type[Widget]:
    """textual-image's widget for a render mode (``auto`` picks kitty/sixel/half cells by the terminal)."""
    import textual_image.widget as tiw

    classes = {"auto": tiw.Image, "halfcell": tiw.HalfcellImage, "unicode": tiw.UnicodeImage,
               "sixel": tiw.SixelImage, "tgp": tiw.TGPImage}
    return classes[mode]
