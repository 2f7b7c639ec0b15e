"""Two processes on one session or one file, with real processes: a chat TUI mid-turn and a second opener (an Editor,
a read-only viewer, `chatedit run`, `chatedit sessions --gc`), and two exports racing to one path."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from agent.editor import Editor, SessionLockedError
from terminal import Terminal, wait_for
from tests.agent_fakes import QueuePlanner

ROOT = Path(__file__).resolve().parent.parent
CHATEDIT = [sys.executable, "-c", "import sys, tui; sys.exit(tui.main())"]


def _logged(root: Path, text: str) -> bool:
    from agent.session.conversation import CONVERSATION, Conversation

    return any(m.text == text for m in Conversation(root / CONVERSATION, writable=False).messages)


@pytest.mark.slow
def test_a_tui_mid_turn_keeps_its_session_from_every_second_opener_and_a_viewer_sees_the_saved_state(tmp_path):
    root = tmp_path / "session"
    term = Terminal("coffee", str(root), "hold")
    try:
        term.opened(root)
        term.type("make the cup red\r")
        wait_for(lambda: _logged(root, "make the cup red"), terminal=term)
        holder = f"pid {term.process.pid}"

        with pytest.raises(SessionLockedError) as refused:
            Editor.open(root, profile="tiny", planner=QueuePlanner())
        assert holder in str(refused.value) and "read-only" in str(refused.value) and "\n" not in str(refused.value)

        with Editor.open(root, profile="tiny", planner=QueuePlanner(), read_only=True) as viewer:
            assert viewer.current_version == 0 and len(viewer.history) == 1 and viewer.pending_question is None
            assert viewer.send("make it blue").error and viewer.opening_note is None

        run = subprocess.run([*CHATEDIT, "run", str(ROOT / "sessions" / "spatial.yaml"), "--profile", "tiny",
                              "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        said = run.stdout + run.stderr
        assert run.returncode != 0 and holder in said and "Traceback" not in said, said[-2000:]

        gc = subprocess.run([*CHATEDIT, "sessions", "--gc", str(root)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
        assert gc.returncode == 1 and holder in gc.stderr and len(gc.stderr.strip().splitlines()) == 1, gc.stderr
        assert term.process.poll() is None                    # the TUI goes on, its session untouched
    finally:
        term.kill()
    with Editor.open(root, profile="tiny", planner=QueuePlanner()) as editor:
        assert editor.current_version == 0
        assert editor.opening_note == 'The session stopped before "make the cup red" was done; nothing changed.'


EXPORTER = """
import sys
from agent.editor import Editor
from tests.agent_fakes import QueuePlanner
editor = Editor.open(sys.argv[1], profile="tiny", planner=QueuePlanner(), read_only=True)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(40):
    editor.export(sys.argv[2], version=int(sys.argv[3]))
print("done", flush=True)
"""


@pytest.mark.slow
def test_two_processes_exporting_to_one_path_never_leave_half_a_file(tmp_path, coffee):
    """Two read-only openers export versions 1 and 2 to one path, 40 times each, while it is read over and over:
    every read is one whole version, and no temp file is left."""
    from agent.session.store import SessionStore

    root, target = tmp_path / "s", tmp_path / "out" / "same.png"
    small = coffee.resize((120, 80))
    store = SessionStore.create(root, small)
    for angle in (90, 180):
        store.history.commit(store.put_image(small.rotate(angle)), instruction=f"turn {angle}")
        store.save_history()
    store.close()
    versions = [small.rotate(90), small.rotate(180)]
    exporters = [subprocess.Popen([sys.executable, "-c", EXPORTER, str(root), str(target), str(v)], cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for v in (1, 2)]
    for p in exporters:
        assert p.stdout.readline().strip() == "ready"
    for p in exporters:
        p.stdin.write("go\n")
        p.stdin.flush()
    reads = 0
    while any(p.poll() is None for p in exporters) or reads == 0:
        if target.exists():
            with Image.open(target) as im:
                got = im.convert("RGB")
            assert any(ImageChops.difference(got, v).getbbox() is None for v in versions)
            reads += 1
        time.sleep(0.001)
    for p in exporters:
        assert p.wait(60) == 0 and p.stdout.read().strip() == "done"
    assert reads > 5 and [p.name for p in target.parent.iterdir()] == ["same.png"]
