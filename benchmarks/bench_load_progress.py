"""Benchmark: what counting a model load's bytes (tools.load_progress.metered) costs, beside the plain load.

Loads one role's random-weight model at real size through ``Toolkit._load`` (the same from_pretrained
calls as the released model), alternately plain and inside ``metered``, and prints the seconds of each,
their ratio (median over the repeats), how many progress reports came and when the count reached its
first byte, half and all of the total (how the count follows the load's time).

Usage: python benchmarks/bench_load_progress.py [--profile lite] [--role inpainting] [--repeats 3]
       [--dtype float32|bfloat16] [--root DIR]
Prints numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="lite", choices=("lite", "full"))
    parser.add_argument("--role", default="inpainting")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--root", type=Path, default=None,
                        help="random-weight builds (default: <chatedit cache>/random)")
    args = parser.parse_args(argv)

    from benchmarks.random_weights import random_profile
    from tools.device import resolve_placement
    from tools.load_progress import checkpoint_bytes, metered
    from tools.loading import cache_dir
    from tools.toolkit import Toolkit

    profile = random_profile(args.profile, args.root or cache_dir() / "random", roles=[args.role])
    if hasattr(profile, "quality"):              # no LCM-LoRA download here: the pipeline's own load only
        profile = replace(profile, quality="balanced")
    path = Path(profile.spec(args.role).model_id)
    kit = Toolkit(profile, resolve_placement("cpu", args.dtype))
    total = checkpoint_bytes(path)
    print(f"{args.role} {path.name}: {total / 1e9:.2f} GB of tensors, {args.dtype}, {args.repeats} repeats", flush=True)

    def load(counted: bool) -> tuple[float, int, float | None, int]:
        told: list[tuple[float, int]] = []
        start = time.perf_counter()
        if counted:
            with metered(path, lambda done, _: told.append((time.perf_counter(), done))) as meter:
                model = kit._load(args.role, path)
                before_end = meter.done if meter is not None else 0
        else:
            model = kit._load(args.role, path)
            before_end = 0
        seconds = time.perf_counter() - start
        at = [next((round(t - start, 2) for t, done in told if done >= share * total), None)
              for share in (1e-9, 0.5, 1.0)]
        del model
        gc.collect()
        return seconds, len(told), at, before_end

    load(False)                                  # warm the page cache and the imports once
    plain, counted = [], []
    for _ in range(args.repeats):
        seconds, *_ = load(False)
        plain.append(seconds)
        seconds, reports, (first, half, whole), before_end = load(True)
        counted.append(seconds)
        print(f"plain {plain[-1]:7.2f} s   metered {seconds:7.2f} s   reports {reports:4d}   counted: first byte at "
              f"{first} s, half at {half} s, all at {whole} s ({before_end / total:.0%} before the load returned)",
              flush=True)
    print(f"median plain {statistics.median(plain):.2f} s, metered {statistics.median(counted):.2f} s, "
          f"ratio {statistics.median(counted) / statistics.median(plain):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
