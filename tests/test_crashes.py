"""Crashes and second writers, with real processes: kill -9 at chosen moments, and a session open elsewhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.editor import Editor, SessionLockedError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_kill_9_at_any_moment_never_loses_an_announced_version(tmp_path):
    """49 kills (7 each while planning, segmenting, editing, committing, just after a reply, during an undo/redo/
    revert, and at random), each followed by a reopening that checks every version a reply ever announced."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "tests.crash_campaign", str(tmp_path / "session"), str(report),
                           "49", "7"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    trials = json.loads(report.read_text())
    assert len(trials) == 49
    assert all(t["reached"] for t in trials if t["target"] != "any"), [t for t in trials if not t["reached"]]
    assert {t["target"] for t in trials} >= {"plan", "edit", "commit", "replied", "move", "segment"}
    assert [t for t in trials if t["problems"]] == []
    assert trials[-1]["announced"] >= 10 and trials[-1]["versions"] >= 5    # the session really grew meanwhile


HOLD = """
import sys, time
from agent.editor import Editor
from tests.agent_fakes import QueuePlanner
from tools.profiles import get_profile
editor = Editor.open(sys.argv[1], profile=get_profile("tiny"), planner=QueuePlanner())
print("holding", flush=True)
time.sleep(600)
"""


def test_a_second_process_is_refused_with_the_holder_named_until_the_holder_dies(tmp_path, coffee, tiny_profile):
    from tests.agent_fakes import QueuePlanner

    root = tmp_path / "session"
    Editor.open(coffee.resize((150, 100)), profile=tiny_profile, session_dir=root, planner=QueuePlanner()).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(SessionLockedError) as refused:
            Editor.open(root, profile=tiny_profile, planner=QueuePlanner())
        message = str(refused.value)
        assert f"pid {holder.pid}" in message and "read-only" in message and "\n" not in message
        viewer = Editor.open(root, profile=tiny_profile, planner=QueuePlanner(), read_only=True)
        assert viewer.current_version == 0 and viewer.send("make it red").error
        viewer.close()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    deadline = time.monotonic() + 10
    while True:                                       # the kernel drops a dead holder's lock at once
        try:
            editor = Editor.open(root, profile=tiny_profile, planner=QueuePlanner())
            break
        except SessionLockedError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert editor.current_version == 0
    editor.close()
