"""Benchmark: the planner's language model with eager vs SDPA attention, prefill and decode by context length.

    python benchmarks/bench_attention.py                       # lite's planner, random weights, the profile's dtype
    python benchmarks/bench_attention.py --contexts 1000,5000,7000 --tokens 16 --dtype float32

Loads the lite planner (real size, random weights; benchmarks/random_weights.py) once, then for each context
length and attention implementation runs one greedy ``generate`` of ``--tokens`` new tokens on a prompt of that
many tokens, and reports the prefill (to the first token) and the mean decode step. Ratios are from one run:
on a shared machine, read them with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from harness import table  # noqa: E402


class StepClock:
    """A logits processor that notes the time of every decoding step (the first one ends the prefill)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids, scores):  # noqa: ANN001 - transformers' signature
        self.times.append(time.perf_counter())
        return scores


def run(model, ids, tokens: int, attention: str) -> tuple[float, float]:  # noqa: ANN001
    """(prefill seconds, mean decode seconds per token) with ``attention`` for the language model."""
    import torch

    model.set_attn_implementation({"text_config": attention})
    clock = StepClock()
    start = time.perf_counter()
    with torch.inference_mode():
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=tokens,
                       min_new_tokens=tokens, logits_processor=[clock], pad_token_id=0)
    end = time.perf_counter()
    steps = [b - a for a, b in zip(clock.times, [*clock.times[1:], end])]
    return clock.times[0] - start, sum(steps[1:]) / max(1, len(steps) - 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contexts", default="1000,5000", help="prompt lengths in tokens, comma-separated")
    p.add_argument("--tokens", type=int, default=16, help="new tokens per generate")
    p.add_argument("--dtype", default=None, choices=("float32", "bfloat16"), help="default: lite's on this CPU")
    p.add_argument("--random-root", type=Path, default=None)
    p.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "attention.json")
    args = p.parse_args(argv)

    import torch

    from random_weights import random_profile
    from tools.device import resolve_placement
    from tools.llava import Llava

    root = args.random_root or Path.home() / ".cache" / "chatedit" / "random"
    profile = random_profile("lite", root, roles=("planner",))
    placement = resolve_placement("cpu", args.dtype, cpu_dtype=profile.cpu_dtype)
    model = Llava.from_pretrained(profile.planner, placement=placement).model
    generator = torch.Generator().manual_seed(0)
    rows, result = [], {"dtype": str(placement.dtype), "load_average": os.getloadavg(), "runs": []}
    for n in (int(v) for v in args.contexts.split(",")):
        ids = torch.randint(1000, 8000, (1, n), generator=generator)
        got = {a: run(model, ids, args.tokens, a) for a in ("sdpa", "eager")}
        result["runs"].append({"context": n, **{a: {"prefill_s": v[0], "decode_s": v[1]} for a, v in got.items()}})
        rows.append([n, got["sdpa"][0], got["eager"][0], got["sdpa"][0] / got["eager"][0],
                     got["sdpa"][1] * 1e3, got["eager"][1] * 1e3, got["sdpa"][1] / got["eager"][1]])
    print(f"# lite planner (random weights), {placement.label}, {args.tokens} new tokens, "
          f"load average {result['load_average'][0]:.1f} at the end")
    print(table(rows, ["context", "prefill sdpa s", "prefill eager s", "sdpa/eager", "decode sdpa ms",
                       "decode eager ms", "sdpa/eager"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
