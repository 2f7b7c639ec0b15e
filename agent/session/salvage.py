"""Reading back what a damaged history.json still holds: every version line that parses, from it and its backup.

history.json is written one version a line (:meth:`agent.session.history.History.to_text`), so a file cut
short, with a flipped byte or a half-written end still holds most of its versions. Each version is taken
from the damaged file when its line reads, else from ``history.json.bak``, else (when only the start of its
line survives) rebuilt from its number, parent and image id with its details marked lost. Reading stops at
the first version found nowhere: a version's parent always comes before it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.session.history import History, HistoryFormatError, Version
from agent.session.history import _version as read_version  # noqa: PLC2701 - the same reading, line by line

HEADER = re.compile(r'^\{"format": (\d+), "head": (\d+), "redo": (\{[^\n]*\}), "versions": \[$')
PARTIAL = re.compile(r'^\{"number": (\d+), "parent": (null|\d+), "image": "([0-9a-f]{64})"')
LOST = "(details lost: history.json was damaged)"
"""The instruction of a version rebuilt from the start of its line."""
ADOPTED = "(details and parent unknown: history.json was damaged; its image was found in versions/)"
"""The instruction of a version whose image no entry named any more (added after the others, oldest first)."""


@dataclass
class Lines:
    """What one history file still holds."""

    head: int | None = None
    redo: dict[int, int] = field(default_factory=dict)
    full: dict[int, Version] = field(default_factory=dict)
    partial: dict[int, Version] = field(default_factory=dict)


@dataclass(frozen=True)
class Salvaged:
    """A history put together from a damaged history.json and its backup.

    Attributes:
        history: the versions read back, with the head the damaged file (else the backup) named.
        from_backup: numbers of the versions taken from history.json.bak.
        partial: numbers of the versions rebuilt from the start of their line (image and parent only).
    """

    history: History
    from_backup: tuple[int, ...]
    partial: tuple[int, ...]


def read_lines(path: Path, limit: int) -> Lines:
    """Every readable version line of ``path`` (nothing when it cannot be read at all)."""
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return Lines()
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return Lines()
    whole = _whole(text)
    if whole is not None:
        return Lines(whole.head, {}, {v.number: v for v in whole.versions})
    out, fmt = Lines(), 2
    for raw in text.splitlines():
        line = raw.strip()
        if header := HEADER.match(line):
            fmt, out.head = int(header.group(1)), int(header.group(2))
            out.redo = _redo(header.group(3))
            continue
        version = _line(line.rstrip(","), fmt)
        if version is not None:
            out.full.setdefault(version.number, version)
        elif (start := PARTIAL.match(line)) is not None:
            number, parent = int(start.group(1)), start.group(2)
            out.partial.setdefault(number, Version(number=number, image=start.group(3),
                                                   parent=None if parent == "null" else int(parent),
                                                   instruction=LOST))
    return out


def salvage(current: Lines, backup: Lines, images: set[str]) -> Salvaged | None:
    """The longest run of versions 0, 1, 2... found in ``current`` or ``backup`` (a version rebuilt from the
    start of its line only when its image is among ``images``); None when not even version 0 is found."""
    versions: list[Version] = []
    from_backup: list[int] = []
    partial: list[int] = []
    while True:
        n = len(versions)

        def fits(v: Version | None) -> bool:
            return v is not None and (v.parent is None) == (n == 0) and (v.parent is None or 0 <= v.parent < n)

        found = current.full.get(n)
        if not fits(found):
            found = backup.full.get(n)
            if not fits(found):
                found = next((v for v in (current.partial.get(n), backup.partial.get(n))
                              if fits(v) and v.image in images), None)   # type: ignore[union-attr]
                if found is None:
                    break
                partial.append(n)
            else:
                from_backup.append(n)
        versions.append(found)                                          # type: ignore[arg-type]
    if not versions:
        return None
    head = next((h for h in (current.head, backup.head) if h is not None and 0 <= h < len(versions)),
                len(versions) - 1)
    redo = {**backup.redo, **current.redo}
    return Salvaged(History(versions, head=head, redo=redo), tuple(from_backup), tuple(partial))


def _whole(text: str) -> History | None:
    try:
        return History.from_json(json.loads(text))
    except (ValueError, RecursionError, HistoryFormatError):
        return None


def _line(line: str, fmt: int) -> Version | None:
    if not line.startswith('{"number": '):
        return None
    try:
        data: Any = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("number"), int):
            return None
        return read_version(data, data["number"], fmt)
    except (ValueError, RecursionError, HistoryFormatError):
        return None


def _redo(text: str) -> dict[int, int]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {int(k): v for k, v in data.items()
            if isinstance(k, str) and k.isdigit() and len(k) < 10 and isinstance(v, int) and not isinstance(v, bool)}


def adopt(history: History, images: list[str]) -> History:
    """``history`` with ``images`` (oldest first; images of versions whose entries were lost) added as versions
    after the last, each made from the one before it (the real parent is unknown): shown, never collected."""
    if not images:
        return history
    data = history.to_json()
    versions = list(history.versions)
    for image in images:
        versions.append(Version(number=len(versions), image=image, parent=len(versions) - 1, instruction=ADOPTED))
    return History(versions, head=history.head, redo={int(k): v for k, v in data["redo"].items()})
