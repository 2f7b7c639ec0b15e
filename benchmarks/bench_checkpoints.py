"""Benchmark: how a session's files grow with the conversation (checkpoints, conversation log, history).

    python benchmarks/bench_checkpoints.py                     # 1000 turns, sizes at turns 10, 100, 1000
    python benchmarks/bench_checkpoints.py --turns 100 --at 10,100

Plays ``--turns`` edit turns (a pinned recolour plan on a box; the tiny profile's real tools) through
the Editor, and at each turn of ``--at`` reports the bytes of ``checkpoints.sqlite`` (after a WAL
checkpoint, so the number is the database itself), of ``conversation.jsonl`` and of ``history.json``,
with the bytes each grew per turn since the previous mark. Numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from harness import table  # noqa: E402


def play(root: Path, turns: int, marks: list[int]) -> list[list[object]]:
    from agent.editor import Editor
    from agent.scripted.scripted_planner import ScriptedPlanner
    from tools.samples import sample_image

    planner = ScriptedPlanner()
    editor = Editor.open(sample_image("coffee").resize((300, 200)), profile="tiny", session_dir=root,
                         planner=planner)
    rows: list[list[object]] = []
    last: dict[str, int] = {}
    last_turn, start = 0, time.perf_counter()
    try:
        for turn in range(1, turns + 1):
            colour = ("red", "green", "blue")[turn % 3]
            step = {"action": "recolor", "referent": {"box": [10, 10, 90, 70]}, "content": colour}
            planner.pin([json.dumps({"reasoning": "recolour the box", "steps": [step]})])
            reply = editor.send(f"make the corner {colour}")
            if reply.version is None:
                raise SystemExit(f"turn {turn} made no version: {reply.text}")
            if turn in marks:
                editor.store.checkpointer().conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                sizes = {"checkpoints": sum(p.stat().st_size for p in root.glob("checkpoints.sqlite*")),
                         "conversation": (root / "conversation.jsonl").stat().st_size,
                         "history": (root / "history.json").stat().st_size}
                per = {k: (v - last.get(k, 0)) / (turn - last_turn) for k, v in sizes.items()}
                rows.append([turn, sizes["checkpoints"], round(per["checkpoints"]), sizes["conversation"],
                             round(per["conversation"]), sizes["history"], round(per["history"]),
                             round(time.perf_counter() - start, 1)])
                print(table(rows[-1:], HEADER), flush=True)
                last, last_turn = sizes, turn
    finally:
        editor.close()
    return rows


HEADER = ["turn", "checkpoints B", "B/turn", "conversation B", "B/turn", "history.json B", "B/turn", "elapsed s"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=1000)
    p.add_argument("--at", default="10,100,1000", help="turns at which to measure (comma-separated)")
    p.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "checkpoints.json")
    args = p.parse_args(argv)
    marks = sorted({int(v) for v in args.at.split(",") if v.strip()} | {args.turns})
    with tempfile.TemporaryDirectory(prefix="chatedit-bench-") as tmp:
        rows = play(Path(tmp) / "session", args.turns, marks)
    print()
    print(table(rows, HEADER))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([dict(zip(["turn", "checkpoints_bytes", "checkpoints_per_turn",
                                               "conversation_bytes", "conversation_per_turn", "history_bytes",
                                               "history_per_turn", "elapsed_s"], r)) for r in rows], indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
