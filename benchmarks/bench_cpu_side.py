"""Benchmark: the CPU-side costs a person feels — start-up imports, and undo/redo/revert in a long history.

    python benchmarks/bench_cpu_side.py                          # 100 versions of a 12 MP photo
    python benchmarks/bench_cpu_side.py --versions 10 --size 1200x800 --json out/bench/cpu-small.json

Start-up: wall time of ``python tui.py --help`` and ``import agent`` / ``import agent.editor`` in a
fresh interpreter, and whether torch was imported. History: a session with ``--versions`` edits of a
``--size`` photo (each version a distinct image), then the median time of undo, redo and revert
through the Editor (history file and conversation checkpoint written each time), of reading the
current image, and of reopening the session. No models are loaded. Numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from harness import peak_rss_mb, table  # noqa: E402

IMPORTS = {
    "python tui.py --help": [str(ROOT / "tui.py"), "--help"],
    "import agent": ["-c", "import agent, sys; print('torch' in sys.modules)"],
    "import agent.editor": ["-c", "import agent.editor, sys; print('torch' in sys.modules)"],
    "import tui": ["-c", "import tui, sys; print('torch' in sys.modules)"],
}


def startup(repeats: int) -> list[list[object]]:
    rows = []
    for label, args in IMPORTS.items():
        times, torch_loaded = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - start)
            last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
            torch_loaded = last == "True" if last in ("True", "False") else None
        rows.append([label, statistics.median(times), "-" if torch_loaded is None else ("yes" if torch_loaded else "no")])
    return rows


def build_session(root: Path, versions: int, size: tuple[int, int]) -> Path:
    """A session folder with ``versions`` committed edits (a moving square), written fast (PNG level 1)."""
    import numpy as np
    from PIL import Image

    from agent.session.records import EditRecord
    from agent.session.store import SessionStore
    from tools.samples import sample_image

    base = np.asarray(sample_image("coffee").resize(size))
    store = SessionStore.create(root, Image.fromarray(base))
    side = max(8, min(size) // 20)
    for i in range(1, versions + 1):
        pixels = base.copy()
        x, y = (i * 37) % (size[0] - side), (i * 53) % (size[1] - side)
        pixels[y:y + side, x:x + side] = (i * 7) % 256
        image_id = store.put_image(Image.fromarray(pixels))
        mask = np.zeros(size[::-1], bool)
        mask[y:y + side, x:x + side] = True
        store.history.commit(image_id, mask=store.put_mask(mask), instruction=f"edit {i}",
                             steps=[EditRecord(action="recolor", box=[x, y, x + side, y + side])], seed=i)
    store.save_history()
    store.close()
    return root


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def history(root: Path, repeats: int) -> list[list[object]]:
    from agent.editor import Editor

    rows = []
    Editor.open(root, profile="tiny").close()          # imports torch, langgraph, ...: start-up, not reopening
    rows.append(["reopen the session (imports done)",
                 timed(lambda: Editor.open(root, profile="tiny").close(), repeats)])
    editor = Editor.open(root, profile="tiny")
    last = editor.current_version
    try:
        rows.append(["undo 1", timed(lambda: (editor.undo(1), editor.redo(1)), repeats) / 2])
        rows.append(["undo 1 + read the image", timed(lambda: (editor.undo(1), editor.current_image,
                                                              editor.redo(1)), repeats) - rows[-1][1]])
        rows.append(["revert to the original and back", timed(lambda: (editor.revert(0), editor.revert(last)),
                                                               repeats) / 2])
        rows.append(["read the current image", timed(lambda: editor.current_image, repeats)])
        rows.append(["list the history", timed(lambda: editor.history, repeats)])
    finally:
        editor.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--versions", type=int, default=100)
    p.add_argument("--size", default="4000x3000", metavar="WxH")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "cpu-side.json")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))

    imports = startup(args.repeats)
    print(table(imports, ["start-up", "seconds", "torch imported"]), "\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="chatedit-bench-") as tmp:
        start = time.perf_counter()
        root = build_session(Path(tmp) / "session", args.versions, size)
        setup = time.perf_counter() - start
        moves = history(root, args.repeats)
    label = f"history: {args.versions} versions of {size[0]}x{size[1]} (built in {setup:.0f} s)"
    print(table(moves, [label, "seconds"]))
    print(f"\npeak RSS {peak_rss_mb():.0f} MB")
    result = {"startup_s": {r[0]: r[1] for r in imports}, "torch_imported": {r[0]: r[2] for r in imports},
              "versions": args.versions, "size": args.size, "history_s": {r[0]: r[1] for r in moves},
              "peak_rss_mb": peak_rss_mb()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
