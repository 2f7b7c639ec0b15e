"""Scripted session files (sessions/*.yaml): the schema, and parsing that names the line of every mistake."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from agent.graph.plan import Plan
from tools.errors import InvalidInputError
from tools.samples import SAMPLES, is_sample, sample_path

KINDS = ("user", "answer", "undo", "redo", "revert")
"""What a turn does: say something, answer the pending question, or move in the history directly."""


class SessionFileError(InvalidInputError):
    """A session file that cannot be run; the message is one line naming the file and the line."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class Expect(BaseModel):
    """Checks on the outcome of one turn; every key left out is not checked."""

    model_config = ConfigDict(extra="forbid", strict=True)

    edited: bool | None = Field(default=None, description="the turn committed a new version")
    asked: bool | None = Field(default=None, description="the turn ended with a question back")
    candidates: int | None = Field(default=None, ge=0, description="how many numbered candidates the question shows")
    version: int | None = Field(default=None, ge=0, description="the current version number after the turn")
    unchanged: bool | None = Field(default=None, description="the current image is pixel-identical to before the turn")
    within_mask: bool | None = Field(default=None,
                                     description="every changed pixel lies inside the new version's mask")
    reply_contains: str | None = Field(default=None, description="text in the reply (case-insensitive)")
    error: bool | None = Field(default=None, description="the turn reported an error")


class Turn(BaseModel):
    """One turn: exactly one of ``user``, ``answer``, ``undo``, ``redo``, ``revert``.

    ``plan`` pins the planner's reply for the turn (the plan it answers with, as JSON);
    ``replies`` pins raw replies in call order instead (to script a malformed reply and its repair).
    """

    # Strict scalars (YAML's `no` must not become the text "False"); the plan is validated like the
    # planner's JSON output is (not strictly), so it is the one lax field.
    model_config = ConfigDict(extra="forbid")

    user: StrictStr | None = None
    answer: StrictStr | StrictInt | None = None
    undo: StrictInt | None = Field(default=None, ge=1)
    redo: StrictInt | None = Field(default=None, ge=1)
    revert: StrictInt | None = Field(default=None, ge=0)
    plan: Plan | None = None
    replies: list[StrictStr] | None = Field(default=None, min_length=1)
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Turn:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a turn needs exactly one of {', '.join(KINDS)}"
                             + (f"; it has {', '.join(given)}" if given else ""))
        if self.plan is not None and self.replies is not None:
            raise ValueError("pin the planner with plan or replies, not both")
        if self.kind in ("undo", "redo", "revert") and (self.plan is not None or self.replies is not None):
            raise ValueError(f"{self.kind} runs without the planner; remove plan/replies")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> str | int:
        return getattr(self, self.kind)

    def pinned_replies(self) -> list[str]:
        """The planner replies this turn pins, in call order (empty: the real planner answers)."""
        if self.plan is not None:
            return [json.dumps(self.plan.model_dump(mode="json", exclude_defaults=True))]
        return list(self.replies or ())

    def label(self) -> str:
        """How messages name the turn's content: the user's words, or ``answer 2``, ``undo 1``..."""
        return str(self.user) if self.kind == "user" else f"{self.kind} {self.value}"


class SessionSpec(BaseModel):
    """A whole session file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image: str = Field(min_length=1, description="a path relative to the file, or a bundled sample name")
    description: str = ""
    profile: str | None = None
    seed: int = Field(default=0, ge=0)
    turns: list[Turn] = Field(min_length=1)


@dataclass(frozen=True)
class SessionFile:
    """A parsed, validated session file.

    Attributes:
        path: the file as given.
        spec: its content.
        image_path: the image to open (resolved next to the file, or the bundled sample's file).
        turn_lines: the 1-based line where each turn starts.
        image_line: the line of ``image:``.
    """

    path: Path
    spec: SessionSpec
    image_path: Path
    turn_lines: tuple[int, ...]
    image_line: int

    @property
    def name(self) -> str:
        return self.path.stem


# -- YAML with line numbers ------------------------------------------------------------------

def _walk(node: yaml.Node, path: tuple[str, ...], lines: dict, key_lines: dict, where: str) -> None:
    """Record the line of every value (``lines``) and mapping key (``key_lines``); reject duplicate keys."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                raise SessionFileError(f"{where} line {key.start_mark.line + 1}: duplicate key '{name}' "
                                       f"in {_describe(path)}", line=key.start_mark.line + 1)
            seen.add(name)
            key_lines[path + (name,)] = key.start_mark.line + 1
            _walk(value, path + (name,), lines, key_lines, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (str(i),), lines, key_lines, where)


def _describe(path: tuple[str, ...]) -> str:
    """``('turns', '1', 'expect')`` → ``turn 2's expect``; ``()`` → ``the session``."""
    if len(path) >= 2 and path[0] == "turns" and path[1].isdigit():
        rest = _dotted(path[2:])
        return f"turn {int(path[1]) + 1}" + (f"'s {rest}" if rest else "")
    return _dotted(path) or "the session"


def _dotted(path: tuple[str, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _line_of(path: tuple[str, ...], lines: dict) -> int:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


def _model_at(path: tuple[str, ...]) -> type[BaseModel] | None:
    """The schema model a path points into (for 'did you mean' hints)."""
    from agent.graph.plan import Referent, Step

    model: type[BaseModel] | None = SessionSpec
    fields = {"turns": Turn, "expect": Expect, "plan": Plan, "steps": Step, "referent": Referent}
    for part in path:
        if part.isdigit():
            continue
        model = fields.get(part)
    return model


def _format(error: dict, where: str, lines: dict, key_lines: dict) -> tuple[str, int]:
    path = tuple(str(p) for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    # pydantic names union members in loc ('str', 'int', 'function-after[...]'): drop those
    path = tuple(p for p in path if p not in ("str", "int", "bool", "float", "list", "dict", "none"))
    kind = error["type"]
    if kind == "extra_forbidden":
        key = path[-1]
        line = key_lines.get(path, _line_of(path, lines))
        model = _model_at(path[:-1])
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(key, list(model.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(model.model_fields)})"
        return f"unknown key '{key}' in {_describe(path[:-1])}{hint}", line
    if kind == "missing":
        return f"{_describe(path[:-1])} needs '{path[-1]}'", _line_of(path[:-1], lines)
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or kind == "value_error" else f", got {got!r}"
    if isinstance(got, bool) and kind.endswith("_type"):
        shown += " (YAML reads yes/no/on/off as true/false: quote it)"
    return f"{_describe(path)}: {message[0].lower()}{message[1:]}{shown}", _line_of(path, lines)


def parse_text(text: str, *, where: str, base: Path) -> SessionFile:
    """Parse and validate a session file's text.

    Args:
        text: the YAML.
        where: how messages name the file (the path as the user gave it).
        base: the folder relative image paths start from.

    Raises:
        SessionFileError: with a one-line ``"<where> line N: ..."`` message.
    """
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise SessionFileError(f"{where} line {line}: YAML syntax error: {e.problem or e.context}", line=line) from e
    except yaml.YAMLError as e:
        raise SessionFileError(f"{where} line 1: YAML error: {e}", line=1) from e
    if node is None:
        raise SessionFileError(f"{where} line 1: the file is empty; it needs image: and turns:", line=1)
    if not isinstance(data, dict):
        raise SessionFileError(f"{where} line 1: the file must be a mapping with image: and turns:", line=1)
    lines: dict[tuple[str, ...], int] = {}
    key_lines: dict[tuple[str, ...], int] = {}
    _walk(node, (), lines, key_lines, where)
    try:
        spec = SessionSpec.model_validate(data)
    except ValidationError as e:
        message, line = _format(e.errors()[0], where, lines, key_lines)
        raise SessionFileError(f"{where} line {line}: {message}", line=line) from e
    image_line = lines.get(("image",), 1)
    candidate = (base / spec.image).expanduser()
    if candidate.is_file():
        image_path = candidate.resolve()
    elif is_sample(spec.image):
        image_path = sample_path(spec.image)
    else:
        raise SessionFileError(f"{where} line {image_line}: image '{spec.image}' is neither a file next to "
                               f"the session file nor a bundled sample ({', '.join(SAMPLES)})", line=image_line)
    turn_lines = tuple(lines.get(("turns", str(i)), 1) for i in range(len(spec.turns)))
    return SessionFile(path=Path(where), spec=spec, image_path=image_path, turn_lines=turn_lines,
                       image_line=image_line)


def load_session_file(path: str | Path) -> SessionFile:
    """Read, parse and validate the session file at ``path`` (see :func:`parse_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SessionFileError(f"{path}: no such session file", line=None) from e
    except (OSError, UnicodeDecodeError) as e:
        raise SessionFileError(f"{path}: cannot read the session file ({e})", line=None) from e
    return parse_text(text, where=str(path), base=path.parent)
