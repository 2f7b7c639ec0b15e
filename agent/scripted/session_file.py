"""Scripted session files (sessions/*.yaml): the schema, and parsing that names the line of every mistake."""

from __future__ import annotations

import difflib
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from agent.graph.plan import Plan
from tools.errors import InvalidInputError
from tools.samples import SAMPLES, is_sample, sample_path

KINDS = ("user", "answer", "undo", "redo", "revert")
"""What a turn does: say something, answer the pending question, or move in the history directly."""

# Session files are untrusted input: every limit below is checked before the work it bounds.
MAX_FILE_BYTES = 2_000_000
"""Larger files are refused before parsing. PyYAML reads ~250 kB/s here, so this is ~8 s at most;
1000 turns that each pin a plan take ~270 kB."""
MAX_TURNS = 10_000
"""More turns are refused before validation."""
MAX_NODES = 100_000
"""More YAML values (keys, scalars, lists, mappings) written in the file are refused while composing.
PyYAML composes ~35 µs a node here (3.5 s for this many; 2 MB of ``[x,x,x...`` is 1M nodes, 40 s).
A turn that pins a plan takes ~26 nodes, ``- undo: 1`` takes 3: 3800 planned turns fit, or 10 000 short ones."""
MAX_ALIAS_NODES = 100_000
"""How many nodes aliases may add by repeating their anchors' content. Nine levels of nested aliases
(a few hundred bytes) expand to 10^9 nodes, walked by the line bookkeeping and by validation alike;
the count is kept while composing, so such a file is refused before anything walks it."""
MAX_DEPTH = 50
"""Deeper YAML nesting is refused while scanning and composing (a session needs ~10 levels; PyYAML
composes by recursion, and scans 1000 open brackets in quadratic time)."""


class SessionFileError(InvalidInputError):
    """A session file that cannot be run; the message is one line naming the file and the line."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        # quoted values from the file may hold newlines, escapes or bidi controls: the message stays one
        # printable line
        super().__init__("".join(c if c.isprintable() else "?" for c in " ".join(str(message).split())))
        self.line = line


class Expect(BaseModel):
    """Checks on the outcome of one turn; every key left out is not checked."""

    model_config = ConfigDict(extra="forbid", strict=True)

    edited: bool | None = Field(default=None, description="the turn committed a new version")
    asked: bool | None = Field(default=None, description="the turn ended with a question back")
    candidates: int | None = Field(default=None, ge=0, description="how many numbered candidates the question shows")
    version: int | None = Field(default=None, ge=0, description="the current version number after the turn")
    parent: int | None = Field(default=None, ge=0, description="the current version's parent after the turn")
    versions: int | None = Field(default=None, ge=1, description="how many versions the tree holds (v0 included)")
    children: list[int] | None = Field(default=None, description="the versions made from the current one")
    unchanged: bool | None = Field(default=None, description="the current image is pixel-identical to before the turn")
    within_mask: bool | None = Field(default=None,
                                     description="every changed pixel lies inside the new version's mask")
    reply_contains: str | None = Field(default=None, description="text in the reply (case-insensitive)")
    error: bool | None = Field(default=None, description="the turn reported an error")


class Turn(BaseModel):
    """One turn: exactly one of ``user``, ``answer``, ``undo``, ``redo``, ``revert``.

    ``plan`` pins the planner's reply for the turn (the plan it answers with, as JSON);
    ``replies`` pins raw replies in call order instead (to script a malformed reply and its repair).
    ``point`` [x, y], ``box`` [x0, y0, x1, y1] and ``points`` [[x, y, true], ...] point at the image
    with a ``user`` or ``answer`` turn (pixels of the current version; checked by the editor, so a
    bad one is the turn's error reply). ``reference`` names an image file (relative to the session
    file) to take a look or an object from ("put this hat on the cat"); it is checked when the file is read.
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
    verdicts: list[StrictStr] | None = Field(default=None, min_length=1, max_length=2)
    """The verifier's replies for the turn's edit (``"yes"``, ``"no"``, ``"maybe?"``), pinned after ``plan``."""
    point: list[StrictInt | StrictFloat] | None = None
    """A click (x, y) on the current image, with the turn's words."""
    box: list[StrictInt | StrictFloat] | None = None
    """A dragged box (x0, y0, x1, y1)."""
    points: list[list[StrictInt | StrictFloat | StrictBool]] | None = Field(default=None, max_length=32)
    """Clicks [x, y, positive]: positive false is "not this"."""
    reference: StrictStr | None = Field(default=None, min_length=1, max_length=4096)
    """A reference image's path, relative to the session file (``Editor.send(..., reference=)``)."""
    expect: Expect | None = None

    @model_validator(mode="before")
    @classmethod
    def _said_something(cls, data: Any) -> Any:
        """``user:`` with nothing after it, or only spaces, is a mistake of its own (not "no kind given")."""
        if isinstance(data, dict):
            for kind in KINDS:
                value = data.get(kind, 0)
                if value is None or (kind in ("user", "answer") and isinstance(value, str) and not value.strip()):
                    what = "the words the person says" if kind == "user" else "the answer" if kind == "answer" \
                        else "a number"
                    raise ValueError(f"{kind} is empty; write {what} after '{kind}:'")
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Turn:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a turn needs exactly one of {', '.join(KINDS)}"
                             + (f"; it has {', '.join(given)}" if given else ""))
        if self.plan is not None and self.replies is not None:
            raise ValueError("pin the planner with plan or replies, not both")
        if self.verdicts is not None and self.plan is None:
            raise ValueError("verdicts follow a plan; with replies, pin the verdicts among them")
        if self.kind in ("undo", "redo", "revert") and (self.plan is not None or self.replies is not None):
            raise ValueError(f"{self.kind} runs without the planner; remove plan/replies")
        if self.kind in ("undo", "redo", "revert") and self.pointing:
            raise ValueError(f"point, box and points go with user or answer turns, not {self.kind}")
        if self.kind in ("undo", "redo", "revert") and self.reference is not None:
            raise ValueError(f"reference goes with user or answer turns, not {self.kind}")
        return self

    @property
    def pointing(self) -> dict[str, Any]:
        """The turn's ``point``/``box``/``points`` as keyword arguments of ``Editor.send``/``answer`` ({}: none)."""
        return {k: getattr(self, k) for k in ("point", "box", "points") if getattr(self, k) is not None}

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> str | int:
        return getattr(self, self.kind)

    def pinned_replies(self) -> list[str]:
        """The planner replies this turn pins, in call order (empty: the real planner answers)."""
        if self.plan is not None:
            return [json.dumps(self.plan.model_dump(mode="json", exclude_defaults=True)), *(self.verdicts or ())]
        return list(self.replies or ())

    def label(self) -> str:
        """How messages name the turn's content: the user's words, or ``answer 2``, ``undo 1``..."""
        return str(self.user) if self.kind == "user" else f"{self.kind} {self.value}"


class SessionSpec(BaseModel):
    """A whole session file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image: str = Field(min_length=1, description="a path relative to the file, or a bundled sample name")
    description: str = ""
    profile: Literal["auto", "full", "lite", "tiny"] | None = None
    seed: int = Field(default=0, ge=0)
    verify: bool | None = Field(default=None, description="let the planner judge each edit (pin its replies with "
                                                          "verdicts:); default: the profile's setting")
    turns: list[Turn] = Field(min_length=1, max_length=MAX_TURNS)


@dataclass(frozen=True)
class SessionFile:
    """A parsed, validated session file.

    Attributes:
        path: the file as given.
        spec: its content.
        image_path: the image to open (resolved next to the file, or the bundled sample's file).
        turn_lines: the 1-based line where each turn starts.
        image_line: the line of ``image:``.
        references: each turn's reference image, resolved next to the file (None: the turn has none).
    """

    path: Path
    spec: SessionSpec
    image_path: Path
    turn_lines: tuple[int, ...]
    image_line: int
    references: tuple[Path | None, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem


# -- YAML with line numbers ------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded: it refuses deep nesting, alias loops and alias bombs while composing,
    and names the line of a value that cannot be constructed (a bad date, a 5000-digit int)."""

    def __init__(self, text: str, where: str) -> None:
        super().__init__(text)
        self.where = where
        self.depth = 0
        self.written = 0  # nodes composed from the text
        self.expanded = 0  # the same, with every alias counted as its anchor's whole content
        self.sizes: dict[int, int] = {}  # id(anchored node) -> its expanded node count, once composed

    def _refuse(self, line: int, message: str) -> SessionFileError:
        return SessionFileError(f"{self.where} line {line}: {message}", line=line)

    def _too_deep(self, line: int) -> SessionFileError:
        return self._refuse(line, f"the YAML nests deeper than {MAX_DEPTH} levels; a session needs about 10")

    def fetch_flow_collection_start(self, token_class: type) -> None:
        if self.flow_level >= MAX_DEPTH:  # before the scanner's look-ahead over a line of brackets
            raise self._too_deep(self.get_mark().line + 1)
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self.sizes.get(id(node))
            anchor = _clip(str(event.anchor))
            if size is None:  # its anchor is still being composed: the alias sits inside it
                raise self._refuse(line, f"the YAML alias '*{anchor}' refers to a node that contains it; "
                                         "write the content out instead")
            self.expanded += size
            if self.expanded - self.written > MAX_ALIAS_NODES:
                raise self._refuse(line, f"too many YAML aliases ('*{anchor}' here expands the file past "
                                         f"{MAX_ALIAS_NODES} repeated nodes); write the turns out")
            return node
        self.depth += 1
        self.written += 1
        if self.depth > MAX_DEPTH:
            raise self._too_deep(line)
        if self.written > MAX_NODES:
            raise self._refuse(line, f"the file holds more than {MAX_NODES} YAML values; "
                                     "split it into several session files")
        before = self.expanded
        self.expanded += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if getattr(event, "anchor", None) is not None:
            self.sizes[id(node)] = self.expanded - before
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, SessionFileError):
            raise
        # the safe constructors only read the node's own text, so any failure is that text's fault:
        # `2024-13-45`, `!!int abc`, an int of 5000 digits, `!!bool maybe` (a KeyError)...
        except Exception as e:
            kind = str(node.tag).rsplit(":", 1)[-1]
            shown = repr(node.value) if isinstance(node.value, str) and len(node.value) <= 40 else "here"
            raise self._refuse(node.start_mark.line + 1, f"the value {shown} cannot be read as {kind}; "
                                                         "quote it if it is text") from e


def _walk(node: yaml.Node, path: tuple[str, ...], lines: dict, key_lines: dict, where: str) -> None:
    """Record the line of every value (``lines``) and mapping key (``key_lines``); reject duplicate keys."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                raise SessionFileError(f"{where} line {key.start_mark.line + 1}: duplicate key '{_clip(name)}' "
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
        return f"unknown key '{_clip(key)}' in {_describe(path[:-1])}{hint}", line
    if kind == "missing":
        return f"{_describe(path[:-1])} needs '{path[-1]}'", _line_of(path[:-1], lines)
    if kind == "too_short":
        least = error.get("ctx", {}).get("min_length", 1)
        what = "one turn, e.g. '- user: remove the cup'" if path == ("turns",) else str(least)
        return f"{_describe(path)} is empty; give at least {what}", _line_of(path, lines)
    if kind in ("model_type", "dict_type"):
        got = error.get("input")
        shown = f", got {_clip(repr(got))}" if not isinstance(got, (dict, list)) else ", got a list"
        if len(path) == 2 and path[0] == "turns":
            where = _line_of(path, lines)
            return f"{_describe(path)}: a turn is a mapping such as 'user: remove the cup'{shown}", where
        return f"{_describe(path)}: should be a mapping of keys to values{shown}", _line_of(path, lines)
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or kind == "value_error" else f", got {_clip(repr(got))}"
    if isinstance(got, bool) and kind.endswith("_type"):
        shown += " (YAML reads yes/no/on/off as true/false: quote it)"
    return f"{_describe(path)}: {message[0].lower()}{message[1:]}{shown}", _line_of(path, lines)


def _first(errors: list[Any]) -> Any:
    """The error to report: the first, unless it is a missing key beside an unknown one (``turnz:`` is what
    leaves ``turns`` missing, and its "did you mean 'turns'?" says so)."""
    first = errors[0]
    if first["type"] == "missing":
        parent = tuple(first["loc"][:-1])
        for error in errors:
            if error["type"] == "extra_forbidden" and tuple(error["loc"][:-1]) == parent:
                return error
    return first


def _clip(text: str, limit: int = 80) -> str:
    """Quoted values from the file, cut so that a 1 MB string does not make a 1 MB message."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_text(text: str, *, where: str, base: Path) -> SessionFile:
    """Parse and validate a session file's text.

    The text is untrusted: it is refused past :data:`MAX_FILE_BYTES` characters, :data:`MAX_DEPTH`
    levels of nesting, :data:`MAX_ALIAS_NODES` nodes repeated by aliases or :data:`MAX_TURNS` turns,
    each before the work it would cost.

    Args:
        text: the YAML.
        where: how messages name the file (the path as the user gave it).
        base: the folder relative image paths start from.

    Raises:
        SessionFileError: with a one-line ``"<where> line N: ..."`` message.
    """
    if len(text) > MAX_FILE_BYTES:
        raise SessionFileError(f"{where} line 1: the file is too long ({len(text)} characters; at most "
                               f"{MAX_FILE_BYTES}); split it into several session files", line=1)
    try:
        loader = _Loader(text, where)
        try:
            node = loader.get_single_node()
            _check_turn_count(node, where)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise SessionFileError(f"{where} line {line}: YAML syntax error: {e.problem or e.context}", line=line) from e
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (NUL, a lone surrogate...)
        line = text.count("\n", 0, e.position) + 1
        raise SessionFileError(f"{where} line {line}: YAML does not allow the character #x{e.character:04x} "
                               "here; remove it or write it as an escape in double quotes", line=line) from e
    except yaml.YAMLError as e:
        raise SessionFileError(f"{where} line 1: YAML error: {e}", line=1) from e
    except RecursionError as e:  # a backstop: MAX_DEPTH stops nesting long before the stack runs out
        raise SessionFileError(f"{where} line 1: the YAML nests too deeply; a session needs about 10 levels",
                               line=1) from e
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
        message, line = _format(_first(e.errors()), where, lines, key_lines)
        raise SessionFileError(f"{where} line {line}: {message}", line=line) from e
    image_line = lines.get(("image",), 1)
    image_path = _image_file(base, spec.image) or (sample_path(spec.image) if is_sample(spec.image) else None)
    if image_path is None and _is_folder(base, spec.image):
        raise SessionFileError(f"{where} line {image_line}: image '{_clip(spec.image)}' is a folder; give an image "
                               f"file (its path relative to the session file) or a bundled sample "
                               f"({', '.join(SAMPLES)})", line=image_line)
    if image_path is None:
        raise SessionFileError(f"{where} line {image_line}: image '{_clip(spec.image)}' is neither a file next to "
                               f"the session file nor a bundled sample ({', '.join(SAMPLES)})", line=image_line)
    turn_lines = tuple(lines.get(("turns", str(i)), 1) for i in range(len(spec.turns)))
    references = tuple(_reference_file(base, t.reference, where, lines.get(("turns", str(i), "reference"), 1))
                       if t.reference is not None else None for i, t in enumerate(spec.turns))
    return SessionFile(path=Path(where), spec=spec, image_path=image_path, turn_lines=turn_lines,
                       image_line=image_line, references=references)


def _reference_file(base: Path, reference: str, where: str, line: int) -> Path:
    """A turn's ``reference:`` as a readable image file next to the session file, or a one-line SessionFileError.

    The image is read here (:func:`tools.imageio.load_image`, with its size and decompression-bomb
    checks), so a missing or broken reference stops the run before any turn is played.
    """
    from tools.errors import ImageLoadError
    from tools.imageio import load_image

    path = _image_file(base, reference)
    if path is None:
        raise SessionFileError(f"{where} line {line}: reference '{_clip(reference)}' is not a file next to the "
                               "session file; give the image's path relative to it", line=line)
    try:
        load_image(path)
    except ImageLoadError as e:
        raise SessionFileError(f"{where} line {line}: reference '{_clip(reference)}' cannot be used: {e}",
                               line=line) from e
    return path


def _check_turn_count(node: yaml.Node | None, where: str) -> None:
    """Refuse more than :data:`MAX_TURNS` turns before anything walks or validates them."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if key.value == "turns" and isinstance(value, yaml.SequenceNode) and len(value.value) > MAX_TURNS:
            line = value.start_mark.line + 1
            raise SessionFileError(f"{where} line {line}: {len(value.value)} turns is too many (at most "
                                   f"{MAX_TURNS}); split the session into several files", line=line)


def _image_file(base: Path, image: str) -> Path | None:
    """``image`` as an existing file next to the session file, resolved; None when it is not one.

    A name too long for the system, an unknown ``~user`` or a NUL byte only means "not a file here".
    """
    try:
        candidate = (base / image).expanduser()
        return candidate.resolve() if candidate.is_file() else None
    except (OSError, RuntimeError, ValueError):
        return None


def _is_folder(base: Path, image: str) -> bool:
    try:
        return (base / image).expanduser().is_dir()
    except (OSError, RuntimeError, ValueError):
        return False


def load_session_file(path: str | Path) -> SessionFile:
    """Read, parse and validate the session file at ``path`` (see :func:`parse_text`).

    Only a regular file of at most :data:`MAX_FILE_BYTES` is read (a FIFO or ``/dev/zero`` would never end).
    """
    path = Path(path)
    try:
        info = path.stat()
        raw = b""
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
            with path.open("rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)  # it may have grown since stat
    except FileNotFoundError as e:
        raise SessionFileError(f"{path}: no such session file", line=None) from e
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise SessionFileError(f"{path}: cannot read the session file ({e})", line=None) from e
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise SessionFileError(f"{path}: is {what}, not a session file; give a .yaml file", line=None)
    if info.st_size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:
        raise SessionFileError(f"{path}: the file is too large ({max(info.st_size, len(raw))} bytes; at most "
                               f"{MAX_FILE_BYTES}); split it into several session files", line=None)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise SessionFileError(f"{path} line {line}: the file is not UTF-8 text (byte {e.start}); "
                               "save it as UTF-8", line=line) from e
    return parse_text(text, where=str(path), base=path.parent)
