"""Benchmark: sessions per minute, `chatedit run` serially vs in worker processes (``--jobs N``), one run each.

    python benchmarks/bench_many_sessions.py                      # 6 example sessions, tiny profile, --jobs 2
    python benchmarks/bench_many_sessions.py --jobs 4 --profile lite sessions/*.yaml
    python benchmarks/bench_many_sessions.py --ray                # also a local Ray cluster with --jobs actors

Each mode is one fresh `python -m agent.scripted.runner` process (so each pays its imports and model loads,
as a user's run does) over the same session files; the plain baseline is one such process per session
(every session loads the models again, as when sessions are scripted one command at a time). Prints the
wall time, sessions per minute (from the wall time of the whole command) and the ratio to the serial run;
writes the numbers as JSON with --json. Numbers only: whether the sessions passed is in each run's summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = ("dialog", "first_run", "coreference", "compound", "spatial", "global")
"""Example sessions that play in well under a minute each on the tiny profile."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", type=Path, help="session files (default: six quick example sessions)")
    p.add_argument("--profile", default="tiny")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (or Ray actors) of the parallel run")
    p.add_argument("--ray", action="store_true", help="also time a local Ray cluster (--jobs actors)")
    p.add_argument("--out", type=Path, default=None, help="where the runs write (default: a temporary folder)")
    p.add_argument("--json", type=Path, default=None, help="write the numbers here")
    return p.parse_args(argv)


def play(files: list[Path], out: Path, profile: str, extra: list[str]) -> dict:
    """Run `chatedit run` over ``files`` in a fresh process; its wall time and its summary's totals."""
    command = [sys.executable, "-m", "agent.scripted.runner", *map(str, files), "--profile", profile,
               "--out", str(out), *extra]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - start
    summary = out / "summary.json"
    if not summary.is_file():
        raise SystemExit(f"{' '.join(command)} wrote no summary (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    data = json.loads(summary.read_text())
    totals = data["totals"]
    problems = [f"{s['name']}: {s['error'] or s['failures'][0]}" for s in data["sessions"] if s["status"] != "passed"]
    return {"command": " ".join(command[1:]), "exit": done.returncode, "wall_s": round(wall, 1),
            "sessions_per_minute": round(60 * len(files) / wall, 2), "passed": totals["passed"],
            "failed": totals["failed"], "errors": totals["errors"], "problems": problems}


def one_per_session(files: list[Path], out: Path, profile: str) -> dict:
    """The plain baseline: one `chatedit run` process per session, one after another."""
    runs = [play([f], out / f.stem, profile, []) for f in files]
    wall = sum(r["wall_s"] for r in runs)
    return {"command": "one chatedit run per file", "wall_s": round(wall, 1),
            "sessions_per_minute": round(60 * len(files) / wall, 2), "passed": sum(r["passed"] for r in runs),
            "problems": [p for r in runs for p in r["problems"]]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = args.files or [ROOT / "sessions" / f"{name}.yaml" for name in QUICK]
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        out = args.out or Path(tmp)
        rows = {"one process per session": one_per_session(files, out / "each", args.profile),
                "serial (one process)": play(files, out / "serial", args.profile, []),
                f"--jobs {args.jobs} (processes)": play(files, out / "jobs", args.profile, ["--jobs", str(args.jobs)])}
        if args.ray:
            rows[f"--ray --jobs {args.jobs} (local)"] = play(files, out / "ray", args.profile,
                                                              ["--ray", "--jobs", str(args.jobs)])
    base = rows["serial (one process)"]["sessions_per_minute"]
    for r in rows.values():
        r["ratio_to_serial"] = round(r["sessions_per_minute"] / base, 2)
    print(f"{len(files)} sessions on the {args.profile} profile, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'run':<28}{'wall s':>9}{'sessions/min':>14}{'ratio':>8}{'passed':>8}")
    for name, r in rows.items():
        print(f"{name:<28}{r['wall_s']:>9.1f}{r['sessions_per_minute']:>14.2f}{r['ratio_to_serial']:>7.2f}x"
              f"{r['passed']:>6}/{len(files)}")
    for name, r in rows.items():
        for problem in r.get("problems", []):
            print(f"  {name}: {problem}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sessions": len(files), "profile": args.profile, "cpus": os.cpu_count(),
                                         "runs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
