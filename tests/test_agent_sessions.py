"""Listing saved sessions: real session folders made by the Editor (tiny models, fake planner and boxes)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from agent.editor import Editor
from agent.session.sessions import SessionSummary, latest_session, list_sessions, sessions_root
from agent.session.store import HISTORY
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.samples import sample_image

SIZE = (150, 100)
DETS = {"cup": [det((10, 20, 50, 60), 0.8), det((95, 15, 140, 65), 0.78)], "table": [det((0, 70, 150, 100), 0.9)]}
STAMPS = {"plain": 1_700_000_000, "broken": 1_700_000_100, "edited": 1_700_000_200, "asking": 1_700_000_300}
"""Each session's history.json mtime, so the newest-first order is known: asking, edited, broken, plain."""


def _recolor(phrase: str, colour: str) -> dict:
    return plan({"action": "recolor", "referent": {"phrase": phrase}, "content": colour})


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_profile) -> Path:
    """A sessions folder: one just opened, one edited, one waiting on a question, one damaged, plus clutter."""
    root = tmp_path_factory.mktemp("sessions")
    image = sample_image("coffee").resize(SIZE)

    def session(name: str, *replies: dict) -> Editor:
        return Editor.open(image, profile=tiny_profile, session_dir=root / name,
                           planner=QueuePlanner().push(*replies), toolkit=FixedDetections(tiny_profile, DETS))

    with session("plain"):
        pass
    with session("edited", _recolor("table", "blue")) as editor:
        assert editor.send("make the table blue").version == 1
    with session("asking", _recolor("cup", "red")) as editor:
        assert editor.send("make the cup red").question is not None
    (root / "broken").mkdir()
    (root / "broken" / HISTORY).write_text("{ not json", encoding="utf-8")
    (root / "notes").mkdir()                                      # a folder that is not a session
    (root / "notes" / "todo.txt").write_text("paint the cup", encoding="utf-8")
    (root / "README.txt").write_text("not a session either", encoding="utf-8")
    for name, stamp in STAMPS.items():
        os.utime(root / name / HISTORY, (stamp, stamp))
    return root


def test_lists_real_sessions_newest_first_and_skips_what_is_not_a_session(root):
    sessions = list_sessions(root)
    assert all(isinstance(s, SessionSummary) for s in sessions)
    assert [s.name for s in sessions] == ["asking", "edited", "broken", "plain"]
    by_name = {s.name: s for s in sessions}
    assert by_name["plain"].versions == 1 and not by_name["plain"].awaiting_answer
    assert by_name["edited"].versions == 2 and not by_name["edited"].awaiting_answer
    assert by_name["asking"].versions == 1 and by_name["asking"].awaiting_answer
    assert by_name["asking"].path == root / "asking" and by_name["asking"].modified == STAMPS["asking"]


def test_a_damaged_session_is_listed_as_such_not_raised(root):
    broken = next(s for s in list_sessions(root) if s.name == "broken")
    assert broken.damaged and broken.versions is None and not broken.awaiting_answer
    assert not any(s.damaged for s in list_sessions(root) if s.name != "broken")


def test_listing_changes_nothing_and_the_question_is_still_pending(root, tiny_profile):
    list_sessions(root)
    assert (root / "asking" / HISTORY).stat().st_mtime == STAMPS["asking"]
    with Editor.open(root / "asking", profile=tiny_profile, planner=QueuePlanner(),
                     toolkit=FixedDetections(tiny_profile, DETS)) as editor:
        assert editor.pending_question is not None
    os.utime(root / "asking" / HISTORY, (STAMPS["asking"], STAMPS["asking"]))  # reopening may touch it


def test_latest_session_is_the_newest_and_none_where_there_is_none(root, tmp_path):
    latest = latest_session(root)
    assert latest is not None and latest.name == "asking" and latest.awaiting_answer
    assert latest_session(tmp_path / "nowhere") is None
    assert list_sessions(tmp_path / "nowhere") == []
    (tmp_path / "empty").mkdir()
    assert list_sessions(tmp_path / "empty") == [] and latest_session(tmp_path / "empty") is None


def test_last_change_is_local_time_to_the_minute(root):
    plain = next(s for s in list_sessions(root) if s.name == "plain")
    assert plain.last_change == datetime.fromtimestamp(STAMPS["plain"]).strftime("%Y-%m-%d %H:%M")


def test_the_default_root_is_where_the_editor_puts_new_sessions(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert sessions_root() == tmp_path / "data" / "chatedit" / "sessions"
    assert list_sessions() == [] and latest_session() is None


def test_the_sessions_command_says_a_wrong_root_or_option_in_one_line(tmp_path, capsys):
    from agent.housekeeping import sessions_main

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    assert sessions_main(["--root", str(a_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"chatedit sessions: --root {a_file} is a file, not a folder; give the folder that holds the sessions"
    with pytest.raises(SystemExit) as stop:
        sessions_main(["--gcc", "x"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and "did you mean --gc?" in lines[0]
