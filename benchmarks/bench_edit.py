"""Benchmark: one lite "remove the cup" edit at real size (random weights), lever by lever, beside the plain pipeline call.

    python benchmarks/bench_edit.py                    # SD 1.5 inpainting + LCM-LoRA, random weights, CPU
    python benchmarks/bench_edit.py --json out/bench/edit.json --steps-before 20

Rows are cumulative, each one a single timed edit through :func:`tools.edits.remove` (text encoding,
VAE, denoising, paste-back) after a one-step warm-up:

    before        fp32, DPM-Solver++ 20 steps, CFG 7.5, the crop upscaled to 512², contiguous (as shipped)
    + bf16        the same in bf16 (oneDNN's bf16 kernels where the CPU has AVX512-BF16/AMX)
    + LCM-LoRA    fused LCM-LoRA, LCMScheduler, 4 steps, guidance 1 (one UNet pass per step)
    + crop size   the working size follows the crop (384² for a cup in a 600x400 photo)
    + channels_last  UNet and VAE weights in NHWC: the lite profile now (quality fast)
    plain pipeline   the same pipe called directly on the same working window (what our glue costs)

Numbers only, from one run each; ratios are against "before".
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

CUP = (200, 100, 320, 220)
"""The cup of the bundled coffee photo at 600x400 (XYXY pixels)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--random-root", type=Path, default=Path.home() / ".cache" / "chatedit" / "random")
    p.add_argument("--steps-before", type=int, default=20, help="steps of the shipped-before rows (default 20)")
    p.add_argument("--skip-fp32", action="store_true", help="leave out the fp32 row (the slowest)")
    p.add_argument("--json", type=Path, default=None, help="write the rows here as JSON")
    return p.parse_args(argv)


def load(folder: Path, dtype: Any) -> Any:
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline.from_pretrained(str(folder), dtype=dtype, use_safetensors=True,
                                                          safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def timed_remove(inpainter: Any, image: Any, mask: Any, steps: int, guidance: float) -> tuple[float, Any]:
    from tools.edits import remove

    remove(inpainter, image, mask, name="cup", steps=1, guidance_scale=guidance)    # warm-up: one step
    start = time.perf_counter()
    result = remove(inpainter, image, mask, name="cup", steps=steps, guidance_scale=guidance)
    return time.perf_counter() - start, result


def plain_call(pipe: Any, image: Any, result: Any, steps: int, guidance: float) -> float:
    """The diffusers pipeline alone on the window our edit used, at its working size (no crop, no paste)."""
    import numpy as np
    import torch
    from PIL import Image

    x0, y0, x1, y1 = (int(v) for v in result.details["crop_box"])
    w, h = result.details["working_size"]
    window = image.crop((x0, y0, x1, y1)).resize((w, h))
    mask = Image.fromarray(result.region[y0:y1, x0:x1].astype(np.uint8) * 255).resize((w, h))
    call = dict(prompt="background", image=window, mask_image=mask, height=h, width=w, guidance_scale=guidance,
                generator=torch.Generator().manual_seed(0))
    pipe(num_inference_steps=1, **call)
    start = time.perf_counter()
    pipe(num_inference_steps=steps, **call)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    import torch

    from random_weights import build, build_lcm_lora
    from tools.device import cpu_bf16_feature
    from tools.diffusion_utils import channels_last, use_scheduler
    from tools.inpainting import Inpainter
    from tools.lora import load_lcm_lora
    from tools.masks import box_mask
    from tools.samples import sample_image

    args = parse_args(argv)
    folder, lora = build("lite", "inpainting", args.random_root), build_lcm_lora("lite", args.random_root)
    image = sample_image("coffee").resize((600, 400))
    mask = box_mask(CUP, (400, 600))
    rows: list[dict[str, Any]] = []

    def row(name: str, seconds: float, steps: int, guidance: float, size: tuple[int, int]) -> None:
        rows.append({"config": name, "seconds": round(seconds, 2), "steps": steps, "guidance": guidance,
                     "working_size": list(size)})
        print(f"{name:18s} {seconds:7.2f} s  steps {steps:2d}  guidance {guidance:3.1f}  at {size[0]}x{size[1]}",
              flush=True)

    before = args.steps_before
    for dtype in (() if args.skip_fp32 else (torch.float32,)) + (torch.bfloat16,):
        pipe = load(folder, dtype)
        use_scheduler(pipe, "dpm++")
        painter = Inpainter(pipe, working="native")
        seconds, result = timed_remove(painter, image, mask, before, 7.5)
        row("before" if dtype == torch.float32 else "+ bf16", seconds, before, 7.5, result.details["working_size"])
        if dtype == torch.float32:
            del pipe, painter
            gc.collect()
    load_lcm_lora(pipe, lora)
    painter = Inpainter(pipe, working="native")
    seconds, result = timed_remove(painter, image, mask, 4, 1.0)
    row("+ LCM-LoRA", seconds, 4, 1.0, result.details["working_size"])
    painter.working = "crop"
    seconds, result = timed_remove(painter, image, mask, 4, 1.0)
    row("+ crop size", seconds, 4, 1.0, result.details["working_size"])
    channels_last(pipe, painter.placement)
    seconds, result = timed_remove(painter, image, mask, 4, 1.0)
    row("+ channels_last", seconds, 4, 1.0, result.details["working_size"])
    row("plain pipeline", plain_call(pipe, image, result, 4, 1.0), 4, 1.0, result.details["working_size"])

    first = rows[0]["seconds"]
    print(f"\nnow / before: {rows[-2]['seconds'] / first:.3f} ({first / rows[-2]['seconds']:.1f}x faster); "
          f"ours / plain pipeline: {rows[-2]['seconds'] / rows[-1]['seconds']:.2f}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU bf16 feature: {cpu_bf16_feature()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "torch_threads": torch.get_num_threads()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
