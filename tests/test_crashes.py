"""Crashes and second writers, with real processes: kill -9 at chosen moments (a random campaign, and exact ones:
while a session is made, after an undo on a branch was saved, halfway through a reply), and a session open elsewhere."""

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


KILL_AT = """
import os, signal, sys
from pathlib import Path
import agent.session.store as store_module
from tools.atomic import atomic_write

root, point = Path(sys.argv[1]), sys.argv[2]

def killing_write(path, data, **kwargs):
    if point == "before the history" and Path(path).name == "history.json":
        os.kill(os.getpid(), signal.SIGKILL)
    atomic_write(path, data, **kwargs)
    if point == "after the history" and Path(path).name == "history.json":
        os.kill(os.getpid(), signal.SIGKILL)

store_module.atomic_write = killing_write
if point == "halfway through the reply":
    real_write = os.write
    def torn_write(fd, data):
        if b'"role": "assistant"' in bytes(data):
            real_write(fd, bytes(data)[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)
    os.write = torn_write
if point == "before the history":
    from tools.samples import sample_image
    store_module.SessionStore.create(root, sample_image("coffee").resize((60, 40)))
else:
    from agent.editor import Editor
    from tests.agent_fakes import QueuePlanner
    Editor.open(root, profile="tiny", planner=QueuePlanner()).undo()
print("not killed")
"""


def _killed(root: Path, point: str) -> None:
    done = subprocess.run([sys.executable, "-c", KILL_AT, str(root), point], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr[-2000:]


def _branched_store(root: Path, coffee) -> list[tuple[str, int | None]]:
    """A session of four versions in a tree (1 and 2 from 0, 3 from 2), its head at 3."""
    from agent.session.store import SessionStore

    small = coffee.resize((60, 40))
    store = SessionStore.create(root, small)
    for angle, parent in ((90, 0), (180, 0), (270, 2)):
        store.history.revert(parent)
        store.history.commit(store.put_image(small.rotate(angle)), instruction=f"turn {angle}")
        store.save_history()
    tree = [(v.image, v.parent) for v in store.history.versions]
    store.close()
    return tree


@pytest.mark.slow
def test_killed_while_a_new_session_is_made_it_reopens_at_the_original(tmp_path, tiny_profile):
    from tests.agent_fakes import QueuePlanner

    root = tmp_path / "session"
    _killed(root, "before the history")                       # original.png and version 0 written, no history.json
    assert not (root / "history.json").exists() and (root / "original.png").is_file()
    editor = Editor.open(root, profile=tiny_profile, planner=QueuePlanner())
    try:
        assert editor.current_version == 0 and len(editor.history) == 1
        note = editor.opening_note
        assert "the session stopped while it was being made" in note and "\n" not in note, note
        assert editor.current_image.size == (60, 40)
    finally:
        editor.close()
    assert (root / "history.json").is_file()                  # the repair was saved


@pytest.mark.slow
def test_killed_after_an_undo_on_a_branch_was_saved_but_before_its_reply(tmp_path, coffee, tiny_profile):
    from tests.agent_fakes import QueuePlanner

    root = tmp_path / "session"
    tree = _branched_store(root, coffee)
    _killed(root, "after the history")
    editor = Editor.open(root, profile=tiny_profile, planner=QueuePlanner())
    try:
        assert [(v.image, v.parent) for v in editor.store.history.versions] == tree
        assert editor.current_version == 2                    # the undo was saved: version 3's parent
        assert editor.opening_note == ('The session stopped before its reply to "/undo 1", after moving from '
                                       'version 3; now at version 2.')
        assert editor.redo().version is None and editor.current_version == 3
    finally:
        editor.close()


@pytest.mark.slow
def test_killed_halfway_through_writing_a_reply_the_reply_is_recovered_and_the_log_reads_on(tmp_path, coffee,
                                                                                          tiny_profile):
    from tests.agent_fakes import QueuePlanner

    root = tmp_path / "session"
    tree = _branched_store(root, coffee)
    _killed(root, "halfway through the reply")
    assert not (root / "conversation.jsonl").read_bytes().endswith(b"\n")     # a torn last line
    editor = Editor.open(root, profile=tiny_profile, planner=QueuePlanner())
    try:
        assert [(v.image, v.parent) for v in editor.store.history.versions] == tree and editor.current_version == 2
        assert editor.opening_note == ("The session stopped just before this reply was shown: Undid 1 edit; now at "
                                       "version 2.")
        assert editor.undo().error is None
    finally:
        editor.close()
    again = Editor.open(root, profile=tiny_profile, planner=QueuePlanner())
    texts = [text for _, text in again.conversation]
    again.close()
    assert texts[-3:] == ["The session stopped just before this reply was shown: Undid 1 edit; now at version 2.",
                          "/undo 1", "Undid 1 edit; now at the original."]


@pytest.mark.slow
def test_kill_9_at_every_write_point_of_an_export_a_gc_a_branch_a_first_turn_and_an_answer(tmp_path):
    """Each operation is killed just before each of its file-changing calls in turn (about 100 kills), and the
    session reopens with every version saved before and every one announced intact, its notes on one line.
    What this found: a new session killed before its first file could not be started again in its folder
    ("already exists; open it to resume", and it could not be opened); an export killed midway left its temp file."""
    from tests.crash_points import SCENARIOS

    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "tests.crash_points", str(tmp_path / "work"), str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    trials = json.loads(report.read_text())
    assert [t for t in trials if t["problems"]] == []
    for name in SCENARIOS:
        mine = [t for t in trials if t["scenario"] == name]
        assert sum(t["killed"] for t in mine) >= 4 and not mine[-1]["killed"] and mine[-1]["exit"] == 0, mine[-1]
    notes = [t["note"] or "" for t in trials]
    assert any("The question is still open" in n for n in notes)               # a killed answer keeps it
    assert any("after moving from version 2; now at version 1" in n for n in notes)    # a killed revert is said
    assert any(t["note"] == "(no session yet)" for t in trials)                 # and its folder takes a new one


def test_an_export_removes_only_stale_temp_files_a_killed_export_left(tmp_path, coffee, tiny_profile):
    """A fresh temp file beside the target may be another process's export in flight: it is left alone."""
    from tests.agent_fakes import QueuePlanner

    out = tmp_path / "out"
    out.mkdir()
    stale, fresh, other = out / ".cup.png.ab12cd34.tmp", out / ".cup.png.zz99yy88.tmp", out / ".cup.png.bak.x1.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"half a png")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    with Editor.open(coffee.resize((60, 40)), profile=tiny_profile, session_dir=tmp_path / "s",
                     planner=QueuePlanner()) as editor:
        editor.export(out / "cup.png")
    assert sorted(p.name for p in out.iterdir()) == sorted(["cup.png", fresh.name, other.name])


def _open_each(out: Path) -> list[str]:
    """Reopen every session under ``out``; what is wrong with each (a failure to open, an image that does not
    load, a note of more than one line)."""
    from tests.agent_fakes import QueuePlanner

    problems = []
    for root in sorted(out.glob("*/session")):
        if not (root / "history.json").exists() and not (root / "original.png").exists():
            continue
        try:
            with Editor.open(root, profile="tiny", planner=QueuePlanner()) as editor:
                for number in range(len(editor.history)):
                    editor.version_image(number)
                if "\n" in (editor.opening_note or ""):
                    problems.append(f"{root}: a note of several lines: {editor.opening_note!r}")
        except Exception as e:  # noqa: BLE001 - what this looks for
            problems.append(f"{root}: {type(e).__name__}: {e}")
    return problems


@pytest.mark.slow
def test_kill_9_of_a_parallel_run_leaves_sessions_that_reopen_and_a_rerun_on_the_same_out_plays(tmp_path):
    """`chatedit run --jobs 2` (worker processes) is killed with its workers while sessions are mid-turn, then
    after one has finished; each time every session under --out reopens, and a run on the same --out plays all."""
    from agent.session.history_file import is_session

    out = tmp_path / "out"
    files = [str(ROOT / "sessions" / n) for n in ("spatial.yaml", "dialog.yaml")]
    command = [sys.executable, "-c", "import sys, tui; sys.exit(tui.main())", "run", *files, "--profile", "tiny",
               "--jobs", "2", "--out", str(out)]

    def edited() -> bool:
        for root in out.glob("*/session"):
            try:
                if is_session(root) and json.loads((root / "history.json").read_text()).get("head", 0) >= 1:
                    return True
            except (OSError, ValueError):              # a rerun is replacing that folder now
                continue
        return False

    for moment in (edited, lambda: any(out.glob("*/transcript.json"))):
        run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 300
        while not moment() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGKILL)
        said = run.communicate(timeout=60)[0].decode(errors="replace")
        assert run.returncode == -signal.SIGKILL, said[-2000:]
        assert _open_each(out) == []
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "Traceback" not in done.stdout + done.stderr and "2 passed" in done.stdout
    assert _open_each(out) == []
