"""The edit history: numbered versions, a head, undo/redo/revert, and a redo branch a new edit drops.

Pure data (no files, no pixels): :class:`agent.session.store.SessionStore` writes it as ``history.json``.
Version 0 is the original; each user turn that edits adds exactly one version after the head.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from tools.errors import InvalidInputError

FORMAT = 1
"""``history.json``'s format number; bumped when the layout changes."""

_HASH = re.compile(r"^[0-9a-f]{64}$")


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
        number: 0 for the original, then 1, 2, ... along the current branch.
        image: sha256 of the version's PNG (``versions/<image>.png`` in the session folder).
        mask: sha256 of the union of the turn's edit masks (``masks/<mask>.png``), None when no region.
        instruction: the user's words that made this version ("" for the original).
        steps: one record per step of the turn: the plan step, the box, the mask id, the seed, the models...
        seed: the first step's seed (None for the original).
        models: role → model id used for the turn.
        created: ISO-8601 UTC time.
    """

    number: int
    image: str
    mask: str | None = None
    instruction: str = ""
    steps: tuple[dict[str, Any], ...] = ()
    seed: int | None = None
    models: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "image": self.image, "mask": self.mask, "instruction": self.instruction,
                "steps": [dict(s) for s in self.steps], "seed": self.seed, "models": dict(self.models),
                "created": self.created}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        image, mask = data.get("image"), data.get("mask")
        if not is_content_id(image) or not (mask is None or is_content_id(mask)):
            raise InvalidInputError(f"history entry {data.get('number')!r} has a bad image or mask id; "
                                    "the session's history.json is damaged")
        return cls(number=int(data["number"]), image=image, mask=mask,
                   instruction=str(data.get("instruction", "")),
                   steps=tuple(dict(s) for s in data.get("steps", ())),
                   seed=None if data.get("seed") is None else int(data["seed"]),
                   models={str(k): str(v) for k, v in dict(data.get("models", {})).items()},
                   created=str(data.get("created", "")))


@dataclass(frozen=True)
class Move:
    """What an undo/redo/revert did.

    Attributes:
        old: the head before.
        new: the head after.
        asked: how many steps were asked for (undo/redo), or the version asked for (revert).
    """

    old: int
    new: int
    asked: int

    @property
    def moved(self) -> int:
        return abs(self.new - self.old)


class History:
    """Versions along one branch and a head pointing at the current one.

    Versions after the head are the redo branch; :meth:`commit` drops them.

    Args:
        versions: at least the original (number 0), numbered 0..N in order.
        head: the current version's number.
    """

    def __init__(self, versions: list[Version], head: int | None = None) -> None:
        if not versions:
            raise InvalidInputError("a history needs at least the original version")
        for i, v in enumerate(versions):
            if v.number != i:
                raise InvalidInputError(f"history versions must be numbered 0..N in order; got {v.number} at {i}")
        self._versions = list(versions)
        self._head = len(versions) - 1 if head is None else head
        if not 0 <= self._head < len(versions):
            raise InvalidInputError(f"history head {head} is not a version (0..{len(versions) - 1})")

    @classmethod
    def start(cls, image_id: str) -> History:
        """A new history whose version 0 is the original image ``image_id``."""
        if not is_content_id(image_id):
            raise InvalidInputError(f"image id must be a sha256 hex digest, got {image_id!r}")
        return cls([Version(number=0, image=image_id, created=now())])

    @property
    def head(self) -> int:
        """The current version's number."""
        return self._head

    @property
    def current(self) -> Version:
        return self._versions[self._head]

    @property
    def versions(self) -> tuple[Version, ...]:
        """Every version, the redo branch included."""
        return tuple(self._versions)

    @property
    def latest(self) -> int:
        """The last version's number (the end of the redo branch)."""
        return len(self._versions) - 1

    def __len__(self) -> int:
        return len(self._versions)

    def __getitem__(self, number: int) -> Version:
        if not 0 <= number < len(self._versions):
            raise InvalidInputError(f"there is no version {number}; versions are 0..{self.latest}")
        return self._versions[number]

    def can_undo(self) -> int:
        """How many steps undo can go back."""
        return self._head

    def can_redo(self) -> int:
        """How many steps redo can go forward."""
        return self.latest - self._head

    def commit(self, image: str, *, mask: str | None = None, instruction: str = "",
               steps: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (), seed: int | None = None,
               models: dict[str, str] | None = None) -> Version:
        """Add a version after the head (dropping the redo branch) and move the head to it."""
        if not is_content_id(image) or not (mask is None or is_content_id(mask)):
            raise InvalidInputError(f"image and mask ids must be sha256 hex digests, got {image!r}, {mask!r}")
        version = Version(number=self._head + 1, image=image, mask=mask, instruction=instruction,
                          steps=tuple(dict(s) for s in steps), seed=seed, models=dict(models or {}),
                          created=now())
        del self._versions[self._head + 1:]
        self._versions.append(version)
        self._head = version.number
        return version

    def undo(self, n: int = 1) -> Move:
        """Go back ``n`` versions (as far as the original at most)."""
        if n < 1:
            raise InvalidInputError(f"undo needs a count of at least 1, got {n}")
        old = self._head
        self._head = max(0, old - n)
        return Move(old, self._head, n)

    def redo(self, n: int = 1) -> Move:
        """Go forward ``n`` versions along the redo branch (as far as it goes)."""
        if n < 1:
            raise InvalidInputError(f"redo needs a count of at least 1, got {n}")
        old = self._head
        self._head = min(self.latest, old + n)
        return Move(old, self._head, n)

    def revert(self, number: int) -> Move:
        """Make version ``number`` current; later versions stay reachable with redo until the next edit."""
        if not 0 <= number <= self.latest:
            raise InvalidInputError(f"there is no version {number}; versions are 0..{self.latest}")
        old = self._head
        self._head = number
        return Move(old, number, number)

    def last_region(self) -> dict[str, Any] | None:
        """The record of the most recent step with a box, walking back from the head (None: none yet)."""
        for version in reversed(self._versions[: self._head + 1]):
            for record in reversed(version.steps):
                if record.get("box") is not None:
                    return record
        return None

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "head": self._head, "versions": [v.to_json() for v in self._versions]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        if data.get("format") != FORMAT:
            raise InvalidInputError(f"history format {data.get('format')!r} is not supported (expected {FORMAT})")
        return cls([Version.from_json(v) for v in data["versions"]], head=int(data["head"]))

    def copy(self) -> History:
        return History([replace(v) for v in self._versions], head=self._head)
