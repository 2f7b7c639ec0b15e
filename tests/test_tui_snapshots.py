"""Snapshot tests of the TUI (pytest-textual-snapshot): the main screen, a clarification, the history view.

A small (80×24) and a large (160×48) terminal, cursor blink off, half-cell images, the tiny profile over
the real Editor with a scripted planner, and the session under a fake home folder so every path on screen
is the same on every machine. After a deliberate change to the screen, look at the diff in the HTML report, then
``make test ARGS="tests/test_tui_snapshots.py --snapshot-update"``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tui
from tui_pilot import plan, planner, recolor_box, settle, type_line
from tools.samples import sample_path

pytestmark = [pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning"),
              pytest.mark.slow]            # each test starts the whole app; -m "not slow" skips them

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home folder: the status line shows the session as ``~/session`` everywhere."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def app_for(home: Path, *replies: str) -> tui.ChatEditApp:
    return tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=home / "session",
                           planner=planner(*replies), image_mode="halfcell")


async def opened(pilot) -> None:
    app = pilot.app
    await settle(app, pilot)
    app.query_one("#prompt", tui.PromptArea).cursor_blink = False


@SIZES
def test_main_screen_after_an_edit(snap_compare, home, size):
    async def run_before(pilot):
        await opened(pilot)
        await type_line(pilot, "make the cup red")
        await settle(pilot.app, pilot)
        assert pilot.app.snapshot.current == 1
        newest = pilot.app.query(".message").last()
        assert newest.region.bottom <= pilot.app.chat.region.bottom, "the newest reply is in view"

    assert snap_compare(app_for(home, recolor_box()), terminal_size=size, run_before=run_before)


@SIZES
def test_clarification_with_numbered_candidates(snap_compare, home, size):
    ambiguous = plan({"action": "recolor", "referent": {"phrase": "the cup"}, "content": "blue"})

    async def run_before(pilot):
        await opened(pilot)
        await type_line(pilot, "make the cup blue")
        await settle(pilot.app, pilot)
        assert isinstance(pilot.app.screen, tui.ClarifyScreen)

    assert snap_compare(app_for(home, ambiguous), terminal_size=size, run_before=run_before)


@SIZES
def test_history_tree_with_a_branch_previewing_a_version(snap_compare, home, size):
    second = plan({"action": "recolor", "referent": {"box": [20.0, 250.0, 200.0, 390.0]}, "content": "green"})

    async def run_before(pilot):
        app = pilot.app
        await opened(pilot)
        for text in ("make the cup red", "make the table corner green", "/undo", "make the cup red"):
            await type_line(pilot, text)
            await settle(app, pilot)
        assert app.snapshot.current == 3 and len(app.snapshot.versions) == 4     # v3 branches from v1
        app.query_one(tui.HistoryList).focus()
        await pilot.press("up")
        await settle(app, pilot)
        assert app.snapshot.current == 3 and app.image_pane.preview is not None

    assert snap_compare(app_for(home, recolor_box(), second, recolor_box()), terminal_size=size,
                        run_before=run_before)

