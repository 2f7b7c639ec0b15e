"""Benchmark: a fixed scripted session through the real Editor, timed per stage, with load times and memory.

    python benchmarks/bench_session.py                         # tiny profile: a smoke run (CI runs this)
    python benchmarks/bench_session.py --random-weights        # real-size models, random weights (lite on CPU, full on CUDA)
    python benchmarks/bench_session.py --profile full          # the real models (from the Hugging Face cache)
    python benchmarks/bench_session.py --random-weights --size 4000x3000 --baseline --json out/bench/full-12mp.json
    python benchmarks/bench_session.py --random-weights --engine flux2-klein --baseline   # FLUX.2 klein 4B (a GPU)
    python benchmarks/bench_session.py --random-weights --engine flux2-klein --shallow --native 512  # CPU smoke
    python benchmarks/bench_session.py --random-weights --before --steps 4 --turns 1 --baseline  # lite before issue 13

Every run: load each model once (cold start, timed per model), then ``--warmup`` untimed and ``--runs``
timed repetitions of the session: "remove the cup" (grounding, SAM 2, inpainting), "make the saucer
blue" (grounding, SAM 2, the Lab recolour), then undo and redo. The planner writes each pinned plan itself (a
reply of 60-70 tokens, constrained by the plan's grammar as shipped; the grammar compiles from the planner's
load, off the first turn's path). Prints medians per stage (plan, locate,
segment, edit, verify, commit), the agent's own overhead (wall time minus model compute), how long
after the reply the version's files were on disk (they are written in the background), peak RSS
and, on CUDA, peak VRAM; writes everything as JSON. Numbers only, no pass/fail. ``--baseline`` also times
the plain library call of each stage of turn 1 on the same inputs (benchmarks/plain_calls.py) and prints ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from harness import (STAGES, ComputeMeter, FixedLengthPlanner, Samples, cuda, peak_rss_mb, plan_json,  # noqa: E402
                     sync, table, timed)

logger = logging.getLogger("bench")

SESSION: tuple[tuple[str, str], ...] = (
    ("remove the cup", plan_json({"action": "remove", "referent": {"phrase": "cup", "selector": "largest"}},
                                 reasoning="The user means the cup standing on the saucer, the largest one in the "
                                           "picture. Remove it and fill in the table and saucer behind it.")),
    ("make the saucer blue", plan_json({"action": "recolor", "referent": {"phrase": "saucer", "selector": "largest"},
                                        "content": "blue"},
                                       reasoning="The saucer under the cup is the one meant, and there is only "
                                                 "one in the picture. Recolour it blue and keep its shading.")),
)
"""(user words, the planner's pinned reply) per turn: the same path through the graph every run. The replies are
as long as real ones (61 and 65 tokens with the random planner's Qwen2-style tokenizer; real plans: 30-85)."""
ROLES = ("grounding", "segmentation", "inpainting")
"""The toolkit models the session uses (the planner is loaded by the Editor)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=None, choices=("tiny", "lite", "full"),
                   help="default: tiny; with --random-weights: full on CUDA, lite on a CPU")
    p.add_argument("--random-weights", action="store_true",
                   help="build the profile's full-size architectures with random weights (benchmarks/configs)")
    p.add_argument("--random-root", type=Path, default=None, help="where random-weight models are built and kept")
    p.add_argument("--engine", default=None, choices=("sd", "sdxl", "flux2-klein"),
                   help="repaint engine (default: the profile's inpainting model)")
    p.add_argument("--shallow", action="store_true", help="with --random-weights --engine flux2-klein: the real layer "
                   "shapes but 1+2 transformer blocks and 3 text layers (random_weights.SHALLOW), for a CPU")
    p.add_argument("--native", type=int, default=None, metavar="PX",
                   help="run the repaint engine at this native resolution instead of its own (CPU smoke runs)")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best available)")
    p.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                   help="default: the profile's (fp16 on CUDA; on a CPU bf16 where it has AVX512-BF16 or AMX)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                   help="let the planner judge each edit (default: the profile's; off on lite)")
    p.add_argument("--runs", type=int, default=3, help="timed repetitions of the session (medians are reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    p.add_argument("--steps", type=int, default=None, help="diffusion steps (default: the profile's)")
    p.add_argument("--quality", default=None, choices=("fast", "balanced", "best"),
                   help="edit quality (default: the profile's; lite: fast, LCM-LoRA 4 steps)")
    p.add_argument("--scheduler", default=None, help="the profile's scheduler, or e.g. dpm++ (see tools.schedulers)")
    p.add_argument("--compile", action="store_true", help="torch.compile the diffusion UNet")
    p.add_argument("--plan-tokens", type=int, default=None,
                   help="decode this many tokens unconstrained per plan instead of the pinned reply, constrained")
    p.add_argument("--turns", type=int, default=len(SESSION), choices=range(1, len(SESSION) + 1),
                   help="play only the first N turns of the session")
    p.add_argument("--before", action="store_true",
                   help="lite's settings as shipped before issue 13: fp32, the anyres grid, no cached system "
                        "turn, SDPA attention, verification on, grounding at 800 px, balanced quality at "
                        "native size (grounding no longer upscales small photos)")
    p.add_argument("--image", default="coffee", help="a bundled sample or an image path")
    p.add_argument("--size", default=None, metavar="WxH", help="resize the photo first, e.g. 4000x3000 (12 MP)")
    p.add_argument("--prefix", choices=("saved", "fresh"), default="saved",
                   help="saved: use the planner's system prefix a former run saved, if any; fresh: delete it "
                        "first (a first start on this machine)")
    p.add_argument("--no-wait", action="store_true",
                   help="send turn 1 as soon as the models are loaded, while the warm-up still runs")
    p.add_argument("--baseline", action="store_true",
                   help="also time each stage's plain library call on turn 1's inputs (plain_calls.py)")
    p.add_argument("--vram-gb", type=float, default=None,
                   help="plan memory as if the GPU had this many GB (CUDA: also caps this process to it)")
    p.add_argument("--json", type=Path, default=None, help="write the results here (default: out/bench/NAME.json)")
    return p.parse_args(argv)


def load_profile(args: argparse.Namespace, is_cuda: bool) -> Any:
    from tools.profiles import get_profile

    name = args.profile or (("full" if is_cuda else "lite") if args.random_weights else "tiny")
    if args.random_weights:
        from random_weights import random_profile

        root = args.random_root or Path.home() / ".cache" / "chatedit" / "random"
        profile = random_profile(name, root, roles=("planner", *ROLES), engine=args.engine, shallow=args.shallow)
        # Random weights score every box alike: keep them all and let the selector choose, as the tiny profile does.
        profile = replace(profile, box_threshold=0.0, text_threshold=0.0)
    else:
        profile = get_profile(name)
        if args.engine is not None:
            from tools.engines.select import with_engine

            profile = with_engine(profile, args.engine)
    changes: dict[str, Any] = {}
    if args.steps is not None:
        changes.update(steps=args.steps, steps_asked=True)      # wins over FLUX.2 klein's own 4
    if args.scheduler is not None:
        changes["scheduler"] = args.scheduler
    if args.compile:
        changes["compile"] = True
    if args.quality is not None:
        changes["quality"] = args.quality
    if args.verify is not None:
        changes["verify"] = args.verify
    if args.before:
        changes.update(cpu_dtype="float32", planner_image="anyres", verify=True if args.verify is None else args.verify,
                       grounding_edge=800, quality=args.quality or "balanced")
    return replace(profile, **changes) if changes else profile


def photo(args: argparse.Namespace) -> Any:
    from tools.imageio import load_image
    from tools.samples import is_sample, sample_image

    image = sample_image(args.image) if is_sample(args.image) else load_image(args.image).image
    if args.size:
        w, h = (int(v) for v in args.size.lower().split("x"))
        image = image.resize((w, h))
    return image


def cold_start(profile: Any, placement: Any, args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """Load every model the session needs, timing each; returns (toolkit, planner, numbers)."""
    from agent.planner import load_planner
    from tools.memory import plan_memory
    from tools.toolkit import Toolkit

    memory = plan_memory(profile, placement, vram_gb=args.vram_gb)
    toolkit = Toolkit(profile, placement, memory=memory)
    start = time.perf_counter()
    if args.prefix == "fresh":                      # a first start on this machine: no saved system prefix
        from tools.loading import cache_dir
        from tools.prefix_store import SUFFIX

        for old in (cache_dir() / "prefix").glob(f"*{SUFFIX}"):
            old.unlink()
    planner_model, planner_s = timed(lambda: load_planner(profile, placement, memory=toolkit.memory,
                                                          warm_prefix=not args.before))
    for role in ROLES:
        toolkit.load(role)
    loaded = time.perf_counter() - start
    warming = planner_model.llava.precompiling      # grammars, then the system prefix, in the background from load
    if args.no_wait:
        waited = None
    else:
        _, waited = timed(lambda: warming.join() if warming is not None else None)
    sync()
    numbers = {"cold_start_s": loaded, "warmup_wait_after_loads_s": waited,
               "prefix_source": planner_model.llava.prefix_source,
               "load_s": {"planner": planner_s, **toolkit.load_seconds},
               "memory_plan": memory.describe(), "peak_rss_mb_after_load": peak_rss_mb()}
    gpu = cuda()
    if gpu is not None:
        numbers["vram_resident_gb"] = gpu.memory_allocated() / 2**30
    if args.before:                               # what issue 13 changed: back as it was
        planner_model.llava.cache_prefix = False
        planner_model.llava.model.set_attn_implementation({"text_config": "sdpa"})
        toolkit.inpainter.working = "native"
    numbers["attention"] = planner_model.llava.model.config.text_config._attn_implementation
    numbers["cache_prefix"] = planner_model.llava.cache_prefix
    planner = FixedLengthPlanner(model=planner_model, plan_tokens=args.plan_tokens)
    return toolkit, planner, numbers


def run_session(editor: Any, planner: FixedLengthPlanner, meter: ComputeMeter, samples: Samples | None,
                walls: list[float] | None = None, turns: int = len(SESSION),
                inputs: dict[str, Any] | None = None) -> list[str]:
    """Play the first ``turns`` turns once (then go back to the original); record into ``samples`` unless None,
    each turn's wall time into ``walls`` and turn 1's model inputs into ``inputs`` (for the baselines)."""
    from harness import StageClock

    clock = StageClock()
    editor.on_progress = clock
    editor.seed += 1                        # new pixels every run: a version is never already on disk
    problems = []
    for i, (text, reply) in enumerate(SESSION[:turns], start=1):
        planner.pin([reply])
        meter.reset()
        planner.calls.clear()
        clock.start()
        out, wall = timed(lambda t=text: editor.send(t))
        stages = clock.stop()
        _, landed = timed(editor.flush)     # the PNG re-encode after the reply (the raw pixels were on disk before it)
        if walls is not None:
            walls.append(wall)
        if out.version is None:
            problems.append(f"turn {i} ({text!r}) made no version: {out.text}")
        problems += [f"turn {i}: the planner did not write the pinned {kind} (its grammar refused a token)"
                     for kind, *_, forced in planner.calls if planner.plan_tokens is None and not forced]
        if i == 1 and inputs is not None:
            inputs.update(meter=dict(meter.last), planner=list(planner.calls))
        if samples is not None:
            samples.add(f"turn{i}.wall", wall)
            samples.add(f"turn{i}.model_compute", meter.seconds + planner.seconds)
            samples.add(f"turn{i}.agent_overhead", wall - meter.seconds - planner.seconds)
            samples.add(f"turn{i}.saved_after_reply", landed)
            for stage, seconds in stages.items():
                samples.add(f"turn{i}.{stage}", seconds)
            for kind, *_, tokens, _ in planner.calls:
                samples.add(f"turn{i}.{kind}_tokens", tokens)
            for stage, gb in clock.vram_peak_gb.items():
                samples.add(f"turn{i}.vram_peak_gb.{stage}", gb)
    for kind in ("undo", "redo"):
        out, wall = timed(lambda k=kind: getattr(editor, k)(1))
        if samples is not None:
            samples.add(f"{kind}.wall", wall)
    editor.revert(0)
    return problems


def baselines(toolkit: Any, planner: FixedLengthPlanner, inputs: dict[str, Any]) -> dict[str, float]:
    """Each stage's plain library call on turn 1's inputs (plain_calls.py), seconds per stage."""
    import plain_calls

    out: dict[str, float] = {}
    llava = planner.model.llava
    for kind, conversation, images, tokens, _ in inputs.get("planner", []):
        out[kind] = out.get(kind, 0.0) + plain_calls.plan(llava, conversation, images, tokens)
        if llava.cache_prefix and llava._prefix is not None:    # the same work as ours: after the same prefix
            same = f"{kind}, after the same cached prefix"
            out[same] = out.get(same, 0.0) + plain_calls.plan_after_prefix(llava, conversation, images, tokens,
                                                                          llava._prefix[1])
    calls = inputs.get("meter", {})
    if "detect" in calls:
        (image, phrase, *_), _, _ = calls["detect"]
        out["locate"] = plain_calls.locate(toolkit.grounder, image, phrase if isinstance(phrase, str) else phrase[0])
    if "segment" in calls:
        (image, boxes, *_), _, _ = calls["segment"]
        out["segment"] = plain_calls.segment(toolkit.segmenter, image, boxes[0])
    if "remove" in calls:
        (image, *_), _, result = calls["remove"]
        engine = toolkit.engine
        steps = result.details.get("steps") or getattr(engine, "default_steps", None) or toolkit.profile.steps
        guidance = getattr(getattr(engine, "inpainter", engine), "default_guidance", None)
        out["edit"] = plain_calls.edit(engine, image, tuple(result.details["working_size"]), result.prompt, steps,
                                       guidance)
    return out


def system_prompt_tokens(planner: FixedLengthPlanner) -> int | None:
    """How many tokens the planner's tokenizer makes of the system prompt."""
    from agent.graph.planning import system_prompt

    if planner.model is None:
        return None
    return len(planner.model.llava.tokenizer(system_prompt(), add_special_tokens=False)["input_ids"])


def report(result: dict[str, Any]) -> str:
    s = result["summary"]
    med = {k: v["median"] for k, v in s.items()}
    rows = []
    for i, (text, _) in enumerate(SESSION[:result["turns"]], start=1):
        rows.append([f"{i}. {text}", *(med.get(f"turn{i}.{st}") for st in STAGES), med.get(f"turn{i}.wall"),
                     med.get(f"turn{i}.agent_overhead")])
    reason = f" ({result['dtype_reason']})" if result.get("dtype_reason") else ""
    out = [f"# {result['profile_note']}", f"# device {result['device']} {result['dtype']}{reason} · "
           f"{result['memory_plan']} · engine {result['engine']} at {result['native']} px · steps {result['steps']} · "
           f"image {result['image_size']} · "
           f"median of {result['runs']} run(s) after {result['warmup']} warm-up", "",
           table(rows, ["turn (seconds)", *STAGES, "total", "overhead"]), ""]
    loads = result["load_s"]
    out.append(table([[k, v] for k, v in loads.items()] + [["cold start (all)", result["cold_start_s"]]],
                     ["model load", "seconds"]))
    out.append("")
    extra = [[f"turn {i}: PNG made after the reply (s; raw pixels were on disk before it)",
              med.get(f"turn{i}.saved_after_reply")]
             for i in range(1, result["turns"] + 1)]
    extra.append([f"warm-up still running after the loads (s; grammars, system prefix "
                  f"{result.get('prefix_source') or 'not ready'})", result.get("warmup_wait_after_loads_s")])
    extra.append(["first turn after the loads (s; first calls of each model)", result.get("first_turn_s")])
    extra += [["undo", med.get("undo.wall")], ["redo", med.get("redo.wall")],
             ["peak RSS after load (MB)", result["peak_rss_mb_after_load"]],
             ["peak RSS at end (MB)", result["peak_rss_mb"]]]
    if "vram_resident_gb" in result:
        extra.append(["VRAM resident after load (GB)", result["vram_resident_gb"]])
        extra += [[f"VRAM peak in {k} (GB)", v] for k, v in result.get("vram_peak_gb", {}).items()]
    extra += [[f"turn {i}: {kind} tokens written (constrained)" if result["plan_tokens"] is None else
               f"turn {i}: {kind} tokens (unconstrained)", med.get(f"turn{i}.{kind}_tokens")]
              for i in range(1, result["turns"] + 1) for kind in ("plan", "verify") if f"turn{i}.{kind}_tokens" in med]
    extra += [["planner attention, cached system turn", f"{result['attention']}, {result['cache_prefix']}"],
              ["system prompt tokens", result.get("system_prompt_tokens")]]
    out.append(table(extra, ["other", "value"]))
    if result.get("baseline_s"):
        ours = {stage: med.get(f"turn1.{stage.split(',')[0]}") for stage in result["baseline_s"]}
        rows = [[stage, ours[stage], plain, (ours[stage] or 0) / plain if plain else None]
                for stage, plain in result["baseline_s"].items()]
        out += ["", table(rows, ["turn 1 stage", "ours (s)", "plain call (s)", "ours / plain"])]
    for problem in result["problems"]:
        out.append(f"! {problem}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from agent.editor import Editor
    from tools.device import resolve_placement

    device = resolve_placement(args.device)
    profile = load_profile(args, device.is_cuda)
    placement = resolve_placement(args.device, args.dtype, cpu_dtype=profile.cpu_dtype)
    if args.vram_gb and placement.is_cuda:
        import torch

        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.vram_gb / total))
    image = photo(args)
    toolkit, planner, numbers = cold_start(profile, placement, args)
    if args.native:                             # a smaller working size than the engine's own (CPU smoke runs)
        target = toolkit.engine if toolkit.engine_name == "flux2-klein" else toolkit.inpainter
        target.resolution = args.native
    from tools.engines.select import edit_steps

    steps = edit_steps(toolkit.profile, toolkit.engine)     # what each edit runs
    meter = ComputeMeter(toolkit)
    samples = Samples()
    problems: list[str] = []
    first: list[float] = []
    inputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="chatedit-bench-") as tmp:
        editor = Editor.open(image, profile=profile, session_dir=Path(tmp) / "session", planner=planner,
                             toolkit=meter)
        try:
            for i in range(args.warmup + args.runs):
                problems += run_session(editor, planner, meter, samples if i >= args.warmup else None,
                                        first if i == 0 else None, turns=args.turns, inputs=inputs)
        finally:
            editor.close()
    result: dict[str, Any] = {
        "profile": profile.name, "profile_note": profile.note or f"profile {profile.name}",
        "random_weights": args.random_weights, "models": toolkit.models, "engine": toolkit.engine_name,
        "native": getattr(toolkit.engine, "resolution", None), "device": placement.device,
        "dtype": str(placement.dtype).removeprefix("torch."), "dtype_reason": placement.dtype_reason,
        "verify": profile.verify, "first_turn_s": first[0] if first else None, "steps": steps,
        "scheduler": getattr(profile, "scheduler", "default"), "compile": getattr(profile, "compile", False),
        "plan_tokens": args.plan_tokens, "turns": args.turns, "before": args.before,
        "system_prompt_tokens": system_prompt_tokens(planner), "quality": profile.quality,
        "planner_image": profile.planner_image, "grounding_edge": profile.grounding_edge,
        "image_size": f"{image.width}x{image.height}", "runs": args.runs,
        "warmup": args.warmup, **numbers, "summary": samples.summary(), "peak_rss_mb": peak_rss_mb(),
        "problems": sorted(set(problems)),
    }
    gpu = cuda()
    if gpu is not None:
        result["vram_peak_gb"] = {k.split("vram_peak_gb.")[1]: v["max"] for k, v in result["summary"].items()
                                  if "vram_peak_gb." in k and k.startswith("turn1.")}
    if args.baseline:
        result["baseline_s"] = baselines(toolkit, planner, inputs)
    print(report(result), flush=True)
    tag = f"{'-random' if args.random_weights else ''}{f'-{args.engine}' if args.engine else ''}"
    path = args.json or ROOT / "out" / "bench" / f"{profile.name}{tag}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
