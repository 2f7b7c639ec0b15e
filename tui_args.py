"""chatedit's command line: the TUI's argument parser and the checks of its options before the app starts."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from tools.arguments import OneLineParser
from tui_widgets import IMAGE_MODES

COMMANDS = {
    "edit": "one edit straight through the tools, no planner (chatedit edit --help)",
    "sessions": "list saved sessions (chatedit sessions --help)",
    "run": "play scripted sessions headless, or replay a transcript (chatedit run --help)",
}


ENGINES = ("sd", "sdxl", "flux2-klein")
"""The repaint engines ``--engine`` takes: ``tools.engines.ENGINES`` (not imported here: that pulls in torch)."""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="chatedit", description="Talk to a photo: say what to change, and chatedit finds it and repaints "
                                     "only that. Every version is kept; undo any step.",
        epilog="other commands:\n" + "\n".join(f"  chatedit {n:9s} {t}" for n, t in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", nargs="?", help="image path or a bundled sample (coffee, chelsea, astronaut, rocket); "
                                            "default: coffee")
    p.add_argument("--profile", default="auto", choices=("auto", "full", "lite", "tiny"),
                   help="models to use: auto (default: full on CUDA, lite on CPU, tiny offline), full, lite, tiny")
    p.add_argument("--engine", choices=ENGINES, default=None,
                   help="repaint engine (default: the profile's; full takes FLUX.2 klein where it fits beside the "
                        "planner, else SDXL)")
    p.add_argument("--quality", choices=("fast", "balanced", "best"), default=None,
                   help="edit quality: fast (LCM-LoRA, 4 steps, no guidance; lite's default), balanced "
                        "(DPM-Solver++ 20 steps), "
                        "best (the model's own sampler, 30+ steps, native size); default: the profile's")
    p.add_argument("--session", metavar="DIR", help="keep the new session in DIR (default: a new folder under "
                                                    "the sessions folder)")
    p.add_argument("--resume", nargs="?", const="", metavar="DIR",
                   help="reopen a saved session and its pending question (default: the latest)")
    p.add_argument("--read-only", action="store_true",
                   help="with --resume: look at a session (one another chatedit has open, say) without changing it")
    p.add_argument("--seed", type=int, default=0, help="seed of the first edit (default 0)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                   help="let the planner judge each edit and retry a bad one (default: the profile's; off on lite)")
    p.add_argument("--image-mode", choices=IMAGE_MODES, default="auto",
                   help="how to draw images: auto (kitty/sixel where the terminal supports it, else half cells)")
    add_planner_arguments(p)
    return p


def add_planner_arguments(p: argparse.ArgumentParser) -> None:
    """``--planner URL`` and ``--planner-model NAME`` (a served planner; README 'Serving the planner')."""
    p.add_argument("--planner", metavar="URL", help="plan with the model an OpenAI-compatible server serves (vLLM, "
                   "Ollama's /v1...), e.g. http://gpu-box:8000/v1 (default: $CHATEDIT_PLANNER_URL, else the "
                   "profile's own planner; the key is $OPENAI_API_KEY)")
    p.add_argument("--planner-model", metavar="NAME", help="the served model to use (default: "
                   "$CHATEDIT_PLANNER_MODEL, else the first one the server lists)")


def served_planner_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """The served planner ``--planner``/``--planner-model`` (or the environment) ask for, or None;
    a bad URL or setting is the parser's one-line error."""
    if not (args.planner or args.planner_model or os.environ.get("CHATEDIT_PLANNER_URL")):
        return None                                     # agent.served (langchain-openai) is not even imported
    from agent.served import from_settings
    from tools.errors import ChatEditError

    try:
        return from_settings(args.planner, args.planner_model)
    except ChatEditError as e:
        parser.error(str(e))


def resolve_source(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The image or session folder to open, from IMAGE / ``--resume``; a bad one is the parser's one-line error."""
    if args.resume is not None:
        if args.image or args.session:
            parser.error("--resume reopens a session; give no IMAGE or --session with it")
        from agent.session.store import is_session

        if args.resume:
            if not is_session(args.resume):
                parser.error(f"{args.resume} is not a chatedit session folder (it has no history.json); "
                             "`chatedit sessions` lists the saved ones")
            return args.resume
        from agent.session.sessions import latest_session, sessions_root

        latest = latest_session()
        if latest is None:
            parser.error(f"there is no saved session under {sessions_root()} to resume; start one with "
                         "`chatedit IMAGE` (or `chatedit` for a sample photo)")
        return str(latest.path)
    from tools.samples import DEFAULT_SAMPLE, is_sample, sample_path

    image = args.image or DEFAULT_SAMPLE
    if not Path(image).exists() and is_sample(image):
        return str(sample_path(image))
    if Path(image).is_dir():
        parser.error(f"{image} is a folder; give an image file (or a sample: coffee, chelsea, astronaut, rocket)")
    if not Path(image).is_file():
        parser.error(f"{image} is not a file (give an image path or a sample: coffee, chelsea, astronaut, rocket)")
    from tools.errors import ChatEditError
    from tools.imageio import load_image

    try:  # a broken file is a one-line error here, before the app takes the terminal (PIL only, no torch)
        load_image(image)
    except ChatEditError as e:
        parser.error(str(e))
    return image


def check_ready(args: argparse.Namespace, parser: argparse.ArgumentParser, *, served: bool = False) -> None:
    """Refuse to start, in one line, when chatedit's cache folder or ``--session`` cannot be written, or
    ``--profile full``/``lite`` needs models that are not here and cannot be downloaded now (``served``: the
    planner is a server's)."""
    from tools.readiness import environment_problem, unavailable, unwritable

    problem = environment_problem()
    if problem is None and args.session:
        why = unwritable(Path(args.session).expanduser())
        problem = f"--session {args.session} cannot hold a session: {why}; choose another folder" if why else None
    if problem is None and args.profile in ("full", "lite"):
        from tools.profiles import get_profile

        problem = unavailable(get_profile(args.profile), engine=args.engine, quality=args.quality, served=served)
    if problem is not None:
        parser.error(problem)
