"""kill -9 campaign: a process editing a session is killed at chosen moments; no announced version may be lost.

Run by tests/test_crashes.py as ``python -m tests.crash_campaign SESSION_DIR REPORT.json TRIALS SEED``.

This process imports everything and loads the tiny models once (one warm-up turn on a scratch
session, torch held to one thread so a fork is safe), then forks one child per trial. The child
reopens the session and talks to it without end (edits, undo, redo, revert); after every reply it
appends what the reply announced to a journal (fsynced). This process watches the child's stage
(plan, locate, segment, edit, commit; "replied" right after a reply returns; "move" during a direct
undo/redo/revert) in shared memory and kills it with SIGKILL as it enters the trial's target
stage, after a random few milliseconds. Then it reopens the session and checks every announcement.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from multiprocessing import Array
from pathlib import Path

STAGES = ["plan", "locate", "segment", "edit", "commit", "replied", "move"]
TARGETS = ["plan", "edit", "commit", "replied", "move", "segment", "any"]


def _tools():
    import torch

    torch.set_num_threads(1)
    from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
    from tools.profiles import get_profile

    profile = get_profile("tiny")
    toolkit = FixedDetections(profile, {"cup": [det((10, 20, 50, 60), 0.9)], "table": [det((0, 70, 150, 100), 0.9)],
                                        "saucer": [det((20, 30, 120, 80), 0.9)]})
    return profile, toolkit, QueuePlanner, plan


def _child(session: Path, journal: Path, stage, seed: int, profile, toolkit, QueuePlanner, plan) -> None:  # noqa: N803
    from agent.editor import Editor

    rng = random.Random(seed)
    colours = ["red", "green", "blue", "white", "black", "grey", "pink", "brown"]

    def mark(name: str) -> None:
        stage.value = (STAGES.index(name) + 1) if name in STAGES else 0

    def log(entry: dict) -> None:
        with open(journal, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    planner = QueuePlanner()
    editor = Editor.open(session, profile=profile, planner=planner, toolkit=toolkit, seed=seed)
    editor.on_progress = lambda name, step, total: mark(name)
    while True:
        roll = rng.random()
        if roll < 0.6 or editor.current_version == 0:
            thing, colour = rng.choice(["cup", "table", "saucer"]), rng.choice(colours)
            planner.push(plan({"action": "recolor", "referent": {"phrase": thing}, "content": colour}))
            log({"start": f"{colour} {thing}"})
            reply = editor.send(f"make the {thing} {colour}")
        else:
            kind = rng.choice(["undo", "redo", "revert"])
            arg = rng.randrange(0, editor.store.history.latest + 1) if kind == "revert" else 1
            log({"start": f"{kind} {arg}"})
            mark("move")
            reply = getattr(editor, kind)(arg)
        mark("replied")
        head = editor.current_version
        made = reply.version
        log({"reply": reply.text, "version": made, "head": head,
             "image": editor.store.history[made].image if made is not None else None,
             "parent": editor.store.history[made].parent if made is not None else None})


def _check(session: Path, journal: Path, profile, toolkit, QueuePlanner) -> dict:  # noqa: N803
    from agent.editor import Editor

    entries = []
    for line in (journal.read_text().splitlines() if journal.exists() else []):
        try:
            entries.append(json.loads(line))
        except ValueError:                                 # a line torn by the kill: nothing it said was shown
            pass
    problems: list[str] = []
    editor = Editor.open(session, profile=profile, planner=QueuePlanner(), toolkit=toolkit)
    try:
        hist = editor.store.history
        for e in entries:
            if e.get("version") is None:
                continue
            v = e["version"]
            if v > hist.latest:
                problems.append(f"announced version {v} is gone (latest {hist.latest})")
                continue
            if hist[v].image != e["image"] or hist[v].parent != e["parent"]:
                problems.append(f"announced version {v} changed: {hist[v].image[:8]} from {hist[v].parent}, "
                                f"announced {e['image'][:8]} from {e['parent']}")
            editor.version_image(v)                           # its pixels load and match their id
        last = entries[-1] if entries else None
        if last is not None and "reply" in last and hist.head != last["head"]:
            problems.append(f"the head is {hist.head}, the last reply announced {last['head']}")
        editor.current_image
        note = editor.opening_note
    finally:
        editor.close()
    return {"problems": problems, "note": note, "versions": len(hist), "announced": sum(
        1 for e in entries if e.get("version") is not None)}


def main(argv: list[str]) -> int:
    session, report, trials, seed = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    profile, toolkit, QueuePlanner, plan = _tools()      # noqa: N806
    from agent.editor import Editor
    from tools.samples import sample_image

    image = sample_image("coffee").resize((150, 100))
    warm = Editor.open(image, profile=profile, session_dir=session.parent / "warm-up",
                       planner=QueuePlanner().push(plan({"action": "recolor", "referent": {"phrase": "cup"},
                                                         "content": "red"})), toolkit=toolkit)
    warm.send("red cup")                                  # every tiny model loaded once, before any fork
    warm.close()
    Editor.open(image, profile=profile, session_dir=session, planner=QueuePlanner(), toolkit=toolkit).close()
    journal = session.parent / "journal.jsonl"
    rng = random.Random(seed)
    results = []
    stage = Array("i", 1, lock=False)
    for trial in range(trials):
        target = TARGETS[trial % len(TARGETS)]
        stage[0] = 0
        pid = os.fork()
        if pid == 0:                                      # the child: edit until killed
            try:
                _child(session, journal, _Cell(stage), seed * 1000 + trial, profile, toolkit, QueuePlanner, plan)
            finally:
                os._exit(3)
        deadline = time.monotonic() + 20
        killed_in, reached = None, False
        while time.monotonic() < deadline:
            now = stage[0]
            if now and (target == "any" or STAGES[now - 1] == target):
                if target == "any" and rng.random() < 0.97:
                    time.sleep(0.0005)
                    continue
                time.sleep(rng.uniform(0, 0.004))
                killed_in, reached = (STAGES[stage[0] - 1] if stage[0] else "?"), True
                break
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.0002)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        outcome = _check(session, journal, profile, toolkit, QueuePlanner)
        results.append({"trial": trial, "target": target, "reached": reached, "killed_in": killed_in, **outcome})
    report.write_text(json.dumps(results, indent=1))
    return 0


class _Cell:
    """One shared int as ``.value`` (the child writes its stage, this process reads it)."""

    def __init__(self, array) -> None:
        self._array = array

    @property
    def value(self) -> int:
        return self._array[0]

    @value.setter
    def value(self, v: int) -> None:
        self._array[0] = v


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
