"""What is pointed at on a picture and where: cells ↔ image pixels, clicks, and the marks drawn for them.

A click on a picture sets a point, a drag a box, a ctrl/shift/alt- or right-click a "not this" point
(:func:`negative_click`); terminal cells map to image pixels by :func:`cell_to_pixel`. The app hands
:meth:`Pointing.kwargs` to ``Editor.send`` / ``Editor.answer``.

Like ``tui_widgets``, nothing here calls the Editor, and importing stays cheap (no numpy, no textual-image).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from textual.geometry import Region
from textual.widget import Widget

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


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

    @classmethod
    def of(cls, picture: Widget, image_size: tuple[int, int]) -> Placement:
        """Where the textual-image widget ``picture`` draws an ``image_size`` image now."""
        return cls(picture.content_region, image_size, drawn_grid(picture))


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


def negative_click(event: Any) -> bool:
    """Whether a mouse event is a "not this" click (ctrl, shift, alt/meta or the right button)."""
    return bool(event.ctrl or event.shift or event.meta or event.button == 3)


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
