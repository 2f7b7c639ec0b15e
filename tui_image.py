"""The TUI's image pane: the current image (or before/after, the mask, a previewed version) with pointing.

Pointing: a click on the picture sets a point, a drag a box, a ctrl/shift/alt- or right-click a "not this"
point; what is pointed is drawn on the picture with the Editor's preview mask, said on a line under it,
and goes with the next instruction or answer. What is pointed and how cells map to pixels: ``tui_pointing``.

Like ``tui_widgets``, nothing here calls the Editor, and importing stays cheap (no numpy, no textual-image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label

from tui_pointing import Placement, Pointing, cell_to_pixel, draw_pointing, negative_click
from tui_snapshot import Snapshot
from tui_widgets import image_widget_class

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


class Pointed(Message):
    """The pointing on the image pane changed (empty: cleared)."""

    def __init__(self, pointing: Pointing) -> None:
        super().__init__()
        self.pointing = pointing


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
        return Placement.of(self.query_one(".picture"), self.image_size)

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
        self._drag = (spot, (event.screen_x, event.screen_y), negative_click(event))
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
