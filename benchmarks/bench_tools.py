"""Benchmark: load time, call time and peak memory of each tool, at a photo's size and at 12 MP.

Usage: python benchmarks/bench_tools.py [--profile tiny|lite|full] [--device cpu|cuda] [--steps N]
Prints one line per measurement; numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn, results: list):
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    extra = ""
    try:
        import torch

        if torch.cuda.is_available():
            extra = f"  vram_peak={torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    except ImportError:
        pass
    line = f"{label:42s} {elapsed:8.3f} s   peak_rss={rss_mb():8.0f} MB{extra}"
    print(line, flush=True)
    results.append(line)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--device")
    parser.add_argument("--steps", type=int)
    args = parser.parse_args()

    from tools import masks
    from tools.device import resolve_placement
    from tools.loading import resolve_profile
    from tools.samples import sample_image
    from tools.toolkit import Toolkit

    profile = resolve_profile(args.profile)
    placement = resolve_placement(args.device)
    print(f"# {profile.note}; device={placement.device} dtype={placement.dtype}")
    kit = Toolkit(profile, placement)
    steps = {"steps": args.steps} if args.steps else {}
    photo = sample_image("coffee")
    big = photo.resize((4000, 3000))
    results: list[str] = []
    for role in ("grounding", "segmentation", "inpainting", "instruct", "base"):
        timed(f"load {role} ({profile.spec(role).model_id})", lambda r=role: kit._get(r), results)
    for name, image in (("600x400", photo), ("4000x3000", big)):
        found = timed(f"detect 'cup' @ {name}", lambda im=image: kit.detect(im, "cup"), results)
        box = found[0].box if found else (image.width * 0.3, image.height * 0.3, image.width * 0.6, image.height * 0.7)
        mask = timed(f"segment 1 box @ {name} (set_image + predict)", lambda im=image: kit.segment(im, [box])[0], results)
        if not mask.any():
            mask = masks.box_mask(box, (image.height, image.width))
        timed(f"segment again, same image @ {name}", lambda im=image: kit.segment(im, [box]), results)
        timed(f"remove @ {name}", lambda im=image: kit.remove(im, mask, **steps), results)
        timed(f"recolor lab @ {name}", lambda im=image: kit.recolor(im, mask, "blue"), results)
        timed(f"global edit @ {name}", lambda im=image: kit.global_edit(im, "make it autumn", **steps), results)
        timed(f"diffedit @ {name}", lambda im=image: kit.diffedit(im, "a cup", "a bowl", **steps), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
