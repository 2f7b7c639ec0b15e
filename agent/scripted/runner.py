"""`chatedit run`: play scripted sessions headless, or replay a transcript, and write what happened."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.scripted.checks import Outcome, check
from agent.scripted.script import (
    Script,
    ScriptTurn,
    script_from_file,
    script_from_transcript,
)
from agent.scripted.scripted_planner import ScriptedPlanner
from agent.scripted.session_file import SessionFileError, load_session_file
from agent.scripted.summary import StageClock
from agent.scripted.transcript import (
    SessionRecord,
    TurnRecord,
    VersionRecord,
    contact_sheet,
    keep_reference,
    write_json,
    write_markdown,
)
from agent.session.errors import SessionLockedError
from agent.session.lock import remove_session
from tools.arguments import OneLineParser
from tools.errors import ChatEditError, ImageLoadError, InvalidInputError

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_BAD_FILE = 0, 1, 2
OUTPUTS = ("session", "versions", "masks", "questions", "transcript.json", "transcript.md", "contact_sheet.png")
"""What a run writes into its output folder (and clears there before running again)."""


def prepare_out(out: Path) -> None:
    """Make ``out`` ready: new, empty, or a previous run's output (whose files are replaced).

    Raises:
        InvalidInputError: ``out`` is a file, holds other files, or cannot be created or cleared
            (a parent that is a file, no permission, no space, a name too long...), in one line.
    """
    try:
        if out.exists():
            if not out.is_dir():
                raise InvalidInputError(f"--out {out} is a file; give a folder")
            if any(out.iterdir()) and not _previous_run(out):
                raise InvalidInputError(f"--out {out} holds other files; give an empty folder or a previous run's")
            for name in OUTPUTS:
                target = out / name
                if target.is_dir() and name == "session":
                    remove_session(target)             # refused while another chatedit has it open
                elif target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        for sub in ("versions", "masks", "questions"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except InvalidInputError:
        raise
    except SessionLockedError as e:
        raise InvalidInputError(f"--out {out} is in use: {e}") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        shown = str(out) if str(out).isprintable() else ascii(str(out))
        raise InvalidInputError(f"--out {shown} cannot be created: {_unusable(out, e)}; choose another folder") from e


def _previous_run(out: Path) -> bool:
    """Whether ``out`` holds a previous run's output: its transcript, or only what a run writes around a
    chatedit session (a run killed before its transcript)."""
    from agent.session.history_file import is_session

    if (out / "transcript.json").is_file():
        return True
    written = {*OUTPUTS, "references", "summary.json", "summary.md"}
    return is_session(out / "session") and all(p.name in written for p in out.iterdir())


def _unusable(out: Path, error: OSError | ValueError) -> str:
    """Why ``out`` cannot be made, in words: "/etc/hostname is not a folder", "permission denied"..."""
    if not isinstance(error, OSError):
        return "the path holds a NUL byte" if "null" in str(error) else str(error)
    if error.errno == errno.ENOTDIR:
        for folder in (out, *out.parents):  # the nearest existing ancestor is the file in the way
            try:
                if folder.exists():
                    return f"{folder} is not a folder" if not folder.is_dir() else "a part of it is not a folder"
            except OSError:
                continue
    reasons = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the file system is read-only", errno.ENAMETOOLONG: "the path or a name in it is too long",
               errno.EEXIST: "a file is in the way", errno.ELOOP: "it goes through a loop of symbolic links"}
    reason = reasons.get(error.errno or 0, error.strerror or str(error))
    return f"{reason} ({error.filename})" if error.filename and error.errno != errno.ENAMETOOLONG else reason


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _live_planner(editor: Any) -> Any:
    from agent.planner import load_planner

    toolkit = editor.toolkit
    return load_planner(editor.profile, getattr(toolkit, "placement", None), memory=getattr(toolkit, "memory", None))


def _served_live(settings: Any) -> Callable[[Any], Any]:
    """Builds the served planner ``settings`` (:class:`agent.served.ServerSettings`) name, for an editor."""
    def build(editor: Any) -> Any:
        from agent.served import for_profile

        return for_profile(settings.build(), editor.profile)      # images at the profile's planner size

    return build


def _live_constrains() -> bool:
    """Whether the live planner (:func:`agent.planner.load_planner` always builds a LlavaChatModel)
    constrains its decoding to a JSON schema; read from the class, so nothing is loaded to know it."""
    from agent.planner import LlavaChatModel

    return LlavaChatModel.model_fields["supports_json_schema"].default is True


def _question(reply: Any, index: int, out: Path) -> dict[str, Any] | None:
    q = reply.question if reply is not None else None
    if q is None:
        return None
    image = None
    if q.image_path and Path(q.image_path).is_file():
        image = f"questions/t{index:02d}.png"
        shutil.copyfile(q.image_path, out / image)
    return {"text": q.text, "image": image,
            "candidates": [{"number": c.number, "box": [float(v) for v in c.box], "label": c.label,
                            "score": float(c.score)} for c in q.candidates]}


def _version(editor: Any, number: int, index: int, out: Path) -> tuple[VersionRecord, np.ndarray | None]:
    info = next(v for v in editor.history if v.number == number)
    image = f"versions/v{number:02d}-t{index:02d}.png"
    shutil.copyfile(info.image_path, out / image)
    mask_rel, mask = None, None
    if info.mask_path is not None and Path(info.mask_path).is_file():
        mask_rel = f"masks/v{number:02d}-t{index:02d}.png"
        shutil.copyfile(info.mask_path, out / mask_rel)
        with Image.open(info.mask_path) as im:
            mask = np.asarray(im.convert("L")) > 127
    steps = [dict(s) for s in info.steps]
    return VersionRecord(number=number, turn=index, parent=info.parent, instruction=info.instruction, image=image,
                         sha256=_sha256(out / image), mask=mask_rel, seed=info.seed, steps=steps,
                         models=dict(info.models)), mask


def _act(editor: Any, turn: ScriptTurn) -> Any:
    extra = {"reference": turn.reference} if turn.reference is not None else {}
    if turn.kind == "user":
        return editor.send(str(turn.value), **turn.pointing, **extra)
    if turn.kind == "answer":
        return editor.answer(turn.value, **turn.pointing, **extra)
    return getattr(editor, turn.kind)(int(turn.value))


def _play_turn(editor: Any, planner: ScriptedPlanner, turn: ScriptTurn, index: int, out: Path,
               record: SessionRecord, clock: StageClock) -> TurnRecord:
    before = editor.current_image.copy()
    planner.pin(list(turn.pinned), turn=f"turn {index}")
    start = time.monotonic()
    reply, error = None, None
    try:
        reply = _act(editor, turn)
    except ChatEditError as e:  # a refused answer or move is the turn's outcome, not the run's end
        error = str(e)
    seconds = time.monotonic() - start
    replies, unused = planner.take_log()
    tr = TurnRecord(index=index, kind=turn.kind, value=turn.value, line=turn.line, pinned=len(turn.pinned),
                    planner_replies=replies, seconds=round(seconds, 3), expect=dict(turn.expect),
                    version=editor.current_version, pointing=dict(turn.pointing) or None, stages=clock.take(),
                    planned_by=(getattr(reply, "planned_by", None) or {}).get("kind"))
    if turn.reference is not None:
        tr.reference = keep_reference(turn.reference, out)
    if reply is not None:
        tr.reply, tr.error, tr.new_version = reply.text, reply.error, reply.version
        tr.plan = reply.plan.model_dump(mode="json") if reply.plan is not None else None
    tr.error = tr.error or error
    tr.question = _question(reply, index, out)
    mask = None
    if tr.new_version is not None:
        version, mask = _version(editor, tr.new_version, index, out)
        record.versions.append(version)
        tr.seeds = [int(s["seed"]) for s in version.steps if s.get("seed") is not None]
    tree = {number: parent for number, _, _, _, parent in editor.versions}
    outcome = Outcome(before=before, after=editor.current_image, new_version=tr.new_version, version=tr.version,
                      asked=tr.question, reply=tr.reply, error=tr.error, mask=mask, tree=tree)
    tr.failures = check(turn.expect, outcome)
    if unused and (getattr(reply, "planned_by", None) or {}).get("kind") != "commands":
        # a move in words ("undo the last two") is read by the command layer: a pinned plan for it is not needed
        tr.failures.append(f"{unused} pinned planner repl{'y was' if unused == 1 else 'ies were'} not used")
    if turn.sha256 is not None or (record.replay_of and tr.new_version is not None):
        made = record.versions[-1].sha256 if tr.new_version is not None else None
        if made != turn.sha256:
            tr.failures.append("the replay made a different image than the recording"
                               if made and turn.sha256 else
                               f"the recording {'made a version' if turn.sha256 else 'made no version'} here, "
                               f"the replay {'did' if made else 'did not'}")
    return tr


def _title(v: VersionRecord, head: int) -> str:
    """A contact-sheet title: "v2 · turn 5", "v4 · turn 9 · from v1" where a branch starts, marked current."""
    title = "v0 · original" if v.turn == 0 else f"v{v.number} · turn {v.turn}"
    if v.parent is not None and v.parent != v.number - 1:
        title += f" · from v{v.parent}"
    return title + " · current" if v.number == head else title


def play(script: Script, out: Path, *, echo: Callable[[str], None] | None = None, toolkit: Any = None,
         live: Callable[[Any], Any] | None = None) -> SessionRecord:
    """Play ``script`` headless into ``out`` and write transcript.json/.md, every version and the contact sheet.

    Args:
        echo: told one line per turn as it ends.
        toolkit: the :class:`tools.toolkit.Toolkit` to edit with (None: a new one for the profile); a worker
            playing many sessions passes the same one, so each model loads once.
        live: builds the live planner for an editor (None: loads the profile's); a worker passes one that
            keeps the planner it loaded.

    Raises:
        SessionFileError: the image cannot be opened (names the session file's line).
        ChatEditError: the editor could not start (unknown profile, unavailable models...).
    """
    from agent.editor import Editor

    say = echo or (lambda _: None)
    prepare_out(out)
    if script.planner is not None:          # --planner: a served model answers the turns no reply is pinned for
        live = _served_live(script.planner)
    planner = ScriptedPlanner(live=None if script.strict else (lambda: (live or _live_planner)(editor)))
    if toolkit is not None:
        toolkit.on_load = None              # the new editor hears this session's model loads
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    try:
        profile: Any = script.profile
        if script.verify is not None:       # the file says whether the planner judges each edit
            from tools.loading import resolve_profile

            profile = dataclasses.replace(resolve_profile(script.profile), verify=script.verify)
        editor = Editor.open(script.image, profile=profile, session_dir=out / "session",
                             planner=planner, seed=script.seed, toolkit=toolkit, engine=script.engine,
                             quality=script.quality)
    except ImageLoadError as e:
        where = f"{script.session_file} line {script.image_line}: " if script.session_file else ""
        raise SessionFileError(f"{where}image '{script.image_source}' cannot be opened: {e}",
                               line=script.image_line) from e
    planner.live_random = editor.profile.planner.random_weights and script.planner is None  # then: the grammar
    planner.live_constrains = _live_constrains()                   # unpinned turns are decoded with the schema
    clock = StageClock()
    editor.on_progress = clock
    try:
        open_s = time.monotonic() - t0
        original = editor.history[0]
        shutil.copyfile(original.image_path, out / "versions" / "v00-original.png")
        record = SessionRecord(name=script.name, image_source=script.image_source,
                               original="versions/v00-original.png", profile=editor.profile.name,
                               seed=script.seed, description=script.description, session_file=script.session_file,
                               replay_of=script.replay_of, models=dict(editor.profile.model_ids()),
                               session_dir=str(editor.session_dir), started=started, verify=script.verify,
                               quality=editor.profile.quality,
                               engine=str(getattr(editor.toolkit, "engine_name", "") or ""))
        record.versions.append(VersionRecord(number=0, turn=0, instruction="", image=record.original,
                                             sha256=_sha256(out / record.original)))
        for index, turn in enumerate(script.turns, 1):
            tr = _play_turn(editor, planner, turn, index, out, record, clock)
            record.turns.append(tr)
            mark = "FAIL" if tr.failures else "ok"
            made = f" -> v{tr.new_version}" if tr.new_version is not None else (" -> question" if tr.question else "")
            say(f"  turn {index} [{mark}] {turn.label}{made} ({tr.seconds:.1f} s)")
            for failure in tr.failures:
                say(f'    turn {index} ("{turn.label}"): {failure}')
        final = editor.current_version
    finally:
        editor.close()
    record.passed = not any(t.failures for t in record.turns)
    total = time.monotonic() - t0
    record.timings = {"open_s": round(open_s, 3), "turns_s": round(sum(t.seconds for t in record.turns), 3),
                      "total_s": round(total, 3)}
    entries = [(out / v.image, _title(v, final), v.instruction) for v in record.versions]
    contact_sheet(entries, out / "contact_sheet.png")
    write_json(record, out / "transcript.json")
    write_markdown(record, out / "transcript.md")
    return record


def failures(record: SessionRecord) -> list[str]:
    """Every failed expectation as ``turn N ("words"): expected ..., got ...``."""
    return [f'turn {t.index} ("{t.label}"): {f}' for t in record.turns for f in t.failures]


USAGE = """examples:
  chatedit run sessions/compound.yaml                    writes out/compound/ (transcript.md, contact_sheet.png...)
  chatedit run sessions/*.yaml --profile tiny --out out/ci   one folder per session under out/ci/
  chatedit run --replay out/compound/transcript.json     re-runs it with the recorded planner replies and seeds
  chatedit run sessions/*.yaml --jobs 4                 4 worker processes; out/summary.json and summary.md
  chatedit run sessions/*.yaml --ray=auto               on the Ray cluster this machine belongs to
exit status: 0 every expectation held, 1 one failed (or the run could not start), 2 a bad session file."""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="chatedit run", epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Play scripted dialog sessions (sessions/*.yaml) headless.")
    p.add_argument("files", nargs="*", metavar="FILE.yaml", help="session files to play")
    p.add_argument("--replay", metavar="TRANSCRIPT", help="replay a recorded transcript.json instead")
    p.add_argument("--out", metavar="DIR", help="output folder (several files: one subfolder each); "
                   "default out/<name> (replay: out/<name>-replay)")
    p.add_argument("--profile", help="auto, full, lite or tiny (default: the file's, else auto; replay: the recorded)")
    p.add_argument("--engine", choices=("sd", "sdxl", "flux2-klein"), default=None,
                   help="repaint engine (default: the profile's; full takes FLUX.2 klein where it fits, else SDXL)")
    p.add_argument("--quality", choices=("fast", "balanced", "best"), default=None,
                   help="edit quality: fast (LCM-LoRA, 4 steps, no guidance; lite's default), balanced (DPM-Solver++ 20 steps), "
                        "best (the model's own sampler, 30+ steps, native size); default: the profile's")
    p.add_argument("--seed", type=int, help="base seed (default: the file's, else 0)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                   help="let the planner judge each edit (default: the file's, else the profile's; off on lite)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="play sessions in N worker processes, each loading its models once (default: here)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="play sessions on a Ray cluster (no ADDRESS: a local one), one actor per worker "
                   "(--jobs N actors; default one per GPU, else per CPU); needs pip install 'chatedit[cluster]'")
    p.add_argument("--planner", metavar="URL", help="answer unpinned turns with the model an OpenAI-compatible "
                   "server serves, e.g. http://gpu-box:8000/v1 (default: $CHATEDIT_PLANNER_URL, else the profile's)")
    p.add_argument("--planner-model", metavar="NAME",
                   help="the served model (default: $CHATEDIT_PLANNER_MODEL, else the first the server lists)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _jobs(args: argparse.Namespace) -> tuple[list[Any], list[Any], Path | None]:
    """The sessions to play as jobs, those whose file or transcript is bad as results, and the summary's folder
    (None: a replay writes none)."""
    from agent.scripted.worker import Job, failed_job

    root = None if args.replay else Path(args.out or "out")
    sources = [args.replay] if args.replay else list(args.files)
    jobs, bad = [], []
    taken: set[Path] = set()
    for index, source in enumerate(sources):
        out = Path(args.out) if args.out else None
        if args.out and len(sources) > 1:
            out = Path(args.out) / Path(source).stem
        try:
            if args.replay:
                script = script_from_transcript(Path(source), profile=args.profile)
                out = out or Path("out") / f"{script.name}-replay"
                if out.resolve() == Path(source).resolve().parent:
                    raise InvalidInputError(f"--out {out} is the recording's own folder; choose another")
            else:
                script = script_from_file(load_session_file(source), profile=args.profile, seed=args.seed)
                out = out or Path("out") / script.name
        except SessionFileError as e:
            bad.append(failed_job(index, str(source), Path(source).stem, out or Path("out"), EXIT_BAD_FILE, str(e)))
            continue
        except InvalidInputError as e:
            said = str(e) if str(e).startswith(str(source)) else f"{source}: {e}"   # named once, not twice
            bad.append(failed_job(index, str(source), Path(source).stem, out or Path("out"), EXIT_BAD_FILE, said))
            continue
        if args.verify is not None:
            script = dataclasses.replace(script, verify=args.verify)
        if args.engine is not None:
            script = dataclasses.replace(script, engine=args.engine)
        if args.quality is not None:
            script = dataclasses.replace(script, quality=args.quality)
        jobs.append(Job(index=index, source=str(source), script=script, out=_own_folder(out, taken)))
    return jobs, bad, root


def _own_folder(out: Path, taken: set[Path]) -> Path:
    """``out``, or ``out-2``, ``out-3``... when another session of this run (same file name) writes there already."""
    path, n = out, 1
    while Path(os.path.abspath(path)) in taken:          # abspath: no system call (a NUL byte is said later)
        n += 1
        path = out.with_name(f"{out.name}-{n}")
    taken.add(Path(os.path.abspath(path)))
    return path


def _ready(jobs: list[Any]) -> tuple[list[Any], list[Any]]:
    """The jobs whose profile's models are here or can be downloaded, and the others as "could not run"
    results naming the missing models (``full``/``lite`` offline); each profile is checked once."""
    from agent.scripted.worker import failed_job
    from tools.profiles import PROFILES
    from tools.readiness import unavailable

    said: dict[tuple[Any, ...], str | None] = {}
    ready, unready = [], []
    for job in jobs:
        s = job.script
        key = (s.profile, s.engine, s.quality, s.planner is not None)
        if key not in said:
            profile = PROFILES.get(s.profile) if s.profile in ("full", "lite") else None
            said[key] = profile and unavailable(profile, engine=s.engine, quality=s.quality,
                                                served=s.planner is not None)
        if said[key]:
            unready.append(failed_job(job.index, job.source, Path(job.source).stem, job.out, EXIT_FAILED,
                                      f"{job.source}: {said[key]}"))
        else:
            ready.append(job)
    return ready, unready


def _served_settings(args: argparse.Namespace) -> Any:
    """The served planner ``--planner``/``--planner-model`` (or the environment) name, or None."""
    if not (args.planner or args.planner_model or os.environ.get("CHATEDIT_PLANNER_URL")):
        return None
    from agent.served import settings_from

    return settings_from(args.planner, args.planner_model)


def run_main(argv: list[str] | None = None) -> int:
    """`chatedit run ...`; returns the exit status (0 passed, 1 an expectation failed, 2 a bad file)."""
    from agent.scripted.parallel import run_sessions

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.ray is not None and Path(args.ray).suffix in (".yaml", ".yml"):   # `--ray a.yaml b.yaml`: files, no address
        args.files, args.ray = [args.ray, *args.files], ""
    if bool(args.files) == bool(args.replay):
        print("chatedit run: give session files, or --replay TRANSCRIPT (not both)", file=sys.stderr)
        return EXIT_BAD_FILE
    if args.jobs is not None and args.jobs < 1:
        print(f"chatedit run: --jobs must be 1 or more, got {args.jobs}", file=sys.stderr)
        return EXIT_BAD_FILE
    try:
        served = _served_settings(args)
    except InvalidInputError as e:
        print(f"chatedit run: {e}", file=sys.stderr)
        return EXIT_BAD_FILE
    from tools.readiness import environment_problem

    problem = environment_problem()
    if problem is not None:
        print(f"chatedit run: {problem}", file=sys.stderr)
        return EXIT_FAILED
    jobs, bad, root = _jobs(args)
    if served is not None:
        jobs = [dataclasses.replace(j, script=dataclasses.replace(j.script, planner=served)) for j in jobs]
    jobs, unready = _ready(jobs)
    bad += unready
    for result in bad:
        print(result.lines[0][0], file=sys.stderr)
    return run_sessions(jobs, root, workers=args.jobs, ray=args.ray, verbose=args.verbose, done=bad)


if __name__ == "__main__":
    sys.exit(run_main())
