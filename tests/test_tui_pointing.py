"""Pointing on the image pane: cells → image pixels (pure and through Pilot clicks), what goes to the Editor."""

from __future__ import annotations

import numpy as np
import pytest
from textual.geometry import Region

import tui
from tui_pilot import chat_texts, drive, settle, type_line
from tui_clarify import position_words
from tui_pointing import NEGATIVE, POSITIVE, Placement, Pointing, cell_to_pixel

pytestmark = [pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning"),
              pytest.mark.slow]            # each test starts the whole app; -m "not slow" skips them

COFFEE = (600, 400)


# ---------------------------------------------------------------- pure mapping

def test_half_cells_map_the_upper_and_lower_half_of_a_cell_to_their_pixel_rows():
    place = Placement(Region(10, 5, 40, 20), COFFEE, (1, 2))     # 40×40 dots for a 600×400 image: 15×10 px a dot
    assert cell_to_pixel(place, 10.0, 5.25) == (7, 5)            # first column, upper half: dot (0, 0)
    assert cell_to_pixel(place, 10.0, 5.75) == (7, 15)           # lower half: dot (0, 1)
    assert cell_to_pixel(place, 10, 5) == (7, 10)                # a cell report: the cell's centre (rows 0-19)
    assert cell_to_pixel(place, 11, 24) == (22, 390)             # ... in every cell, the last one too
    assert cell_to_pixel(place, 49.9, 24.9) == (592, 395)        # the last dot
    assert cell_to_pixel(place, 30.2, 14.4) == (307, 185)        # dot (20, 18)
    assert cell_to_pixel(place, 9.9, 6) is None and cell_to_pixel(place, 50, 6) is None
    assert cell_to_pixel(place, 60, 2, clamp=True) == (599, 0)   # a drag ending outside: the picture's edge


def test_graphics_modes_map_terminal_pixels_inside_a_cell():
    place = Placement(Region(0, 0, 40, 20), COFFEE, (10, 20))    # kitty/sixel: 400×400 terminal pixels
    assert cell_to_pixel(place, 0.35, 0.6) == (5, 12)            # terminal pixel (3, 12)
    assert cell_to_pixel(place, 0, 0) == (7, 10)                 # cell report: the cell's centre (15×20 px)
    assert cell_to_pixel(place, 39.99, 19.99) == (599, 399)
    left, right = cell_to_pixel(place, 12.1, 3.5), cell_to_pixel(place, 12.9, 3.5)
    assert right[0] - left[0] == 12                              # 8 terminal pixels apart, 1.5 image px each


def test_pointing_goes_to_the_editor_as_point_box_or_points_and_says_what_it_is():
    one = Pointing().with_point(130, 95)
    assert one.kwargs() == {"point": (130, 95)} and one.describe() == "point 130,95"
    refined = one.with_point(200, 40, positive=False)
    assert refined.kwargs() == {"points": [(130, 95, True), (200, 40, False)]}
    assert refined.describe() == "point 130,95 + 1 not"
    box = Pointing(box=(120, 80, 260, 210)).with_point(150, 100)
    assert box.kwargs() == {"box": (120, 80, 260, 210), "points": [(150, 100, True)]}
    assert box.describe() == "box 120,80–260,210 + 1 point"
    assert not Pointing() and Pointing().kwargs() == {}


def test_position_words_come_from_the_box_centre():
    assert position_words((0, 150, 100, 250), COFFEE) == "left"
    assert position_words((480, 0, 600, 90), COFFEE) == "top right"
    assert position_words((250, 150, 350, 250), COFFEE) == "centre"
    assert position_words((250, 300, 350, 400), COFFEE) == "bottom"


# ---------------------------------------------------------------- through the app (Pilot)

class Recorder:
    """Wraps the real Editor: records the pointing each call gets; pointed_mask answers with the box/point area."""

    def __init__(self, editor) -> None:
        self.editor, self.calls = editor, []
        self.sent: list[tuple[str, dict]] = []

    def pointed_mask(self, **kw):
        self.calls.append(kw)
        w, h = self.editor.current_image.size
        mask = np.zeros((h, w), bool)
        if "box" in kw:
            x0, y0, x1, y1 = kw["box"]
            mask[y0:y1, x0:x1] = True
        for x, y, positive in kw.get("points", [(*kw["point"], True)] if "point" in kw else []):
            mask[max(0, y - 20):y + 20, max(0, x - 20):x + 20] = positive
        return mask


def run_app(script, tmp_path, *, image_mode: str = "halfcell"):
    """The app over the real Editor whose ``pointed_mask`` is a :class:`Recorder`'s; ``script(app, pilot, rec)``."""
    async def recorded(app, pilot):
        rec = Recorder(app.editor)
        app.editor.pointed_mask = rec.pointed_mask
        await script(app, pilot, rec)

    return drive(recorded, tmp_path / "s", image_mode=image_mode)


def picture(app):
    return app.image_pane.query_one(".picture")


def dot_colors(app, col: int, row: int):
    """The (upper, lower) colours drawn in the picture's cell (col, row), read from textual-image's output."""
    strip = picture(app).render_line(row)
    x = 0
    for seg in strip:
        if x + len(seg.text) > col:
            return seg.style.color.triplet, seg.style.bgcolor.triplet
        x += len(seg.text)
    raise AssertionError("no such cell")


def near(rgb, target, tol=40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, target, strict=True))


def test_a_click_in_half_cells_points_at_the_pixel_under_that_half_and_draws_it_there(tmp_path):
    async def script(app, pilot, rec):
        pic = picture(app)
        r = pic.content_region
        w, h = COFFEE
        assert (r.width, r.height) == (pic.size.width, pic.size.height) and r.width > 20
        col, row = r.width // 3, r.height // 2
        await pilot.click(pic, offset=(col, row + 0.25))          # the upper half of that cell
        await settle(app, pilot)
        x, y = app.image_pane.pointing.points[0][:2]
        assert abs(x - (col + 0.5) * w / r.width) <= 1 and abs(y - (2 * row + 0.5) * h / (2 * r.height)) <= 1
        assert rec.calls == [{"point": (x, y)}]
        upper, _ = dot_colors(app, col, row)
        assert near(upper, POSITIVE), upper                        # the marker is drawn in that very half cell
        line = str(app.image_pane.query_one("#pointed").content)
        assert line == f"pointed: point {x},{y} · Esc clears"

        await pilot.click(pic, offset=(col + 6, row + 0.75), control=True)   # ctrl+click: "not this", refined
        await settle(app, pilot)
        (x2, y2, positive) = app.image_pane.pointing.points[1]
        assert not positive and y2 > y and abs(y2 - (2 * row + 1.5) * h / (2 * r.height)) <= 1
        assert rec.calls[-1] == {"points": [(x, y, True), (x2, y2, False)]}
        _, lower = dot_colors(app, col + 6, row)
        assert near(lower, NEGATIVE), lower

        await pilot.press("escape")
        await pilot.pause()
        assert not app.image_pane.pointing and not app.image_pane.query_one("#pointed").display

    run_app(script, tmp_path)


def test_a_drag_sets_a_box_that_goes_with_the_next_instruction_then_clears(tmp_path):
    async def script(app, pilot, rec):
        pic = picture(app)
        r = pic.content_region
        w, h = COFFEE
        await pilot.mouse_down(pic, offset=(2, 1))
        await pilot.mouse_up(pic, offset=(r.width // 2, r.height // 2))
        await settle(app, pilot)
        box = app.image_pane.pointing.box
        x0, y0 = int(2.5 * w / r.width), int(1.5 * h / r.height)           # cell reports: the cells' centres
        x1 = int((r.width // 2 + 0.5) * w / r.width) + 1
        y1 = int((r.height // 2 + 0.5) * h / r.height) + 1
        assert box == (x0, y0, x1, y1), (box, r)
        assert rec.calls == [{"box": box}]
        assert f"box {x0},{y0}–{x1},{y1}" in str(app.image_pane.query_one("#pointed").content)

        sent = []
        app.editor.send = lambda text, **kw: (sent.append((text, kw)), app.editor.undo(0))[1]
        await type_line(pilot, "make this red")
        await settle(app, pilot)
        assert sent == [("make this red", {"box": box})]
        assert not app.image_pane.pointing, "the pointing went with the message and cleared"
        assert any(f"pointing at box {x0},{y0}" in t for t in chat_texts(app, "system"))

    run_app(script, tmp_path)


@pytest.mark.parametrize("mode", ["sixel", "tgp"])
def test_a_click_in_a_graphics_mode_maps_through_the_terminal_cell_size(mode, tmp_path):
    async def script(app, pilot, rec):
        from textual_image._terminal import get_cell_size

        pic = picture(app)
        r = pic.content_region
        cw, ch = get_cell_size()
        w, h = COFFEE
        await pilot.click(pic, offset=(5.35, 2.6))                 # a pixel-precise report inside cell (5, 2)
        await settle(app, pilot)
        x, y = app.image_pane.pointing.points[0][:2]
        assert x == int((int(5.35 * cw) + 0.5) * w / (r.width * cw))
        assert y == int((int(2.6 * ch) + 0.5) * h / (r.height * ch))

    run_app(script, tmp_path, image_mode=mode)


def test_make_this_red_after_a_drag_edits_only_the_pointed_region(tmp_path):
    async def script(app, pilot):
        pic = picture(app)
        r = pic.content_region
        await pilot.mouse_down(pic, offset=(r.width // 4, r.height // 4))
        await pilot.mouse_up(pic, offset=(r.width // 2, r.height // 2))
        await settle(app, pilot)
        box = app.image_pane.pointing.box
        mask = app.image_pane.mask
        assert mask is not None and mask.shape == (400, 600) and mask.any()
        tinted = np.asarray(picture(app).image, int)[..., 2] - np.asarray(app.snapshot.after, int)[..., 2] > 20
        my, mx = np.nonzero(mask)
        s = app.snapshot.after.width / 600
        assert tinted[int(np.median(my) * s), int(np.median(mx) * s)] or tinted.mean() > 0.005, "mask drawn"
        before = app.editor.current_image.copy()
        await type_line(pilot, "make this red")
        await settle(app, pilot)
        assert app.snapshot.current == 1, chat_texts(app)
        changed = np.abs(np.asarray(app.editor.current_image, int) - np.asarray(before, int)).sum(axis=2) > 0
        ys, xs = np.nonzero(changed)
        assert len(xs) > 0
        assert changed.mean() < 0.5 and mask.mean() < 0.5, (changed.mean(), mask.mean())
        assert (changed & ~mask).sum() <= 0.01 * changed.sum()       # what changed is the region previewed
        assert (changed & mask).sum() >= 0.5 * mask.sum()
        assert mask[box[1]:box[3], box[0]:box[2]].sum() >= 0.5 * mask.sum()   # and that region is the box's
        assert not app.image_pane.pointing

    drive(script, tmp_path / "s")


CUPS = [(20, 20, 180, 180), (220, 120, 380, 280), (420, 220, 580, 380)]


def three_cups(tmp_path, script):
    """The app with a planner asking to recolour "cup" and a detector finding the three :data:`CUPS`."""
    from agent_fakes import FixedDetections, QueuePlanner, det, plan
    from tools.profiles import get_profile

    planner = QueuePlanner().push(plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "blue"}))
    toolkit = FixedDetections(get_profile("tiny"), {"cup": [det(b, 0.9 - i / 10) for i, b in enumerate(CUPS)]})

    async def opened(app, pilot):
        await type_line(pilot, "make the cup blue")
        await settle(app, pilot)
        assert isinstance(app.screen, tui.ClarifyScreen) and len(app.screen.question.candidates) == 3
        await script(app, pilot)

    return drive(opened, tmp_path / "s", fake=planner, toolkit=toolkit)


def changed_inside(app, box) -> float:
    """The share of the pixels changed by the last version that lie inside ``box`` (grown by the 16 px margin
    the edit's mask may take around a candidate's box)."""
    before = np.asarray(app.editor.version_image(app.snapshot.current - 1), int)
    changed = np.abs(np.asarray(app.editor.current_image, int) - before).sum(axis=2) > 0
    x0, y0, x1, y1 = box[0] - 20, box[1] - 20, box[2] + 20, box[3] + 20
    return changed[y0:y1, x0:x1].sum() / max(1, changed.sum())


def test_a_pending_question_is_answered_by_pointing_and_this_one(tmp_path):
    async def script(app, pilot):
        await pilot.press("escape")                                   # answer later
        await pilot.pause()
        pic = picture(app)
        r = pic.content_region
        await pilot.click(pic, offset=(300 * r.width / 600, 200 * r.height / 400))   # inside cup 2
        await settle(app, pilot)
        (x, y, _), = app.image_pane.pointing.points
        assert 220 <= x < 380 and 120 <= y < 280
        await type_line(pilot, "this one")
        await settle(app, pilot)
        assert app.snapshot.current == 1 and app.snapshot.question is None, chat_texts(app)
        assert changed_inside(app, CUPS[1]) > 0.95

    three_cups(tmp_path, script)


def test_a_click_on_a_box_in_the_clarification_answers_it(tmp_path):
    async def script(app, pilot):
        pic = app.screen.query_one(".picture")
        r = pic.content_region
        await pilot.click(pic, offset=(500 * r.width / 600, 300 * r.height / 400))   # inside cup 3
        await settle(app, pilot)
        assert not isinstance(app.screen, tui.ClarifyScreen)
        assert app.snapshot.current == 1 and chat_texts(app, "user")[-1] == "3"
        assert changed_inside(app, CUPS[2]) > 0.95

    three_cups(tmp_path, script)


def test_a_click_outside_every_box_in_the_clarification_answers_this_one_with_the_point(tmp_path):
    async def script(app, pilot):
        pic = app.screen.query_one(".picture")
        r = pic.content_region
        await pilot.click(pic, offset=(100 * r.width / 600, 330 * r.height / 400))   # below cup 1, in no box
        await settle(app, pilot)
        said = chat_texts(app, "user")[-1]
        assert said.startswith("this one (point ") and app.snapshot.current == 0
        x, y = map(int, said.removeprefix("this one (point ").rstrip(")").split(","))
        assert abs(x - 100) <= 10 and abs(y - 330) <= 15
        assert app.snapshot.question is not None and isinstance(app.screen, tui.ClarifyScreen), "asked again"
        assert any("no candidate" in n.message for n in app._notifications)

    three_cups(tmp_path, script)


def test_a_click_while_a_preview_runs_is_previewed_when_it_ends(tmp_path):
    async def script(app, pilot, rec):
        import threading

        gate, fast = threading.Event(), app.editor.pointed_mask
        app.editor.pointed_mask = lambda **kw: (gate.wait(30), fast(**kw))[1]
        pic = picture(app)
        await pilot.click(pic, offset=(5, 5))
        assert app.busy, "the first click's preview runs as an editor call"
        await pilot.click(pic, offset=(9, 7))                         # refined while it runs
        gate.set()
        await settle(app, pilot)
        await settle(app, pilot)
        pointing = app.image_pane.pointing
        assert len(pointing.points) == 2 and rec.calls[-1] == pointing.kwargs() and len(rec.calls) == 2
        assert app.image_pane.mask_for == pointing and not app.busy

    run_app(script, tmp_path)
