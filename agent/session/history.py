"""The version tree: every version has a parent, nothing is ever dropped, numbers are never reused.

Pure data (no files, no pixels): :class:`agent.session.store.SessionStore` writes it as ``history.json``.
Version 0 is the original. An edit adds one version whose parent is the current one (the head); an
edit made after undo or revert therefore starts a branch, and the versions it leaves are kept.
``undo`` goes to the parent, ``redo`` to the child visited most recently, ``revert N`` anywhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from agent.session.records import EditRecord
from tools.errors import InvalidInputError

FORMAT = 2
"""``history.json``'s format number (1: one branch, parents implied; 2: the tree)."""
MAX_VERSIONS = 100_000
"""A history may hold at most this many versions (a hand-edited file cannot make us loop for hours)."""

_HASH = re.compile(r"^[0-9a-f]{64}$")

_INT64 = 2 ** 63


class HistoryFormatError(ValueError):
    """history.json's content is not a history; the message says what is wrong, in a few words."""


def is_content_id(value: object) -> bool:
    """Whether ``value`` is a sha256 hex digest (the only kind of id that becomes a file name)."""
    return isinstance(value, str) and bool(_HASH.match(value))


def now() -> str:
    """The current time as an ISO-8601 UTC string (seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Version:
    """One version of the image.

    Attributes:
        number: 0 for the original, then 1, 2, ... in the order they were made (never reused).
        image: content id of the version's pixels (``versions/<image>.png`` in the session folder).
        parent: the version it was made from (None for the original).
        mask: content id of the union of the turn's edit masks (``masks/<mask>.png``), None when no region.
        instruction: the user's words that made this version ("" for the original).
        steps: one record per step of the turn.
        seed: the first step's seed (None for the original).
        models: role → model id used for the turn (``planner``: the chat model that planned it, when one did).
        created: ISO-8601 UTC time.
        turn: the conversation turn that made it (None for the original and older sessions).
        seeds: every step's seed, in order (older sessions: read from their steps).
        planned_by: who planned the turn: {"kind": "planner" | "grammar" | "commands" | "direct", and for a
            model "class", "model", "endpoint"}; empty for the original and older sessions.
    """

    number: int
    image: str
    parent: int | None = None
    mask: str | None = None
    instruction: str = ""
    steps: tuple[EditRecord, ...] = ()
    seed: int | None = None
    models: dict[str, str] = field(default_factory=dict)
    created: str = ""
    turn: int | None = None
    seeds: tuple[int, ...] = ()
    planned_by: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "parent": self.parent, "image": self.image, "mask": self.mask,
                "instruction": self.instruction, "steps": [s.to_json() for s in self.steps], "seed": self.seed,
                "seeds": list(self.seeds), "models": dict(self.models), "planned_by": dict(self.planned_by),
                "created": self.created, "turn": self.turn}


@dataclass(frozen=True)
class Move:
    """What an undo/redo/revert did: the head before (``old``) and after (``new``), and what was asked.

    ``asked`` is the number of steps for undo/redo, the version for revert; ``moved`` how many
    steps undo/redo really went.
    """

    old: int
    new: int
    asked: int
    moved: int = 0


class History:
    """The version tree and its head (the current version).

    Args:
        versions: the original first, then every version by number (``versions[i].number == i``),
            each with a parent numbered below it.
        head: the current version's number (default: the last one).
        redo: parent → the child that redo goes to (the one visited most recently).
    """

    def __init__(self, versions: list[Version], head: int | None = None,
                 redo: dict[int, int] | None = None) -> None:
        if not versions:
            raise InvalidInputError("a history needs at least the original version")
        for i, v in enumerate(versions):
            if v.number != i:
                raise InvalidInputError(f"history versions must be numbered 0..N in order; got {v.number} at {i}")
            if (v.parent is None) != (i == 0) or (v.parent is not None and not 0 <= v.parent < i):
                raise InvalidInputError(f"version {i} has parent {v.parent!r}; a parent must be an earlier version")
        self._versions = list(versions)
        self._lines: list[str] = []          # history.json lines of the first versions (they never change)
        self._children: dict[int, list[int]] = {}
        for v in versions[1:]:
            self._children.setdefault(v.parent, []).append(v.number)     # type: ignore[arg-type]
        self._head = len(versions) - 1 if head is None else head
        if not 0 <= self._head < len(versions):
            raise InvalidInputError(f"history head {head} is not a version (0..{len(versions) - 1})")
        self._redo = {p: c for p, c in (redo or {}).items() if c in self._children.get(p, ())}

    @classmethod
    def start(cls, image_id: str) -> History:
        """A new history whose version 0 is the original image ``image_id``."""
        if not is_content_id(image_id):
            raise InvalidInputError(f"image id must be a sha256 hex digest, got {image_id!r}")
        return cls([Version(number=0, image=image_id, created=now())])

    # -- reading --------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The current version's number."""
        return self._head

    @property
    def current(self) -> Version:
        return self._versions[self._head]

    @property
    def versions(self) -> tuple[Version, ...]:
        """Every version, every branch, by number."""
        return tuple(self._versions)

    @property
    def latest(self) -> int:
        """The highest version number (the version made last)."""
        return len(self._versions) - 1

    def __len__(self) -> int:
        return len(self._versions)

    def __getitem__(self, number: int) -> Version:
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(self._versions):
            raise InvalidInputError(f"there is no version {number}; versions are 0..{self.latest}")
        return self._versions[number]

    def children(self, number: int) -> tuple[int, ...]:
        """The versions made from version ``number``, oldest first."""
        return tuple(self._children.get(number, ()))

    def path(self, number: int | None = None) -> list[int]:
        """The version numbers from the original to ``number`` (default: the head), both included."""
        n: int | None = self._head if number is None else self[number].number
        out = []
        while n is not None:
            out.append(n)
            n = self._versions[n].parent
        return out[::-1]

    def descendants(self, number: int) -> list[int]:
        """Every version made (directly or not) from version ``number``, by number."""
        out, todo = [], list(self.children(number))
        while todo:
            n = todo.pop()
            out.append(n)
            todo.extend(self.children(n))
        return sorted(out)

    def redo_child(self, number: int) -> int | None:
        """The child redo goes to from ``number``: the one visited most recently, else the newest; None if none."""
        kids = self._children.get(number)
        if not kids:
            return None
        return self._redo.get(number, kids[-1])

    def can_undo(self) -> int:
        """How many steps undo can go back (the head's depth in the tree)."""
        return len(self.path()) - 1

    def can_redo(self) -> int:
        """How many steps redo can go forward (along the most recently visited children)."""
        count, n = 0, self.redo_child(self._head)
        while n is not None:
            count += 1
            n = self.redo_child(n)
        return count

    def last_region(self) -> EditRecord | None:
        """The record of the most recent step with a box, walking back from the head (None: none yet)."""
        for number in reversed(self.path()):
            for record in reversed(self._versions[number].steps):
                if record.box is not None:
                    return record
        return None

    # -- changing -------------------------------------------------------------------------------

    def commit(self, image: str, *, mask: str | None = None, instruction: str = "",
               steps: tuple[EditRecord, ...] | list[EditRecord] = (), seed: int | None = None,
               models: dict[str, str] | None = None, turn: int | None = None,
               seeds: list[int] | tuple[int, ...] | None = None,
               planned_by: dict[str, str] | None = None) -> Version:
        """Add a version made from the head and move the head to it (other branches are kept).

        ``seeds`` defaults to every step's seed; ``planned_by`` to nothing known.
        """
        if not is_content_id(image) or not (mask is None or is_content_id(mask)):
            raise InvalidInputError(f"image and mask ids must be sha256 hex digests, got {image!r}, {mask!r}")
        if len(self._versions) >= MAX_VERSIONS:
            raise InvalidInputError(f"the session holds {MAX_VERSIONS} versions, the most it can; "
                                    "export the current one and start a new session from it")
        version = Version(number=len(self._versions), image=image, parent=self._head, mask=mask,
                          instruction=instruction, steps=tuple(steps), seed=seed, models=dict(models or {}),
                          created=now(), turn=turn, seeds=_seeds(steps) if seeds is None else tuple(seeds),
                          planned_by=dict(planned_by or {}))
        self._versions.append(version)
        self._children.setdefault(self._head, []).append(version.number)
        self._redo[self._head] = version.number
        self._head = version.number
        return version

    def _visit(self, number: int) -> None:
        """Make ``number`` the head, remembering the way to it for redo."""
        path = self.path(number)
        for parent, child in zip(path, path[1:]):
            self._redo[parent] = child
        self._head = number

    def undo(self, n: int = 1) -> Move:
        """Go back ``n`` versions towards the original (as far as it at most)."""
        if n < 1:
            raise InvalidInputError(f"undo needs a count of at least 1, got {n}")
        old, moved = self._head, 0
        while moved < n and self._versions[self._head].parent is not None:
            self._head = self._versions[self._head].parent      # type: ignore[assignment]
            moved += 1
        return Move(old, self._head, n, moved)

    def redo(self, n: int = 1) -> Move:
        """Go forward ``n`` versions, each time to the child visited most recently (as far as it goes)."""
        if n < 1:
            raise InvalidInputError(f"redo needs a count of at least 1, got {n}")
        old, moved = self._head, 0
        while moved < n and (child := self.redo_child(self._head)) is not None:
            self._visit(child)
            moved += 1
        return Move(old, self._head, n, moved)

    def revert(self, number: int) -> Move:
        """Make version ``number`` current, on whichever branch it is; nothing is dropped."""
        self[number]
        old = self._head
        self._visit(number)
        return Move(old, number, number, 0 if old == number else 1)

    # -- reading and writing history.json -----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "head": self._head, "redo": {str(p): c for p, c in sorted(self._redo.items())},
                "versions": [v.to_json() for v in self._versions]}

    def to_text(self) -> str:
        """history.json's text: one version a line, each line made once (versions never change), so saving
        a long history costs a join, not a fresh encoding of every version (8 ms less at 1000 versions)."""
        made = len(self._lines)
        self._lines += [json.dumps(v.to_json(), ensure_ascii=False) for v in self._versions[made:]]
        lines = self._lines
        redo = json.dumps({str(p): c for p, c in sorted(self._redo.items())})
        return (f'{{"format": {FORMAT}, "head": {self._head}, "redo": {redo}, "versions": [\n'
                + ",\n".join(lines) + "\n]}\n")

    @classmethod
    def from_json(cls, data: Any) -> History:
        """Read a history.json's content (format 1 or 2).

        Raises:
            HistoryFormatError: a short reason when the content is not a history (any shape of damage).
        """
        if not isinstance(data, dict):
            raise HistoryFormatError(f"it holds {_kind(data)} instead of an object with versions and head")
        fmt = data.get("format")
        if fmt not in (1, 2) or isinstance(fmt, bool):
            raise HistoryFormatError(f"its format {_short(fmt)} is not one this chatedit reads (1 or 2)")
        versions = data.get("versions")
        if not isinstance(versions, list) or not versions:
            raise HistoryFormatError(f"'versions' is {_kind(versions)}, not a list of versions")
        if len(versions) > MAX_VERSIONS:
            raise HistoryFormatError(f"it lists {len(versions)} versions, more than {MAX_VERSIONS}")
        parsed = [_version(v, i, fmt) for i, v in enumerate(versions)]
        head = _int(data.get("head"), "'head'")
        if not 0 <= head < len(parsed):
            raise HistoryFormatError(f"'head' is {head}, not a version (0..{len(parsed) - 1})")
        redo: dict[int, int] = {}
        raw = data.get("redo", {})
        if not isinstance(raw, dict):
            raise HistoryFormatError(f"'redo' is {_kind(raw)}, not an object")
        for key, child in raw.items():
            if not (isinstance(key, str) and key.isdigit() and len(key) < 10):
                raise HistoryFormatError(f"'redo' has a key {_short(key)} that is not a version number")
            redo[int(key)] = _int(child, "a 'redo' entry")
        try:
            return cls(parsed, head=head, redo=redo)
        except InvalidInputError as e:
            raise HistoryFormatError(str(e)) from e

    def copy(self) -> History:
        copied = History(list(self._versions), head=self._head, redo=dict(self._redo))
        copied._lines = list(self._lines)
        return copied


def _seeds(steps: tuple[EditRecord, ...] | list[EditRecord]) -> tuple[int, ...]:
    return tuple(int(r.seed) for r in steps if r.seed is not None)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 30) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _int(value: Any, what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise HistoryFormatError(f"{what} is {_short(value)}, not a whole number")
    return value


def _version(data: Any, index: int, fmt: int) -> Version:
    where = f"version entry {index}"
    if not isinstance(data, dict):
        raise HistoryFormatError(f"{where} is {_kind(data)}, not an object")
    number = _int(data.get("number"), f"{where}'s number")
    if number != index:
        raise HistoryFormatError(f"{where} is numbered {number}; versions must be numbered 0, 1, 2... in order")
    image, mask = data.get("image"), data.get("mask")
    if not is_content_id(image) or not (mask is None or is_content_id(mask)):
        raise HistoryFormatError(f"version {index} has a bad image or mask id")
    if fmt == 1:
        parent = None if index == 0 else index - 1
    else:
        parent = _int(data.get("parent"), f"version {index}'s parent", optional=True)
    steps = data.get("steps", [])
    models = data.get("models", {})
    planned_by = data.get("planned_by", {})
    text = {k: data.get(k, "") for k in ("instruction", "created")}
    if not isinstance(steps, list) or not isinstance(models, dict) or not isinstance(planned_by, dict) \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in [*models.items(), *planned_by.items()]) \
            or not all(isinstance(v, str) for v in text.values()):
        raise HistoryFormatError(f"version {index}'s steps, models, planner, instruction or time have the wrong type")
    try:
        records = tuple(EditRecord.model_validate(s) for s in steps)
    except ValidationError as e:
        first = e.errors(include_url=False, include_input=False)[0]
        where_in = ".".join(str(p) for p in first.get("loc", ()))
        raise HistoryFormatError(f"a step of version {index} is not an edit record ({where_in}: {first['msg']})") \
            from None
    seeds = data.get("seeds")
    if seeds is not None and not isinstance(seeds, list):
        raise HistoryFormatError(f"version {index}'s seeds are {_kind(seeds)}, not a list")
    return Version(number=index, image=image, parent=parent, mask=mask, instruction=text["instruction"],
                   steps=records, seed=_int(data.get("seed"), f"version {index}'s seed", optional=True),
                   models=dict(models), created=text["created"],
                   turn=_int(data.get("turn"), f"version {index}'s turn", optional=True),
                   seeds=_seeds(records) if seeds is None else tuple(_int(v, f"a seed of version {index}")
                                                                     for v in seeds),
                   planned_by=dict(planned_by))
