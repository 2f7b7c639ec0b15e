"""What many played sessions came to: summary.json / summary.md at the output root, and each turn's stage times."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.scripted.transcript import SessionRecord
from tools.atomic import atomic_write
from tools.errors import ChatEditError

FORMAT = 1
"""summary.json's format number."""


class StageClock:
    """Seconds per stage of one turn, from an editor's ``on_progress(stage, step, total)`` calls.

    A stage runs from its first call to the next stage's first call (or :meth:`take`).
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = 0.0

    def __call__(self, stage: str, step: int, total: int) -> None:
        if stage != self._stage:
            now = time.monotonic()
            self._close(now)
            self._stage, self._since = stage, now

    def _close(self, now: float) -> None:
        if self._stage is not None:
            self._seconds[self._stage] = self._seconds.get(self._stage, 0.0) + now - self._since

    def take(self) -> dict[str, float]:
        """The stages timed since the last take, in the order they began (seconds, 3 decimals)."""
        self._close(time.monotonic())
        seconds, self._seconds, self._stage = self._seconds, {}, None
        return {stage: round(s, 3) for stage, s in seconds.items()}


@dataclass
class SessionSummary:
    """One session's line in the summary (paths relative to the output root)."""

    name: str
    source: str
    out: str
    status: str
    """passed, failed (an expectation failed) or error (it could not run: the message says why)."""
    exit: int
    failing_turn: int | None = None
    """The first turn whose expectations failed (None: none did)."""
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    turns: int = 0
    versions: list[str] = field(default_factory=list)
    """Every version's sha256 in the order made (the original first): equal lists, equal pictures."""
    questions: int = 0
    """Turns that ended with a question to the user."""
    planned: int = 0
    """Turns the planner model was asked to plan."""
    valid_plans: int = 0
    """Of those, turns whose first planner reply was a valid plan (no re-ask)."""
    edits: int = 0
    """Versions made with a mask (the region they were allowed to change)."""
    inside_masks: int = 0
    """Of those, versions whose changed pixels all lie inside their mask (checked on the saved PNGs)."""
    outside_masks: list[int] = field(default_factory=list)
    """The versions that changed a pixel outside their mask."""
    worker: str = ""
    retried: str | None = None
    """Why the session was played a second time (its worker died), None when it was played once."""
    timings: dict[str, float] = field(default_factory=dict)
    turn_timings: list[dict[str, Any]] = field(default_factory=list)
    """Per turn: {"turn", "seconds", "stages": {stage: seconds}}."""


def _first_reply_valid(replies: list[str]) -> bool:
    from agent.graph.planning import parse_plan

    return bool(replies) and parse_plan(replies[0])[0] is not None


def _changed_inside(before: Path, after: Path, mask: Path) -> bool:
    """Whether every pixel that differs between two saved versions lies inside the (white) mask."""
    with Image.open(before) as b, Image.open(after) as a, Image.open(mask) as m:
        x, y, keep = np.asarray(b.convert("RGB")), np.asarray(a.convert("RGB")), np.asarray(m.convert("L")) > 127
    if x.shape != y.shape or keep.shape != x.shape[:2]:
        return False
    return not bool(np.any(np.any(x != y, axis=2) & ~keep))


def session_summary(record: SessionRecord, out: Path, *, source: str, root: Path, exit: int) -> SessionSummary:
    """Summarize a played session from its record and the versions and masks it saved under ``out``."""
    failing = next((t.index for t in record.turns if t.failures), None)
    summary = SessionSummary(
        name=record.name, source=source, out=_relative(out, root), status="passed" if record.passed else "failed",
        exit=exit, failing_turn=failing, turns=len(record.turns), versions=[v.sha256 for v in record.versions],
        failures=[f'turn {t.index} ("{t.label}"): {f}' for t in record.turns for f in t.failures],
        questions=sum(t.question is not None for t in record.turns), timings=dict(record.timings),
        turn_timings=[{"turn": t.index, "seconds": t.seconds, "stages": dict(t.stages)} for t in record.turns])
    for t in record.turns:
        asked = t.planned_by == "planner" or (t.plan is None and "no valid plan" in (t.error or ""))
        summary.planned += asked
        summary.valid_plans += asked and _first_reply_valid(t.planner_replies)
    images = {v.number: v.image for v in record.versions}
    for v in record.versions:
        if v.mask is None or v.parent not in images:
            continue
        summary.edits += 1
        if _changed_inside(out / images[v.parent], out / v.image, out / v.mask):
            summary.inside_masks += 1
        else:
            summary.outside_masks.append(v.number)
    return summary


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve())) or "."
    except ValueError:
        return str(path)


@dataclass
class RunSummary:
    """The whole run: how it was played and every session's summary, in the order given."""

    backend: str
    """serial, processes or ray."""
    workers: int
    seconds: float
    sessions: list[SessionSummary]
    format: int = FORMAT

    @property
    def totals(self) -> dict[str, Any]:
        s = self.sessions
        planned = sum(x.planned for x in s)
        return {"sessions": len(s), "passed": sum(x.status == "passed" for x in s),
                "failed": sum(x.status == "failed" for x in s), "errors": sum(x.status == "error" for x in s),
                "retried": sum(x.retried is not None for x in s), "questions": sum(x.questions for x in s),
                "planner_validity_rate": round(sum(x.valid_plans for x in s) / planned, 4) if planned else None,
                "edits": sum(x.edits for x in s), "edits_inside_masks": sum(x.inside_masks for x in s),
                "sessions_per_minute": self._rate()}

    def _rate(self) -> float | None:
        """Sessions played per minute; None when none was played (each one could not run) or no time passed."""
        played = sum(x.status != "error" for x in self.sessions)
        return round(60 * played / self.seconds, 3) if played and self.seconds >= 0.01 else None

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "backend": self.backend, "workers": self.workers,
                "seconds": round(self.seconds, 3), "totals": self.totals,
                "sessions": [asdict(x) for x in self.sessions]}


def write_summary(run: RunSummary, root: Path) -> tuple[Path, Path]:
    """Write summary.json and summary.md into ``root`` (atomically); returns their paths."""
    texts = {"summary.json": json.dumps(run.to_json(), indent=1, ensure_ascii=False) + "\n",
             "summary.md": markdown(run)}
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            atomic_write(root / name, text.encode("utf-8", "replace"), durable=False, mode=0o644)
    except OSError as e:
        raise ChatEditError(f"could not write the summary into {root}: {e.strerror or e}") from e
    return root / "summary.json", root / "summary.md"


def _rate_text(rate: float | None) -> str:
    return f" ({rate:g} sessions per minute)" if rate is not None else ""


def markdown(run: RunSummary) -> str:
    """summary.md: the totals, one table row per session, then every failure and retry in words."""
    t = run.totals
    rate = "n/a" if t["planner_validity_rate"] is None else f"{100 * t['planner_validity_rate']:.0f}%"
    lines = [f"# {t['sessions']} sessions: {t['passed']} passed, {t['failed']} failed, {t['errors']} could not run",
             "", f"Played by {run.backend} ({run.workers} worker{'s' if run.workers != 1 else ''}) in "
             f"{run.seconds:.1f} s{_rate_text(t['sessions_per_minute'])}; {t['retried']} retried. "
             f"Planner: {rate} of planned turns valid at the first reply. Questions asked: {t['questions']}. "
             f"Edits inside their masks: {t['edits_inside_masks']} of {t['edits']}.", "",
             "| session | result | failing turn | turns | versions | questions | valid plans | inside masks "
             "| seconds | worker |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in run.sessions:
        result = s.status + (" (retried)" if s.retried else "")
        plans = f"{s.valid_plans}/{s.planned}" if s.planned else "-"
        masks = f"{s.inside_masks}/{s.edits}" if s.edits else "-"
        link = f"[{s.name}]({s.out}/transcript.md)" if s.status != "error" else s.name
        lines.append(f"| {link} | {result} | {s.failing_turn or '-'} | {s.turns} | {max(len(s.versions) - 1, 0)} "
                     f"| {s.questions} | {plans} | {masks} | {s.timings.get('total_s', 0):.1f} | {s.worker} |")
    notes = [f"- {s.name}: {f}" for s in run.sessions for f in s.failures]
    notes += [f"- {s.name}: could not run: {s.error}" for s in run.sessions if s.error]
    notes += [f"- {s.name}: retried: {s.retried}" for s in run.sessions if s.retried]
    notes += [f"- {s.name}: v{n} changed pixels outside its mask" for s in run.sessions for n in s.outside_masks]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
