"""A session ready to play: turns, pinned planner replies and checks, from a session file or a transcript."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.scripted.session_file import SessionFile
from agent.scripted.transcript import read_json
from tools.errors import InvalidInputError

if TYPE_CHECKING:
    from agent.served import ServerSettings


@dataclass(frozen=True)
class ScriptTurn:
    """One turn to play: what to do, the planner replies pinned for it, and the checks."""

    kind: str
    value: str | int
    pinned: tuple[str, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    sha256: str | None = None
    """Replay: the sha256 of the version the recording made in this turn (None: it made none)."""
    pointing: dict[str, Any] = field(default_factory=dict)
    """``point``/``box``/``points`` given with the turn's words (keyword arguments of send/answer)."""
    reference: Path | None = None
    """A reference image file given with the turn's words (``reference=`` of send/answer)."""

    @property
    def label(self) -> str:
        return str(self.value) if self.kind == "user" else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Script:
    """A session ready to play, from a session file or a transcript (replay)."""

    name: str
    image: Path
    image_source: str
    profile: str
    seed: int
    turns: tuple[ScriptTurn, ...]
    description: str = ""
    session_file: str | None = None
    replay_of: str | None = None
    image_line: int | None = None
    verify: bool | None = None
    """Let the planner judge each edit (None: the profile's setting)."""
    planner: ServerSettings | None = None
    """A served planner for the turns no reply is pinned for (None: the profile's own; ``--planner``)."""
    engine: str | None = None
    """The repaint engine (``--engine``: ``sd``, ``sdxl``, ``flux2-klein``; None: the profile's choice)."""
    quality: str | None = None
    """Edit quality (``--quality``: ``fast``, ``balanced``, ``best``; None: the profile's)."""

    @property
    def strict(self) -> bool:
        """A replay pins every planner reply: asking more is an error, never a live model call."""
        return self.replay_of is not None


def script_from_file(sf: SessionFile, *, profile: str | None = None, seed: int | None = None) -> Script:
    """A session file as a script (``profile``/``seed`` override the file's)."""
    spec = sf.spec
    references = sf.references or (None,) * len(spec.turns)
    turns = tuple(ScriptTurn(kind=t.kind, value=t.value, pinned=tuple(t.pinned_replies()),
                             expect=t.expect.model_dump(exclude_none=True) if t.expect else {}, line=line,
                             pointing=t.pointing, reference=ref)
                  for t, line, ref in zip(spec.turns, sf.turn_lines, references))
    return Script(name=sf.name, image=sf.image_path, image_source=spec.image,
                  profile=profile or spec.profile or "auto", seed=spec.seed if seed is None else seed,
                  turns=turns, description=spec.description, session_file=str(sf.path), image_line=sf.image_line,
                  verify=spec.verify)


def script_from_transcript(path: Path, *, profile: str | None = None) -> Script:
    """A recorded session as a script that replays its planner replies and seeds and checks its versions."""
    record = read_json(path)
    made = {v.turn: v.sha256 for v in record.versions if v.turn > 0}
    turns = tuple(ScriptTurn(kind=t.kind, value=t.value, pinned=tuple(t.planner_replies), expect=dict(t.expect),
                             line=t.line, sha256=made.get(t.index), pointing=dict(t.pointing or {}),
                             reference=path.parent / t.reference if t.reference else None)
                  for t in record.turns)
    original = path.parent / record.original
    if not original.is_file():
        raise InvalidInputError(f"{path}: the recorded original {original} is missing; it cannot be replayed")
    for t in turns:
        if t.reference is not None and not t.reference.is_file():
            raise InvalidInputError(f"{path}: the reference image {t.reference} recorded for turn {t.label!r} is "
                                    "missing; it cannot be replayed")
        if t.reference is not None and hashlib.sha256(t.reference.read_bytes()).hexdigest() != t.reference.stem:
            raise InvalidInputError(f"{path}: the reference image {t.reference} recorded for turn {t.label!r} is "
                                    "damaged (its bytes no longer match the sha256 it is named by); put the "
                                    "recorded file back, it cannot be replayed without it")
    return Script(name=record.name, image=original, image_source=record.image_source,
                  profile=profile or record.profile, seed=record.seed, turns=turns, description=record.description,
                  session_file=record.session_file, replay_of=str(path), verify=record.verify)
