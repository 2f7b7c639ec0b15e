"""The clarification screen: candidates with position words and colour swatches, readable numbers, the whole
list visible, a picture only where it has room, the full-size picture outside the terminal, clicks on boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from textual.app import App
from textual.widgets import OptionList

import tui_clarify
from agent.replies import Candidate, Question
from tools.masks import annotate
from tools.samples import sample_path
from tui_clarify import MIN_PICTURE_ROWS, ClarifyScreen
from tui_pilot import play
from tui_pointing import Pointing

pytestmark = [pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning"),
              pytest.mark.slow]            # each test starts the whole app; -m "not slow" skips them

BOXES = [(10, 150, 110, 250), (480, 10, 590, 90), (250, 150, 350, 250), (250, 300, 350, 395),
         (10, 10, 90, 90), (500, 300, 590, 390), (130, 300, 200, 380), (400, 150, 470, 230), (150, 20, 230, 100)]
WORDS = ["left", "top right", "centre", "bottom", "top left", "bottom right", "bottom left", "right", "top left"]
"""Nine candidates (the most a number key picks) and where each one is, in words."""


def question(tmp_path: Path, boxes=BOXES) -> Question:
    photo = Image.open(sample_path("coffee")).convert("RGB")
    path = tmp_path / "question.png"
    annotate(photo, boxes, ["cup"] * len(boxes)).save(path)
    cands = tuple(Candidate(i + 1, tuple(map(float, b)), "cup", 0.9 - i / 20) for i, b in enumerate(boxes))
    return Question("Which cup do you mean?", cands, path)


class Host(App[None]):
    def __init__(self, q: Question) -> None:
        super().__init__()
        self.q, self.answers = q, []

    def on_mount(self) -> None:
        self.push_screen(ClarifyScreen(self.q, "halfcell"), callback=self.answers.append)


def run(q: Question, script, size=(160, 48)) -> Host:
    """The clarification of ``q`` on its own; ``script(app, pilot, screen)``."""
    async def shown(app, pilot):
        await pilot.pause()
        await script(app, pilot, app.screen)

    return play(Host(q), shown, size)


def test_each_candidate_has_its_number_position_words_and_its_box_colour_and_all_show_at_once(tmp_path):
    q = question(tmp_path)
    annotated = Image.open(q.image_path)

    async def script(app, pilot, screen):
        options = screen.query_one(OptionList)
        assert options.option_count == 9 and options.max_scroll_y == 0 and options.region.height >= 9
        for c, words, option in zip(q.candidates, WORDS, (options.get_option_at_index(i) for i in range(9)),
                                    strict=True):
            text = option.prompt
            assert text.plain.split(" · ")[0] == f"██ {c.number} cup" and f"· {words} " in text.plain
            swatch = next(s.style for s in text.spans if s.end <= 2)
            x0, y0, _, y1 = c.box
            drawn = annotated.getpixel((int(x0) + 1, int((y0 + y1) / 2)))   # the box's left edge in the picture
            assert str(swatch) == "rgb({},{},{})".format(*drawn), (c.number, swatch, drawn)
        assert screen.query_one("#body").has_class("-side")            # a wide terminal: picture beside the list
        assert screen.query_one(".picture").region.height >= MIN_PICTURE_ROWS

    run(q, script)


def test_the_numbers_on_the_picture_are_large_enough_for_half_cells(tmp_path):
    q = question(tmp_path)

    async def script(app, pilot, screen):
        shown = screen.query_one(".picture").image
        colours = tui_clarify.candidate_colors(len(q.candidates))
        s = shown.width / 600
        for c, colour in zip(q.candidates, colours, strict=True):
            cx = int((c.box[0] + c.box[2]) / 2 * s)
            near_centre = range(max(0, cx - 40), min(shown.width, cx + 40))
            tall = sum(1 for y in range(shown.height) if any(shown.getpixel((x, y)) == colour for x in near_centre))
            assert tall >= shown.height / 7, (c.number, tall, shown.height)  # the tag: ≥ 1/7 of the picture's rows

    run(q, script)


def test_a_small_terminal_shows_the_whole_list_without_the_picture_and_says_so(tmp_path):
    q = question(tmp_path)

    async def script(app, pilot, screen):
        body = screen.query_one("#body")
        assert body.has_class("-list-only") and not screen.query_one("#body Center").display
        options = screen.query_one(OptionList)
        assert options.region.height >= 9 and options.max_scroll_y == 0
        assert "picture hidden" in str(screen.query_one("#full").content)
        await pilot.press("3")
        await pilot.pause()

    assert run(q, script, size=(80, 24)).answers == [3]


def test_a_few_candidates_on_a_small_terminal_still_get_a_picture(tmp_path):
    q = question(tmp_path, BOXES[:3])

    async def script(app, pilot, screen):
        assert not screen.query_one("#body").has_class("-list-only")
        assert screen.query_one(".picture").region.height >= MIN_PICTURE_ROWS

    run(q, script, size=(80, 30))


def test_ctrl_o_opens_the_full_size_picture_or_says_where_it_is(tmp_path, monkeypatch):
    q = question(tmp_path)
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "xdg-open"
    opener.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    opener.chmod(0o755)

    async def script(app, pilot, screen):
        monkeypatch.setattr(tui_clarify.shutil, "which", lambda name: None)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert any(f"the picture is at {q.image_path}" in n.message for n in app._notifications)
        monkeypatch.setattr(tui_clarify.shutil, "which", lambda name: str(opener))
        await pilot.press("ctrl+o")
        for _ in range(50):
            await pilot.pause(0.05)
            if opened.exists():
                break
        assert opened.read_text().strip() == str(q.image_path)
        assert isinstance(app.screen, ClarifyScreen), "opening it leaves the question open"

    run(q, script)


def test_a_click_on_a_box_picks_it_and_a_click_elsewhere_answers_with_the_point(tmp_path):
    q = question(tmp_path, BOXES[:3])

    async def click(pilot, screen, x, y):
        pic = screen.query_one(".picture")
        r = pic.content_region
        await pilot.click(pic, offset=(x * r.width / 600, y * r.height / 400))
        await pilot.pause()

    async def pick(app, pilot, screen):
        await click(pilot, screen, 300, 200)               # inside box 3 (centre)

    async def point(app, pilot, screen):
        await click(pilot, screen, 560, 370)               # in no box

    assert run(q, pick).answers == [3]
    answer = run(q, point).answers[0]
    assert isinstance(answer, Pointing) and answer.box is None
    (x, y, positive), = answer.points
    assert positive and abs(x - 560) <= 15 and abs(y - 370) <= 15
