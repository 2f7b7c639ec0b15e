"""The chat TUI's widgets and what they show: the snapshot and messages the worker thread hands over.

Widgets only show what they are given (a :class:`Snapshot`, read from the Editor on the worker thread by
:func:`take_snapshot`) and never call the Editor. Importing this module stays cheap: no torch, no agent,
and textual-image only when an image widget is first built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Label, ListItem, ListView, Markdown, ProgressBar, Static, TextArea

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

IMAGE_MODES = ("auto", "halfcell", "unicode", "sixel", "tgp")
"""How images can be drawn (``--image-mode``); see :func:`image_widget_class`."""
DISPLAY_SIDE = 1024
"""Images are shrunk to at most this many pixels a side before the terminal renders them."""

STAGES = {"plan": "planning", "locate": "finding it", "segment": "cutting it out", "edit": "repainting",
          "verify": "checking the result", "commit": "saving the version"}
"""The Editor's progress stages, as the progress strip says them ("load <role>": loading a model)."""


def models_label(loaded: int, total: int) -> str:
    """The status line's model count: "2 of 4 loaded" ("load on first edit" before any)."""
    if not loaded:
        return "load on first edit"
    return f"{loaded} of {total} loaded" if total >= loaded else f"{loaded} loaded"


def _amount(count: int, unit: float) -> str:
    return f"{count / unit:.1f}" if unit > 1 else str(count)


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def load_text(role: str, done: int, total: int, elapsed: float = 0.0) -> str:
    """A model load in bytes: "loading inpainting 1.2 of 4.3 GB · 38% · ETA 12 s".

    The time left assumes the rest comes in as fast as what came in during ``elapsed`` seconds (none
    before the first bytes). The percentage is rounded down: 100% only when everything is in.
    """
    if total <= 0:
        return f"loading {role}"
    unit, name = next(((u, n) for u, n in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")) if total >= u), (1, "bytes"))
    done, total = min(max(int(done), 0), int(total)), int(total)
    text = f"loading {role} {_amount(done, unit)} of {_amount(total, unit)} {name} · {100 * done // total}%"
    if 0 < done < total and elapsed > 0:
        text += f" · ETA {_duration(elapsed * (total - done) / done)}"
    return text


def stage_label(stage: str) -> str:
    """How the progress strip names an Editor stage."""
    if stage.startswith("load "):
        return f"loading the {stage.removeprefix('load ')} model"
    return STAGES.get(stage, stage)


# ---------------------------------------------------------------- data the worker hands to the UI

@dataclass(frozen=True)
class VersionRow:
    """One line of the history list: a version of the tree."""

    number: int
    instruction: str
    created: str
    has_mask: bool
    parent: int | None = None


def tree_marks(rows: tuple[VersionRow, ...], current: int) -> dict[int, tuple[str, int, bool]]:
    """How each version shows in the history: (mark, indent, starts a branch).

    Marks: ● the current version, │ on the way to it, ↷ redo goes there (made from it), · another branch.
    Versions are listed by number; a version that is not its parent's first child starts a branch and
    is indented one step more than its parent.
    """
    parent = {r.number: r.parent for r in rows}
    first_child: dict[int, int] = {}
    for r in rows:
        if r.parent is not None:
            first_child.setdefault(r.parent, r.number)
    ancestors, n = set(), parent.get(current)
    while n is not None:
        ancestors.add(n)
        n = parent.get(n)
    out: dict[int, tuple[str, int, bool]] = {}
    for r in rows:
        branch = r.parent is not None and first_child[r.parent] != r.number
        indent = (out[r.parent][1] if r.parent in out else 0) + (1 if branch else 0)
        up, below = r.number, False
        while up is not None:
            if up == current and r.number != current:
                below = True
                break
            up = parent.get(up)
        mark = "●" if r.number == current else "│" if r.number in ancestors else "↷" if below else "·"
        out[r.number] = (mark, indent, branch)
    return out


def tree_text(rows: tuple[VersionRow, ...], current: int) -> str:
    """The version tree as lines of text (``/history``): every version, every branch, the current one marked."""
    marks = tree_marks(rows, current)
    lines = []
    for r in rows:
        mark, indent, branch = marks[r.number]
        start = f"└ from v{r.parent}: " if branch else ""
        lines.append(f"{'    ' * indent}{mark} v{r.number}  {start}{r.instruction or 'original'}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Snapshot:
    """What the UI shows, read from the Editor on the worker thread (the UI never touches the Editor)."""

    current: int
    versions: tuple[VersionRow, ...]
    after: PILImage
    before: PILImage | None
    overlay: PILImage | None
    question: Any | None
    profile: str
    device: str
    session_dir: Path
    read_only: bool = False
    image_size: tuple[int, int] | None = None
    """(width, height) of the current version's full-size image (``after`` is shrunk); pointing is in its pixels."""
    engine: str = ""
    """The repaint engine when it was chosen (``--engine``, or the full profile's pick); "" for the profile's own."""


def thumbnail(image: PILImage) -> PILImage:
    """``image`` as RGB, shrunk in place to at most :data:`DISPLAY_SIDE` pixels a side."""
    image = image.convert("RGB")
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return image


def _tint(image: PILImage, mask: Any, color: tuple[int, int, int] = (255, 64, 64)) -> PILImage:
    """The image with the bool mask's True area tinted, for the mask overlay."""
    import numpy as np
    from PIL import Image

    region = Image.fromarray(np.where(mask, 115, 0).astype(np.uint8)).resize(image.size, Image.Resampling.NEAREST)
    return Image.composite(Image.new("RGB", image.size, color), image, region)


def take_snapshot(editor: Any) -> Snapshot:
    """Read everything the UI shows from ``editor`` (call on the thread that owns the editor).

    Images come through the Editor (from memory while the last edit's files are still being
    written), so the UI never waits on the disk.
    """
    current = editor.current_version
    rows = tuple(VersionRow(*v) for v in editor.versions)
    parent = next((r.parent for r in rows if r.number == current), None)
    image = editor.current_image
    after = thumbnail(image)
    before = thumbnail(editor.version_image(parent)) if parent is not None else None
    mask = editor.version_mask(current)
    overlay = _tint(after, mask) if mask is not None else None
    return Snapshot(current=current, versions=rows, after=after, before=before, overlay=overlay,
                    question=editor.pending_question, profile=editor.profile.name, device=_device_of(editor),
                    session_dir=Path(editor.session_dir), read_only=bool(getattr(editor, "read_only", False)),
                    image_size=image.size, engine=getattr(getattr(editor, "toolkit", None), "chosen_engine", ""))


@dataclass(frozen=True)
class Banner:
    """Which profile the session runs on, said once as it opens.

    Attributes:
        text: the chat's first line after opening (the profile's one-line banner; for random weights,
            that pictures are noise and, when the planner is random too, that plans come from the grammar).
        status: what the status line adds after the profile's name ("" for real models).
    """

    text: str
    status: str = ""


def profile_banner(profile: Any, planner: Any = None) -> Banner:
    """The :class:`Banner` for ``profile`` (a :class:`tools.profiles.Profile`).

    Args:
        planner: the chat model the session was given (None: the profile's own planner, loaded later).
    """
    random_planner = (getattr(planner, "random_weights", False) is True if planner is not None
                      else bool(profile.planner.random_weights))
    text = f"{profile.banner}."
    if not profile.random_weights:
        return Banner(text)
    if random_planner:
        text += (" Its planner has random weights too, so your words are planned by the offline grammar: "
                 "*remove the cup*, *replace the cup with a vase*, *make the cup red*, "
                 "*put the cat on a beach background*, *make it autumn*, *add a bird next to the tree*.")
        return Banner(text, " (random weights: pictures are noise, plans by the offline grammar)")
    return Banner(text, " (random weights: pictures are noise)")


def _device_of(editor: Any) -> str:
    placement = getattr(editor, "placement", None) or getattr(getattr(editor, "toolkit", None), "placement", None)
    if placement is None:
        from tools.device import resolve_placement

        placement = resolve_placement()
    text = placement.label                   # "CPU bf16 (AVX512-BF16)", "CUDA fp16"
    memory = getattr(getattr(getattr(editor, "toolkit", None), "memory", None), "plan", None)
    return f"{text}, {memory.short()}" if memory is not None and memory.mode != "cpu" else text


def _short(path: Path) -> str:
    """``path`` with the home folder written as ``~``."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- messages from the worker

class Opened(Message):
    """The session is open: its Editor, what to show, the profile's banner, the earlier conversation
    ((role, text) pairs) and how many models the session may load."""

    def __init__(self, editor: Any, snapshot: Snapshot, banner: Banner | None = None,
                 conversation: list[tuple[str, str]] | None = None, models: int = 0) -> None:
        super().__init__()
        self.editor, self.snapshot, self.banner = editor, snapshot, banner
        self.conversation, self.models = conversation or [], models


class Progress(Message):
    """A stage's progress; a newer one replaces an unprocessed older one."""

    def __init__(self, stage: str, step: int, total: int) -> None:
        super().__init__()
        self.stage, self.step, self.total = stage, step, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progress) and message.stage == self.stage


class TurnDone(Message):
    def __init__(self, reply: Any | None, snapshot: Snapshot | None, error: str | None = None,
                 cancelled: bool = False, note: str = "") -> None:
        super().__init__()
        self.reply, self.snapshot, self.error, self.cancelled, self.note = reply, snapshot, error, cancelled, note


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
        super().__init__(text, classes=f"message {role}", open_links=False)
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
        super().__init__(Content(shown), classes=f"message {role}")
        self.role, self.source_text = role, text

    @property
    def source(self) -> str:
        return self.source_text


class ChatLog(VerticalScroll):
    """The conversation, newest at the bottom; it stays scrolled to the newest message unless scrolled up."""

    DEFAULT_CSS = "ChatLog { height: 1fr; }"

    def on_mount(self) -> None:
        self.anchor()

    def say(self, text: str, role: str = "agent") -> Widget:
        """Add a message: ``user``/``pending`` as plain text, ``agent``/``system``/``error`` as Markdown."""
        message: Widget = UserMessage(text, role) if role in ("user", "pending") else ChatMessage(text, role)
        self.mount(message)
        self.call_after_refresh(self.scroll_end, animate=False)
        return message

    def earlier(self, conversation: list[tuple[str, str]]) -> None:
        """Show a resumed session's earlier conversation ((role, text) pairs, role "user" or "assistant")."""
        if not conversation:
            return
        self.say(f"Earlier in this session ({len(conversation)} messages):", "system")
        for role, text in conversation:
            self.say(text, "user" if role == "user" else "agent").add_class("earlier")


class VersionItem(ListItem):
    def __init__(self, row: VersionRow, mark: str, indent: int, branch: bool) -> None:
        text = row.instruction or "original"
        start = f"└ from v{row.parent}: " if branch else ""
        super().__init__(Label(f"{'  ' * indent}{mark} v{row.number}  {start}{text}", markup=False),
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

    def __init__(self) -> None:
        super().__init__()
        self._stage, self._total, self._step, self._since = "", 0, 0, 0.0

    def compose(self) -> ComposeResult:
        yield Label("", id="stage", markup=False)
        yield ProgressBar(show_eta=True, show_percentage=True)

    def start(self, stage: str) -> None:
        self.add_class("-busy")
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
        self.query_one("#stage", Label).update(f"{text}  (Esc cancels)")
        bar = self.query_one(ProgressBar)
        if total > 1 and (bar.total != total or step < bar.progress):   # a new counted stage: a fresh ETA
            bar.update(total=None)
            bar.update(total=total, progress=0)
        bar.update(total=total if total > 1 else None, progress=step)
        for part in bar.query("#percentage, #eta"):              # only counted steps (a load says its own)
            part.display = total > 1 and not loading

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

    def remember(self, text: str) -> None:
        """Add ``text`` to :attr:`recall` (a repeat of the last one is kept once)."""
        if text and (not self.recall or self.recall[-1] != text):
            self.recall.append(text)
        self._at = None

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_cursor_up(self, select: bool = False) -> None:
        if select or self.cursor_location[0] > 0 or not self.recall or self._at == 0:
            super().action_cursor_up(select)
            return
        if self._at is None:
            self._draft, self._at = self.text, len(self.recall)
        self._at -= 1
        self._show(self.recall[self._at])

    def action_cursor_down(self, select: bool = False) -> None:
        if select or self._at is None or self.cursor_location[0] < self.document.line_count - 1:
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
        self.profile, self.device, self.session = snapshot.profile, snapshot.device, _short(snapshot.session_dir)
        if snapshot.engine:
            self.profile = f"{snapshot.profile} · engine {snapshot.engine}"

    def render(self) -> Content:
        served = f" · planner {self.planner}" if self.planner else ""
        heads = [f"profile {self.profile}{self.profile_note}{served} · {self.device} · models: {self.models}",
                 f"profile {self.profile}{self.profile_note}{served} · models: {self.models}",
                 f"profile {self.profile}{served} · {self.device} · models: {self.models}",
                 f"profile {self.profile}{served} · models: {self.models}",
                 f"profile {self.profile} · models: {self.models}"]
        width = self.content_size.width   # narrow: drop the device, then the profile's note; a long path is cut
        head = next((h for h in heads if len(h) <= width), heads[-1]) if width else heads[0]
        return Content(f"{head} · session {self.session}")


def image_widget_class(mode: str) -> type[Widget]:
    """textual-image's widget for a render mode (``auto`` picks kitty/sixel/half cells by the terminal)."""
    import textual_image.widget as tiw

    classes = {"auto": tiw.Image, "halfcell": tiw.HalfcellImage, "unicode": tiw.UnicodeImage,
               "sixel": tiw.SixelImage, "tgp": tiw.TGPImage}
    return classes[mode]
