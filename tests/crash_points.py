"""kill -9 at every write point of one operation: export, --gc, a revert and a branch, the first turn of a new session,
an answer to a pending question.

Run by tests/test_crashes.py as ``python -m tests.crash_points WORKDIR REPORT.json SCENARIO...``.

This process loads the tiny models once and builds each scenario's starting session. For kill point k = 1, 2, ...
it copies that session, forks a child that does the operation and kills itself (SIGKILL) just before its k-th
call to a file-changing primitive (``os.fsync``, ``os.replace``, ``os.rename``, ``os.link``, ``os.unlink``,
``os.write``, ``os.ftruncate``), and then reopens the copy and checks it; it stops at the first k the operation
outlives. What the child's replies announced goes to a journal with the real primitives first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HOOKED = ("fsync", "replace", "rename", "link", "unlink", "write", "ftruncate")
MAX_POINTS = 80
SCENARIOS = ("first-turn", "export", "gc", "branch", "answer")


def _tools() -> tuple[Any, Any, Any, Any]:
    import torch

    torch.set_num_threads(1)
    from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
    from tools.profiles import get_profile

    profile = get_profile("tiny")
    toolkit = FixedDetections(profile, {"cup": [det((10, 20, 50, 60), 0.9)], "table": [det((0, 70, 150, 100), 0.9)],
                                        "mug": [det((10, 20, 50, 60), 0.9), det((90, 20, 140, 60), 0.85)]})
    return profile, toolkit, QueuePlanner, plan


class Kit:
    """What every scenario needs: the tiny profile, the toolkit, a planner maker and the image."""

    def __init__(self) -> None:
        from tools.samples import sample_image

        self.profile, self.toolkit, self.QueuePlanner, self.plan = _tools()
        self.image = sample_image("coffee").resize((150, 100))

    def planner(self, *steps: dict) -> Any:
        return self.QueuePlanner().push(*(self.plan(s) for s in steps))

    def open(self, source: Any, planner: Any = None, **kwargs: Any) -> Any:
        from agent.editor import Editor

        return Editor.open(source, profile=self.profile, planner=planner or self.QueuePlanner(),
                           toolkit=self.toolkit, **kwargs)


def recolor(thing: str, colour: str) -> dict:
    return {"action": "recolor", "referent": {"phrase": thing}, "content": colour}


# -- the scenarios: prepare(kit, base) makes the starting folder; run(kit, trial, log) does the operation -------

def _prepare_session(kit: Kit, base: Path, *edits: tuple[str, str]) -> None:
    editor = kit.open(kit.image, kit.planner(*(recolor(t, c) for t, c in edits)), session_dir=base / "session")
    for thing, colour in edits:
        assert editor.send(f"make the {thing} {colour}").version is not None
    editor.close()


def prepare(kit: Kit, name: str, base: Path) -> None:
    base.mkdir(parents=True)
    if name == "first-turn":
        return
    _prepare_session(kit, base, ("cup", "red"), ("table", "blue"))
    if name == "export":
        editor = kit.open(base / "session")
        editor.export(base / "out" / "cup.png", version=1)        # an older export at the same path
        editor.close()
    elif name == "gc":                                            # files that belong to no version
        for kind, n in (("versions", 3), ("masks", 2), ("questions", 1)):
            for i in range(n):
                source = next((base / "session" / "versions").glob("*.png"), base / "session" / "original.png")
                shutil.copy(source, base / "session" / kind / f"{kind[0]}{i:063d}.png")
    elif name == "answer":
        editor = kit.open(base / "session", kit.planner(recolor("mug", "white")))
        assert editor.send("make the mug white").question is not None
        editor.close()


def run(kit: Kit, name: str, trial: Path, log: Any) -> None:
    if name == "first-turn":
        log({"start": "a new session"})
        editor = kit.open(kit.image, kit.planner(recolor("cup", "red")), session_dir=trial / "session")
        log({"start": "make the cup red"})
        announce(log, editor, editor.send("make the cup red"))
    elif name == "export":
        editor = kit.open(trial / "session")
        log({"start": "export"})
        path = editor.export(trial / "out" / "cup.png")
        log({"exported": str(path), "version": editor.current_version})
    elif name == "gc":
        from agent.housekeeping import collect

        log({"start": "gc"})
        log({"gc": collect(trial / "session")})
        return
    elif name == "branch":
        editor = kit.open(trial / "session", kit.planner(recolor("table", "white")))
        log({"start": "revert 1"})
        announce(log, editor, editor.revert(1))
        log({"start": "make the table white"})
        announce(log, editor, editor.send("make the table white"))
    elif name == "answer":
        editor = kit.open(trial / "session")
        log({"start": "answer 2"})
        announce(log, editor, editor.answer(2))
    editor.close()


def announce(log: Any, editor: Any, reply: Any) -> None:
    made = reply.version
    hist = editor.store.history
    log({"reply": reply.text, "version": made, "head": editor.current_version,
         "image": hist[made].image if made is not None else None,
         "parent": hist[made].parent if made is not None else None, "question": reply.question is not None})


# -- the kill --------------------------------------------------------------------------------------------------

def _arm(point: int) -> None:
    """Make the ``point``-th call to a hooked primitive from now on kill this process first."""
    count = [0]

    def hook(real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            if count[0] == point:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call

    for name in HOOKED:
        setattr(os, name, hook(getattr(os, name)))


def _child(kit: Kit, name: str, trial: Path, journal: Path, point: int) -> None:
    real_open, real_write, real_fsync, real_close = os.open, os.write, os.fsync, os.close

    def log(entry: dict) -> None:
        fd = real_open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            real_write(fd, (json.dumps(entry) + "\n").encode())
            real_fsync(fd)
        finally:
            real_close(fd)

    _arm(point)
    run(kit, name, trial, log)


# -- the check -------------------------------------------------------------------------------------------------

def check(kit: Kit, name: str, base: Path, trial: Path, journal: Path) -> dict:
    """Reopen the trial's session; every version it held before and every one announced must be intact."""
    entries = [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []
    problems: list[str] = []
    root = trial / "session"
    before = json.loads((base / "session" / "history.json").read_text())["versions"] if name != "first-turn" else []
    if name == "first-turn" and not (root / "history.json").exists() and not (root / "original.png").exists():
        try:                                     # killed before the session was made: starting again there works
            kit.open(kit.image, session_dir=root).close()
        except Exception as e:  # noqa: BLE001
            problems.append(f"starting again in {root.name}: {type(e).__name__}: {e}")
        return {"problems": problems, "note": "(no session yet)", "versions": 0, "entries": entries}
    try:
        editor = kit.open(root)
    except Exception as e:  # noqa: BLE001 - a session that does not reopen is what this looks for
        return {"problems": [f"reopening failed: {type(e).__name__}: {e}"], "note": None, "versions": 0,
                "entries": entries}
    note = editor.opening_note
    try:
        hist = editor.store.history
        for old in before:
            v = old["number"]
            if v > hist.latest or hist[v].image != old["image"] or hist[v].parent != old["parent"]:
                problems.append(f"version {v}, saved before the operation, changed or went")
        for e in entries:
            if e.get("version") is None or "image" not in e:
                continue
            v = e["version"]
            if v > hist.latest or hist[v].image != e["image"] or hist[v].parent != e["parent"]:
                problems.append(f"announced version {v} is gone or changed")
        for v in range(len(hist)):
            editor.version_image(v)                               # every image loads and matches its id
        last = entries[-1] if entries else None
        if last is not None and "head" in last and hist.head != last["head"]:
            problems.append(f"the head is {hist.head}; the last reply announced {last['head']}")
        if note is not None and ("\n" in note or "Traceback" in note):
            problems.append(f"the opening note is not one line: {note!r}")
        if name == "answer" and editor.pending_question is None and len(hist) == len(before):
            problems.append("the pending question is gone and its answer made nothing")
        if name == "export":
            problems += _check_export(editor, trial / "out")
    except Exception as e:  # noqa: BLE001
        problems.append(f"checking failed: {type(e).__name__}: {e} {traceback.format_exc(limit=3)!r}")
    finally:
        editor.close()
    return {"problems": problems, "note": note, "versions": len(hist), "entries": entries}


def _check_export(editor: Any, out: Path) -> list[str]:
    from PIL import Image, ImageChops

    target = out / "cup.png"
    with Image.open(target) as im:
        got = im.convert("RGB")
    if not any(ImageChops.difference(got, editor.version_image(v)).getbbox() is None for v in (1, 2)):
        return [f"{target} is neither the old export nor the new one"]
    left = [p for p in out.iterdir() if p.name != "cup.png"]
    for path in left:                                     # a killed export's temp file: the next export, once
        os.utime(path, (time.time() - 3600, time.time() - 3600))   # it is stale, removes it
    if left:
        editor.export(target)
    stays = [p.name for p in out.iterdir() if p.name != "cup.png"]
    return [f"left beside the export after the next one: {stays}"] if stays else []


def main(argv: list[str]) -> int:
    work, report, names = Path(argv[0]), Path(argv[1]), argv[2:] or list(SCENARIOS)
    kit = Kit()
    _prepare_session(kit, work / "warm-up", ("cup", "red"))       # every tiny model loaded once, before any fork
    results = []
    for name in names:
        base = work / name / "base"
        prepare(kit, name, base)
        for point in range(1, MAX_POINTS + 1):
            trial, journal = work / name / f"k{point}", work / name / f"k{point}.jsonl"
            shutil.copytree(base, trial, symlinks=True)
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    _child(kit, name, trial, journal, point)
                except BaseException:  # noqa: BLE001 - said to the parent by the exit status
                    traceback.print_exc()
                    code = 4
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            outcome = check(kit, name, base, trial, journal)
            results.append({"scenario": name, "point": point, "killed": killed,
                            "exit": None if killed else os.WEXITSTATUS(status), **outcome})
            shutil.rmtree(trial, ignore_errors=True)
            if not killed:
                break
    report.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
