"""Every shipped session (sessions/*.yaml) plays in the tiny profile on its pinned planner replies and passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.scripted.runner import EXIT_OK, run_main
from agent.scripted.session_file import load_session_file
from agent.scripted.transcript import read_json

SESSIONS = sorted((Path(__file__).resolve().parent.parent / "sessions").glob("*.yaml"))


def _steps(path: Path) -> list[dict]:
    return [s.model_dump() for t in load_session_file(path).spec.turns if t.plan for s in t.plan.steps]


def test_the_catalogue_covers_every_kind_of_dialog():
    """At least seven sessions, between them: compound, ambiguity (number and words), spatial, coreference,
    undo/redo/revert, global and DiffEdit."""
    assert len(SESSIONS) >= 7
    turns = [t for p in SESSIONS for t in load_session_file(p).spec.turns]
    steps = [s for p in SESSIONS for s in _steps(p)]
    plans = [t.plan for t in turns if t.plan]
    assert any(len(p.edits) >= 2 for p in plans), "a compound instruction"
    assert any(t.kind == "answer" and isinstance(t.answer, int) for t in turns), "an answer by number"
    assert any(t.kind == "answer" and isinstance(t.answer, str) for t in turns), "an answer in words"
    assert any((s["referent"] or {}).get("selector") in ("leftmost", "rightmost", "nth_from_left") for s in steps)
    assert any((s["referent"] or {}).get("last_edited") for s in steps), "coreference"
    assert {"undo", "redo", "revert"} <= {t.kind for t in turns} | {s["action"] for s in steps}
    assert any(s["action"] == "global" and s["referent"] is None for s in steps), "a global edit"
    assert any(s["action"] == "global" and s["referent"] is not None for s in steps), "a DiffEdit edit"
    assert all(t.expect is not None for t in turns), "every turn checks something"


@pytest.mark.slow
@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_session_plays_and_passes_in_the_tiny_profile(path, tmp_path):
    out = tmp_path / path.stem
    assert run_main([str(path), "--profile", "tiny", "--out", str(out)]) == EXIT_OK
    record = read_json(out / "transcript.json")
    assert record.passed and record.profile == "tiny"
    assert len(record.turns) == len(load_session_file(path).spec.turns)
    # CI never needs a planner model: every planner call of every turn was answered by a pinned reply.
    assert all(len(t.planner_replies) == t.pinned for t in record.turns)
    for v in record.versions:
        assert (out / v.image).is_file()
        if v.turn:
            assert v.mask is not None and (out / v.mask).is_file()
    for t in record.turns:
        if t.question is not None:
            assert t.question["candidates"] and (out / t.question["image"]).is_file()
    md = (out / "transcript.md").read_text()
    assert all(f"]({v.image})" in md for v in record.versions)
    assert (out / "contact_sheet.png").is_file()
