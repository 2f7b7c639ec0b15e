"""Checkpoints hold only the turn in flight: a thousand turns keep checkpoints.sqlite small and growing linearly."""

from __future__ import annotations

import json

import pytest

from agent.scripted.runner import EXIT_OK, run_main
from agent.scripted.transcript import read_json


def _size(folder) -> int:
    return sum(p.stat().st_size for p in folder.glob("checkpoints.sqlite*"))


@pytest.mark.slow
def test_a_thousand_turn_scripted_session_keeps_its_checkpoints_under_20_mb(tmp_path, coffee):
    coffee.resize((96, 64)).save(tmp_path / "small.png")
    talk = ("  - user: what is in the picture?\n"
            "    plan: {reasoning: a question, steps: [{action: answer, content: a cup of coffee on a saucer}]}\n")
    edit = ("  - user: make the corner {colour}\n"
            "    plan: {{reasoning: recolour the corner, steps: [{{action: recolor, referent: {{box: [0, 0, 30, 20]}},"
            " content: {colour}}}]}}\n    expect: {{edited: true}}\n")
    turns = []
    for i in range(1000):
        if i % 10 == 0:
            turns.append(edit.format(colour=["red", "green", "blue"][i // 10 % 3]))
        elif i % 10 == 5:
            turns.append("  - undo: 1\n" if i % 20 == 5 else "  - redo: 1\n")
        else:
            turns.append(talk)
    path = tmp_path / "long.yaml"
    path.write_text("image: small.png\nturns:\n" + "".join(turns))
    out = tmp_path / "out"
    assert run_main([str(path), "--profile", "tiny", "--out", str(out)]) == EXIT_OK
    record = read_json(out / "transcript.json")
    assert len(record.turns) == 1000 and record.passed and len(record.versions) == 101
    session = out / "session"
    assert _size(session) < 20 * 2 ** 20
    said = [json.loads(line) for line in (session / "conversation.jsonl").read_text().splitlines()]
    assert sum(m["role"] == "user" for m in said) == 1000 and sum(m["role"] == "assistant" for m in said) == 1000


def test_checkpoints_grow_by_a_few_kilobytes_a_turn_however_long_the_conversation(tmp_path, coffee, tiny_profile):
    from agent.editor import Editor
    from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

    planner = QueuePlanner()
    editor = Editor.open(coffee.resize((96, 64)), profile=tiny_profile, session_dir=tmp_path / "s", planner=planner,
                         toolkit=FixedDetections(tiny_profile, {"cup": [det((10, 10, 40, 40))]}))
    sizes = {}
    for turn in range(1, 121):
        planner.push(plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": ["red", "blue"][turn % 2]}))
        assert editor.send("recolour the cup").version == turn
        if turn in (20, 120):
            editor.store.checkpointer().conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes[turn] = _size(editor.session_dir)
    editor.close()
    per_turn = (sizes[120] - sizes[20]) / 100
    assert per_turn < 20_000, per_turn                   # the conversation is not stored again each turn
