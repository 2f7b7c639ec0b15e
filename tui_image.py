"""The TUI's image pane with pointing, and the clarification view.

Pointing: a click on the picture sets a point, a drag a box, a ctrl/shift/alt- or right-click a "not this"
point; what is pointed is drawn on the picture with the Editor's preview mask, said on a line under it,
and goes with the next instruction or answer (the app hands :meth:`Pointing.kwargs` to ``Editor.send`` /
``Editor.answer``). Terminal cells map to image pixels by :func:`cell_to_pixel`.

Like ``tui_widgets``, nothing here calls the Editor, and importing stays cheap (no numpy, no textual-image).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.content import Content
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static

from tui_snapshot import Snapshot, short_path
from tui_widgets import image_widget_class

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MIN_PICTURE_ROWS = 8
"""The clarification shows its picture only when at least this many rows are left for it (else the list only)."""


# ---------------------------------------------------------------- what is pointed

@dataclass(frozen=True)
class Pointing:
    """What the person pointed at, in pixels of the current version's image.

    Attributes:
        box: a dragged box (x0, y0, x1, y1), or None.
        points: clicks (x, y, positive); positive False is "not this".
    """

    box: tuple[int, int, int, int] | None = None
    points: tuple[tuple[int, int, bool], ...] = ()

    def __bool__(self) -> bool:
        return self.box is not None or bool(self.points)

    def with_point(self, x: int, y: int, positive: bool = True) -> Pointing:
        """This pointing refined by one more click."""
        return replace(self, points=(*self.points, (x, y, positive)))

    def kwargs(self) -> dict[str, Any]:
        """The pointing as ``Editor.send`` / ``answer`` / ``pointed_mask`` keywords (``point``, ``box``, ``points``)."""
        if self.box is None and len(self.points) == 1 and self.points[0][2]:
            return {"point": self.points[0][:2]}
        out: dict[str, Any] = {}
        if self.box is not None:
            out["box"] = self.box
        if self.points:
            out["points"] = list(self.points)
        return out

    def describe(self) -> str:
        """What is pointed, in a few words ("box 120,80–260,210 + 1 point, 1 not")."""
        parts = []
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            parts.append(f"box {x0},{y0}–{x1},{y1}")
        yes = [p for p in self.points if p[2]]
        no = len(self.points) - len(yes)
        if len(yes) == 1 and not parts:
            parts.append(f"point {yes[0][0]},{yes[0][1]}")
        elif yes:
            parts.append(f"{len(yes)} point{'s' * (len(yes) > 1)}")
        if no:
            parts.append(f"{no} not")
        return " + ".join(parts[:2]) + (f", {parts[2]}" if len(parts) > 2 else "")


# ---------------------------------------------------------------- cells → image pixels

@dataclass(frozen=True)
class Placement:
    """Where a picture is drawn and what it stands for.

    Attributes:
        region: the picture's cells on the screen.
        image_size: (width, height) of the image its pixels are reported in (the full-size version).
        grid: drawn dots per cell (columns, rows): (1, 2) for half cells, (1, 1) for unicode, the terminal's
            cell size in pixels for sixel and kitty.
    """

    region: Region
    image_size: tuple[int, int]
    grid: tuple[int, int]


def cell_to_pixel(place: Placement, x: float, y: float, *, clamp: bool = False) -> tuple[int, int] | None:
    """The image pixel under screen position (x, y) (in cells; fractions from pixel-precise mouse reports).

    A whole-number coordinate is a cell report (the terminal said only which cell): it stands for the
    cell's centre in image pixels (in half cells, the line between the upper and lower half). A fraction
    picks the drawn dot under it (the upper or lower half, or the terminal pixel) and maps to that dot's
    centre. The picture fills its region at its own scale on each axis.

    Returns:
        (px, py) within the image, or None outside the picture (with ``clamp``: the nearest edge pixel).
    """
    r, (w, h), (gx, gy) = place.region, place.image_size, place.grid
    fx, fy = x - r.x, y - r.y
    inside = 0 <= fx < r.width and 0 <= fy < r.height
    if r.width <= 0 or r.height <= 0 or not (inside or clamp):
        return None
    return _axis(fx, r.width, gx, w), _axis(fy, r.height, gy, h)


def _axis(at: float, cells: int, dots: int, size: int) -> int:
    """One axis of :func:`cell_to_pixel`: ``at`` cells into a picture ``cells`` long, ``dots`` per cell, ``size``
    image pixels. Outside the picture (a clamped drag end): its edge."""
    if at < 0 or at >= cells:
        return 0 if at < 0 else size - 1
    if at == int(at):                                            # a cell report: the cell's centre
        return min(int((at + 0.5) * size / cells), size - 1)
    dot = int(at * dots + 1e-6)                                  # (screen − region offset leaves float noise)
    return min(int((dot + 0.5) * size / (cells * dots)), size - 1)


def drawn_grid(picture: Widget) -> tuple[int, int]:
    """Dots per cell of a textual-image widget: by its renderer (half cells, unicode, or terminal pixels)."""
    renderer = getattr(type(picture), "_Renderable", None)
    name = f"{getattr(renderer, '__module__', '')}.{getattr(renderer, '__name__', '')}"
    if name.endswith("halfcell.Image"):
        return 1, 2
    if name.endswith("unicode.Image"):
        return 1, 1
    from textual_image._terminal import get_cell_size

    cell = get_cell_size()
    return (cell.width or 10, cell.height or 20)


# ---------------------------------------------------------------- drawing

POSITIVE, NEGATIVE, BOX = (64, 230, 64), (255, 64, 64), (255, 215, 0)


def draw_pointing(image: PILImage, pointing: Pointing, image_size: tuple[int, int],
                  mask: Any | None = None) -> PILImage:
    """``image`` (the shown picture of an ``image_size`` image) with the preview mask tinted, the box and points.

    Marks are sized for the picture being drawn in half cells (a few dots wide at least).
    """
    from PIL import Image, ImageDraw

    out = image.convert("RGB")
    sx, sy = out.width / image_size[0], out.height / image_size[1]
    if mask is not None:
        import numpy as np

        region = Image.fromarray(np.where(mask, 110, 0).astype(np.uint8)).resize(out.size, Image.Resampling.NEAREST)
        out = Image.composite(Image.new("RGB", out.size, (64, 160, 255)), out, region)
    draw = ImageDraw.Draw(out)
    lw = max(2, round(min(out.size) / 120))
    if pointing.box is not None:
        x0, y0, x1, y1 = pointing.box
        draw.rectangle((x0 * sx, y0 * sy, max(x0 * sx, x1 * sx - 1), max(y0 * sy, y1 * sy - 1)), outline=BOX,
                       width=lw)
    r = max(4, round(min(out.size) / 40))
    for x, y, positive in pointing.points:
        cx, cy = x * sx, y * sy
        color = POSITIVE if positive else NEGATIVE
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color, outline=(0, 0, 0), width=max(1, lw // 2))
    return out


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


# ---------------------------------------------------------------- the image pane

class Pointed(Message):
    """The pointing on the image pane changed (empty: cleared)."""

    def __init__(self, pointing: Pointing) -> None:
        super().__init__()
        self.pointing = pointing


def _negative(event: Any) -> bool:
    return bool(event.ctrl or event.shift or event.meta or event.button == 3)


class ImagePane(Vertical):
    """The current image (or before/after, mask overlay, a previewed version), its caption and what is pointed.

    Click: a point; drag: a box; ctrl/shift/alt- or right-click: a "not this" point; further clicks refine.
    """

    DEFAULT_CSS = """
    ImagePane { height: 1fr; }
    ImagePane #caption { height: 1; width: 100%; content-align: center middle; color: $text-muted; }
    ImagePane Center { height: 1fr; align: center middle; }
    ImagePane .picture { width: auto; height: auto; }
    ImagePane #pointed { height: 1; width: 100%; content-align: center middle; color: $warning; display: none; }
    ImagePane #pointed.-on { display: block; }
    """

    showing_before = reactive(False)
    showing_mask = reactive(False)

    def __init__(self, image_mode: str = "auto", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_mode = image_mode
        self.snapshot: Snapshot | None = None
        self.preview: tuple[int, PILImage] | None = None
        self.pointing = Pointing()
        self.mask: Any | None = None
        self.mask_for: Pointing | None = None
        """The pointing ``mask`` was made for."""
        self.asked_for: Pointing | None = None
        """The pointing whose preview was last asked for (asked once, even when it fails)."""
        self._drag: tuple[tuple[int, int], tuple[int, int], bool] | None = None

    def compose(self) -> ComposeResult:
        yield Label("loading…", id="caption")
        with Center():
            yield image_widget_class(self.image_mode)(classes="picture")
        yield Label("", id="pointed", markup=False)

    def show(self, snapshot: Snapshot) -> None:
        """Show ``snapshot``'s current version (dropping a preview, before/mask where it has none, and a
        pointing made on another version)."""
        if self.snapshot is not None and self.snapshot.current != snapshot.current:
            self.pointing, self.mask, self.mask_for, self.asked_for = Pointing(), None, None, None
        self.snapshot, self.preview = snapshot, None
        if snapshot.before is None:
            self.showing_before = False
        if snapshot.overlay is None:
            self.showing_mask = False
        self.refresh_picture()

    def show_preview(self, number: int, image: PILImage) -> None:
        self.preview = (number, image)
        self.refresh_picture()

    def show_picture(self, image: PILImage, caption: str) -> None:
        self.query_one(".picture").image = image  # type: ignore[attr-defined]
        self.query_one("#caption", Label).update(caption)

    def watch_showing_before(self) -> None:
        self.refresh_picture()

    def watch_showing_mask(self) -> None:
        self.refresh_picture()

    def refresh_picture(self) -> None:
        snap = self.snapshot
        if not self.is_mounted or snap is None:
            return
        if self.preview is not None:
            number, image = self.preview
            self.show_picture(image, f"v{number} (preview) · Enter reverts to it")
        elif self.showing_before and snap.before is not None:
            self.show_picture(snap.before, f"before · v{snap.current - 1}   (f2: after)")
        elif self.showing_mask and snap.overlay is not None:
            self.show_picture(snap.overlay, f"v{snap.current} · last edit's mask   (f3: hide)")
        else:
            hints = [h for h, ok in (("f2: before", snap.before is not None), ("f3: mask", snap.overlay is not None))
                     if ok]
            after = snap.after
            if self.pointing:
                mask = self.mask if self.mask_for == self.pointing else None
                after = draw_pointing(after, self.pointing, self.image_size, mask)
            self.show_picture(after, f"v{snap.current} · current" + (f"   ({', '.join(hints)})" if hints else ""))
        self._say_pointing()

    # ------------------------------------------------------------ pointing

    @property
    def image_size(self) -> tuple[int, int]:
        """Size of the current version's image (the pixels pointing is in)."""
        snap = self.snapshot
        assert snap is not None
        return snap.image_size or snap.after.size

    def placement(self) -> Placement | None:
        """Where the current picture is drawn, or None when it is not showing the current version."""
        if self.snapshot is None or self.preview is not None or self.showing_before:
            return None
        picture = self.query_one(".picture")
        return Placement(picture.content_region, self.image_size, drawn_grid(picture))

    def set_pointing(self, pointing: Pointing) -> None:
        """Point at ``pointing`` (empty: clear), redraw (on the current version, not the mask), and tell the app."""
        self.pointing = pointing
        self.showing_mask = False
        self.refresh_picture()
        self.post_message(Pointed(pointing))

    def clear_pointing(self) -> bool:
        """Clear what is pointed; False when nothing was."""
        if not self.pointing:
            return False
        self.mask = self.mask_for = self.asked_for = None
        self.set_pointing(Pointing())
        return True

    def take_pointing(self) -> Pointing:
        """What is pointed, clearing it (it goes with the message being sent)."""
        pointing = self.pointing
        self.clear_pointing()
        return pointing

    def preview_due(self) -> Pointing | None:
        """The pointing to preview now (noted as asked for), or None when nothing new is pointed."""
        if not self.pointing or self.asked_for == self.pointing:
            return None
        self.asked_for = self.pointing
        return self.pointing

    def show_mask(self, pointing: Pointing, mask: Any) -> None:
        """The preview mask for ``pointing`` (dropped when the pointing has changed since)."""
        if pointing == self.pointing:
            self.mask, self.mask_for = mask, pointing
            self.refresh_picture()

    def _say_pointing(self) -> None:
        line = self.query_one("#pointed", Label)
        line.set_class(bool(self.pointing), "-on")
        if self.pointing:
            line.update(f"pointed: {self.pointing.describe()} · Esc clears")

    def on_mouse_down(self, event: Any) -> None:
        if self.snapshot is None or not self.query_one(".picture").content_region.contains(event.screen_x,
                                                                                           event.screen_y):
            return
        place = self.placement()
        if place is None:
            self.notify("Point on the current version (a preview or the before picture is showing).")
            return
        spot = cell_to_pixel(place, event.pointer_screen_x, event.pointer_screen_y)
        if spot is None:
            return
        self._drag = (spot, (event.screen_x, event.screen_y), _negative(event))
        self.capture_mouse()
        event.stop()

    def on_mouse_up(self, event: Any) -> None:
        if self._drag is None:
            return
        (x0, y0), cell, negative = self._drag
        self._drag = None
        self.capture_mouse(False)
        event.stop()
        place = self.placement()
        end = cell_to_pixel(place, event.pointer_screen_x, event.pointer_screen_y, clamp=True) if place else None
        if end is None:
            return
        if (event.screen_x, event.screen_y) == cell:
            self.set_pointing(self.pointing.with_point(x0, y0, not negative))
            return
        (x1, y1), (w, h) = end, self.image_size
        box = (min(x0, x1), min(y0, y1), min(max(x0, x1) + 1, w), min(max(y0, y1) + 1, h))
        self.set_pointing(Pointing(box=box))


# ---------------------------------------------------------------- the clarification

class ClarifyScreen(ModalScreen[object]):
    """The agent's question with numbered candidates: a number key picks one; typing answers in words; a click
    on the picture picks the box under it (or answers "this one" with the point); ctrl+o opens it full size.

    Dismissed with a candidate's number, the typed words, a :class:`Pointing` or None (answer later).
    """

    DEFAULT_CSS = """
    ClarifyScreen { align: center middle; }
    ClarifyScreen #dialog { width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1; }
    ClarifyScreen #question { height: auto; margin-bottom: 1; }
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
        self.image_size = _image_size(Path(question.image_path))

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical(id="dialog"):
            yield Static(Content.assemble((q.text, "bold"), "\nPress a number key or click a box, or type an "
                                          "answer and Enter; Esc answers later."), id="question")
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
        """Picture beside the list on wide screens, above it on narrow ones, none when too few rows are left."""
        width, height = self.app.size
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
        place = Placement(picture.content_region, self.image_size, drawn_grid(picture))
        spot = cell_to_pixel(place, event.pointer_screen_x, event.pointer_screen_y)
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

    def action_later(self) -> None:
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
