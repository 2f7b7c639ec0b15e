"""What the TUI's worker thread hands its widgets: a session's :class:`Snapshot`, the profile's banner,
progress labels, and the messages :class:`Opened`, :class:`Progress`, :class:`TurnDone`.

A snapshot is read from the Editor on the worker thread by :func:`take_snapshot`; widgets only show it.
Importing this module stays cheap: no torch, no agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

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
    before = _shown(lambda: thumbnail(editor.version_image(parent))) if parent is not None else None
    mask = _shown(lambda: editor.version_mask(current))
    overlay = _tint(after, mask) if mask is not None else None
    return Snapshot(current=current, versions=rows, after=after, before=before, overlay=overlay,
                    question=editor.pending_question, profile=editor.profile.name, device=_device_of(editor),
                    session_dir=Path(editor.session_dir), read_only=bool(getattr(editor, "read_only", False)),
                    image_size=image.size, engine=getattr(getattr(editor, "toolkit", None), "chosen_engine", ""))


def _shown(read: Any) -> Any:
    """What ``read()`` gives, or None when a session file it needs is damaged (the before image or the mask
    is left out; the session still shows, and opening already said what is damaged)."""
    from agent.session.errors import SessionDamagedError

    try:
        return read()
    except SessionDamagedError:
        return None


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


def short_path(path: Path) -> str:
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


