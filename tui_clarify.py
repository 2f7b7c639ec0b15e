"""The clarification view: the agent's question with numbered candidates on its picture.

A number key or a click on a box picks a candidate, typing answers in words, a click outside every box
answers "this one" with the point, ctrl+o opens the picture full size outside the terminal.
Like ``tui_widgets``, nothing here calls the Editor, and importing stays cheap (no numpy, no textual-image).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from tui_pointing import Placement, Pointing, cell_to_pixel
from tui_snapshot import short_path
from tui_widgets import image_widget_class

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MIN_PICTURE_ROWS = 8
"""The clarification shows its picture only when at least this many rows are left for it (else the list only)."""


def position_words(box: tuple[float, float, float, float], size: tuple[int, int]) -> str:
    """Where ``box`` sits in a ``size`` image, in words: "left", "top right", "bottom", "centre"."""
    cx, cy = (box[0] + box[2]) / 2 / size[0], (box[1] + box[3]) / 2 / size[1]
    vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    return " ".join(w for w in (vertical, horizontal) if w) or "centre"


def candidate_colors(n: int) -> list[tuple[int, int, int]]:
    """The colours of boxes 1..n in the question's annotated picture (:func:`tools.masks.box_colors`, imported
    here so that importing the TUI stays cheap)."""
    from tools.masks import box_colors

    return box_colors(n)


def big_numbers(image: PILImage, candidates: Any) -> PILImage:
    """The annotated picture shrunk for the terminal, each box's number written large at its centre.

    The number is about a sixth of the picture's height, so it stays readable in half cells.
    """
    from PIL import ImageDraw, ImageFont

    out = image.convert("RGB")
    full = out.size
    out.thumbnail((480, 480))
    s = out.width / full[0]
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(10, round(min(out.size) / 4.5)))
    for c, color in zip(candidates, candidate_colors(len(candidates)), strict=True):
        x0, y0, x1, y1 = (v * s for v in c.box)
        text = str(c.number)
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), text, font=font)
        pad = max(2, (ty1 - ty0) // 5)
        tw, th = tx1 - tx0 + 2 * pad, ty1 - ty0 + 2 * pad
        left = min(max((x0 + x1 - tw) / 2, 0), out.width - tw)
        top = min(max((y0 + y1 - th) / 2, 0), out.height - th)
        draw.rectangle((left, top, left + tw, top + th), fill=color, outline=(0, 0, 0), width=1)
        ink = (0, 0, 0) if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140 else (255, 255, 255)
        draw.text((left + pad - tx0, top + pad - ty0), text, fill=ink, font=font, stroke_width=max(1, th // 16),
                  stroke_fill=ink)
    return out


def open_outside(path: Path) -> str:
    """Open ``path`` in the desktop's viewer (xdg-open / open); returns what happened, in one line."""
    opener = shutil.which("open" if sys.platform == "darwin" else "xdg-open")
    if not path.is_file():
        return f"The picture is not on disk ({path})."
    if opener is None:
        return f"No viewer to open it with here; the picture is at {path}"
    try:
        subprocess.Popen([opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        return f"Could not open it ({e}); the picture is at {path}"
    return f"Opened {path.name} outside the terminal ({path})."


# ---------------------------------------------------------------- the clarification

class ClarifyScreen(ModalScreen[object]):
    """The agent's question with numbered candidates: a number key picks one; typing answers in words; a click
    on the picture picks the box under it (or answers "this one" with the point); ctrl+o opens it full size.

    Dismissed with a candidate's number, the typed words, a :class:`Pointing` or None (answer later).
    """

    DEFAULT_CSS = """
    ClarifyScreen { align: center middle; }
    ClarifyScreen #dialog { width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1; }
    ClarifyScreen #question { height: auto; max-height: 40%; margin-bottom: 1; }
    ClarifyScreen.-small #dialog { width: 100%; height: 100%; padding: 0; }
    ClarifyScreen.-small #question { margin-bottom: 0; }
    ClarifyScreen.-small OptionList { border: none; }
    ClarifyScreen #body { height: 1fr; layout: vertical; }
    ClarifyScreen #body.-side { layout: horizontal; }
    ClarifyScreen #body Center { height: 1fr; align: center middle; }
    ClarifyScreen #body.-side Center { width: 1fr; height: 100%; }
    ClarifyScreen #body.-list-only Center { display: none; }
    ClarifyScreen #side { height: auto; }
    ClarifyScreen #body.-side #side { width: 46; height: 100%; }
    ClarifyScreen #body.-list-only #side { height: 1fr; }
    ClarifyScreen .picture { width: auto; height: auto; }
    ClarifyScreen OptionList { height: auto; }
    ClarifyScreen #full { height: auto; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "later", "Answer later"), Binding("ctrl+o,f4", "open_full", "Full size"),
                *(Binding(str(n), f"pick({n})", show=False) for n in range(1, 10))]

    def __init__(self, question: Any, image_mode: str = "auto") -> None:
        super().__init__()
        self.question, self.image_mode = question, image_mode
        self.draft = ""
        """What was typed in the answer box when the question was put off (the app puts it in its input)."""
        self.image_size = _image_size(Path(question.image_path))

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical(id="dialog"):
            with VerticalScroll(id="question"):        # a long question scrolls; the list and input stay in view
                yield Static(Content.assemble((q.text, "bold"), "\nPress a number key or click a box, or type an "
                                              "answer and Enter; Esc answers later."))
            with Vertical(id="body"):
                with Center():
                    yield image_widget_class(self.image_mode)(classes="picture")
                with Vertical(id="side"):
                    yield OptionList(*self.rows())
                    yield Static(Content(""), id="full")
            yield Input(placeholder="…or describe which one", id="answer", select_on_focus=False)

    def rows(self) -> list[Content]:
        """One line per candidate: a swatch of its box's colour, its number, label, position words and score."""
        cands = self.question.candidates
        out = []
        for c, (r, g, b) in zip(cands, candidate_colors(len(cands)), strict=True):
            where = position_words(c.box, self.image_size) if self.image_size else ""
            out.append(Content.assemble(("██", f"rgb({r},{g},{b})"), (f" {c.number} ", "bold"), c.label,
                                        (f" · {where}" if where else "", ""), (f"  ({c.score:.2f})", "dim")))
        return out

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._fit()
        path = Path(self.question.image_path)
        if path.is_file():
            from PIL import Image

            with Image.open(path) as image:
                self.query_one(".picture").image = big_numbers(image, self.question.candidates)  # type: ignore

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Picture beside the list on wide screens, above it on narrow ones, none when too few rows are left; on a
        small terminal the dialog takes it all."""
        width, height = self.app.size
        self.set_class(height < 20 or width < 50, "-small")
        side = width >= 100
        rows = int(height * 0.9) - 2 - 4 - 3 - 1 - (0 if side else len(self.question.candidates) + 1)
        body = self.query_one("#body")
        list_only = rows < MIN_PICTURE_ROWS or not self.image_size
        body.set_class(side and not list_only, "-side")
        body.set_class(list_only, "-list-only")
        self.query_one("#full", Static).update(Content.assemble(
            ("picture hidden: the terminal is small. " if list_only else "", "italic"),
            ("ctrl+o", "bold"), f" opens it full size ({short_path(Path(self.question.image_path))})"))

    def on_key(self, event: Any) -> None:
        answer = self.query_one("#answer", Input)
        if not answer.has_focus and event.is_printable and not (event.character or "").isdigit():
            answer.focus()
            answer.insert_text_at_cursor(event.character)
            event.stop()

    def on_mouse_down(self, event: Any) -> None:
        picture = self.query_one(".picture")
        if self.query_one("#body").has_class("-list-only") or not self.image_size:
            return
        spot = cell_to_pixel(Placement.of(picture, self.image_size), event.pointer_screen_x, event.pointer_screen_y)
        if spot is None:
            return
        event.stop()
        x, y = spot
        inside = [c for c in self.question.candidates if c.box[0] <= x < c.box[2] and c.box[1] <= y < c.box[3]]
        if inside:
            self.dismiss(min(inside, key=lambda c: (c.box[2] - c.box[0]) * (c.box[3] - c.box[1])).number)
        else:
            self.dismiss(Pointing(points=((x, y, True),)))

    def action_pick(self, number: int) -> None:
        if any(c.number == number for c in self.question.candidates):
            self.dismiss(number)

    def typed(self) -> str:
        """What is typed in the answer box and not sent."""
        return self.query_one("#answer", Input).value.strip()

    def action_later(self) -> None:
        self.draft = self.typed()
        self.dismiss(None)

    def action_open_full(self) -> None:
        self.notify(open_outside(Path(self.question.image_path)), markup=False, timeout=8)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.question.candidates[event.option_index].number)

    @on(Input.Submitted, "#answer")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of the image at ``path`` (read from its header), or None when it cannot be read."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None
