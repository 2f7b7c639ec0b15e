"""`chatedit edit`: one edit straight through the tools (grounding → SAM 2 → edit), no planner."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path

from tools.arguments import OneLineParser
from tools.errors import ChatEditError, InvalidInputError

logger = logging.getLogger(__name__)

USAGE_EXAMPLES = """examples:
  chatedit edit coffee --find "the cup" --replace-with "a teapot" -o out.png
  chatedit edit photo.jpg --find "the dog" --remove --mask-out mask.png
  chatedit edit photo.jpg --box 10,20,200,300 --recolor blue
  chatedit edit photo.jpg --find "the cat" --background "a sunny beach"
  chatedit edit photo.jpg --global "make it look like a watercolour painting"
  chatedit edit photo.jpg --diffedit "a bowl of oranges" --source "a bowl of apples"
IMAGE may be a path or a bundled sample: coffee, chelsea, astronaut, rocket."""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="chatedit edit", description=__doc__, epilog=USAGE_EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", help="image path or a bundled sample name")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--find", metavar="PHRASE", help="what to edit, found by Grounding DINO")
    where.add_argument("--box", metavar="X0,Y0,X1,Y1", help="edit this box (pixels), skipping grounding")
    p.add_argument("--pick", type=int, default=1, metavar="N",
                   help="when --find matches several things, edit the N-th best (default 1)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--replace-with", metavar="TEXT", help="replace the object with TEXT")
    what.add_argument("--remove", action="store_true", help="remove the object, filling in background")
    what.add_argument("--recolor", metavar="COLOUR",
                      help="recolour the object: a colour (navy, light blue, #1e90ff) or a look (striped, wooden)")
    what.add_argument("--background", metavar="TEXT", help="repaint everything but the object")
    what.add_argument("--global", dest="global_", metavar="INSTRUCTION",
                      help="whole-image edit (InstructPix2Pix); no mask by nature")
    what.add_argument("--diffedit", metavar="TARGET", help="DiffEdit to a target caption (needs --source)")
    p.add_argument("--source", metavar="CAPTION", help="caption of the image as it is (for --diffedit)")
    p.add_argument("--two-stage", action="store_true", help="replace: fill the background first, then insert")
    p.add_argument("--new-box", metavar="X0,Y0,X1,Y1", help="replace (two-stage): where the new object goes")
    p.add_argument("--method", choices=("auto", "lab", "diffusion"), default="auto",
                   help="recolour: auto (default: the exact Lab shift for one colour, diffusion for patterns, "
                        "materials and several colours), lab or diffusion")
    p.add_argument("-o", "--output", default="chatedit-out.png", help="where to write the result (PNG keeps provenance)")
    p.add_argument("--mask-out", metavar="PATH", help="write the mask that bounded the change (white = may change)")
    p.add_argument("--profile", default="auto", help="auto (default), full, lite or tiny")
    p.add_argument("--engine", choices=("sd", "sdxl", "flux2-klein"), default=None,
                   help="repaint engine (default: the profile's; full takes FLUX.2 klein where it fits, else SDXL)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="diffusion steps (default: the quality's)")
    p.add_argument("--quality", choices=("fast", "balanced", "best"), default=None,
                   help="edit quality: fast (LCM-LoRA, 4 steps, no guidance; lite's default), balanced (DPM-Solver++ 20 steps), "
                        "best (the model's own sampler, 30+ steps, native size); default: the profile's")
    p.add_argument("--device", help="cuda, cpu or mps (default: the best available)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                   help="precision (default: fp16 on CUDA; on the CPU bf16 where it has AVX512-BF16 or AMX, "
                        "else fp32; also $CHATEDIT_DTYPE)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def parse_box(text: str, flag: str = "--box") -> tuple[float, float, float, float]:
    parts = [s for s in text.replace(" ", "").split(",") if s]
    try:
        x0, y0, x1, y1 = (float(v) for v in parts)
    except ValueError:
        raise InvalidInputError(f"{flag} needs four numbers x0,y0,x1,y1, got {text!r}") from None
    if not (x1 > x0 and y1 > y0):
        raise InvalidInputError(f"{flag} needs x1 > x0 and y1 > y0, got {text!r}")
    return x0, y0, x1, y1


class _Line:
    """Whether a ``\r`` progress line is open on stderr, so an error starts on a line of its own."""

    open = False

    @classmethod
    def end(cls) -> None:
        if cls.open:
            print(file=sys.stderr)
            cls.open = False


def _progress(stage: str):
    start = time.monotonic()

    def report(step: int, total: int) -> None:
        print(f"\r{stage}: step {step}/{total} ({time.monotonic() - start:.1f} s)", end="", file=sys.stderr)
        _Line.open = True
        if step >= total:
            _Line.end()

    return report


_BOX_FLAGS = ("--box", "--new-box")


def _join_negative_boxes(argv: list[str]) -> list[str]:
    """``--box -5,10,100,100`` as ``--box=-5,10,100,100``: argparse takes a value that starts with "-"
    and is not a plain number for an option, but boxes may stick out of the image (they are clipped)."""
    joined: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in _BOX_FLAGS and i + 1 < len(argv) and re.match(r"-\.?\d", argv[i + 1]):
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def run(args: argparse.Namespace) -> Path:
    """Do the edit that ``args`` describe and return the output path."""
    from tools.device import resolve_placement
    from tools.imageio import load_image, output_path, save_image
    from tools.loading import resolve_profile
    from tools.samples import is_sample, sample_path
    from tools.toolkit import Toolkit

    if args.diffedit and not args.source:
        raise InvalidInputError("--diffedit needs --source CAPTION describing the image as it is")
    # fail on a bad output path now, not after loading models and running the edit
    output = output_path(args.output)
    mask_out = output_path(args.mask_out) if args.mask_out else None
    if mask_out == output:
        raise InvalidInputError(f"-o and --mask-out both name {output}; give the mask its own file")
    image_arg = args.image
    if not Path(image_arg).exists() and is_sample(image_arg):
        image_arg = str(sample_path(image_arg))
    loaded = load_image(image_arg)
    for warning in loaded.warnings:
        print(f"note: {warning}", file=sys.stderr)
    image = loaded.image
    profile = resolve_profile(args.profile)
    if args.quality is not None:
        from dataclasses import replace

        profile = replace(profile, quality=args.quality)
    kit = Toolkit(profile, resolve_placement(args.device, args.dtype, cpu_dtype=profile.cpu_dtype),
                  on_load=lambda role, mid: print(f"loading {role} model {mid} ...", file=sys.stderr),
                  engine=args.engine)
    print(kit.profile.note, file=sys.stderr)
    common = {"seed": args.seed}
    if args.steps is not None:
        common["steps"] = args.steps

    box = None
    if args.box:
        box = parse_box(args.box)
    elif args.find:
        found = kit.detect(image, args.find)
        if not found:
            raise InvalidInputError(f"nothing matching {args.find!r} was found; rephrase it or give --box")
        if not 1 <= args.pick <= len(found):
            raise InvalidInputError(f"--pick {args.pick} but only {len(found)} match(es) for {args.find!r}")
        chosen = found[args.pick - 1]
        box = chosen.box
        print(f"found {len(found)} match(es) for {args.find!r}; editing #{args.pick} "
              f"(score {chosen.score:.2f}) at {tuple(round(v) for v in box)}", file=sys.stderr)
    needs_region = not (args.global_ or args.diffedit)
    if needs_region and box is None:
        raise InvalidInputError("say what to edit with --find PHRASE or --box X0,Y0,X1,Y1")

    if needs_region:
        mask = kit.segment(image, [box])[0]
    name = args.find or "object"
    if args.replace_with:
        new_box = parse_box(args.new_box, "--new-box") if args.new_box else None
        result = kit.replace(image, mask, args.replace_with, old=name, two_stage=args.two_stage or new_box is not None,
                             new_box=new_box, progress=_progress("inpainting"), **common)
    elif args.remove:
        result = kit.remove(image, mask, name=name, progress=_progress("inpainting"), **common)
    elif args.recolor:
        result = kit.recolor(image, mask, args.recolor, method=args.method, name=name,
                             progress=_progress("recolouring"), **common)
        if result.details.get("why"):
            print(f"note: painted by diffusion: the exact colour shift cannot do {result.details['why']}",
                  file=sys.stderr)
    elif args.background:
        result = kit.background(image, mask, args.background, progress=_progress("inpainting"), **common)
    elif args.global_:
        result = kit.global_edit(image, args.global_, progress=_progress("editing"), **common)
    else:
        result = kit.diffedit(image, args.source, args.diffedit, progress=_progress("diffedit"), **common)

    metadata = {"chatedit:operation": result.operation, "chatedit:prompt": result.prompt,
                "chatedit:seed": str(result.seed), "chatedit:profile": profile.name,
                "chatedit:models": ", ".join(f"{k}={v}" for k, v in kit.models.items()),
                "chatedit:source": str(Path(image_arg).name)}
    out = save_image(result.image, output, alpha=loaded.alpha, metadata=metadata)
    if mask_out is not None:
        from PIL import Image

        save_image(Image.fromarray(result.region.astype("uint8") * 255, "L").convert("RGB"), mask_out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``chatedit edit``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(_join_negative_boxes(sys.argv[1:] if argv is None else list(argv)))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        out = run(args)
    except ChatEditError as e:
        _Line.end()
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _Line.end()
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        _Line.end()  # even before an unexpected traceback
    print(out)
    return 0
