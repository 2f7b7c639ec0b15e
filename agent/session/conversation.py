"""The conversation log: everything said in a session, one JSON line per message, appended and fsynced.

``conversation.jsonl`` holds the long record of the dialog, so the graph's checkpoints only carry
the turn in flight (they grow linearly, not with the square of the conversation). What a person
types is on disk before anything is done with it; a reply is on disk before it is shown. A crash
mid-append leaves at most one torn last line, which reading skips.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agent.session.errors import SessionStorageError
from agent.session.history import now
from tools.atomic import aside_name

logger = logging.getLogger(__name__)

CONVERSATION = "conversation.jsonl"
MAX_BYTES = 64 * 1024 * 1024
"""A longer log is read from its last this many bytes (older messages are left unread, not lost)."""
MAX_TEXT = 20_000
"""A message longer than this is kept cut to this many characters (with a note)."""

Kind = Literal["say", "answer", "move", "question", "reply", "recovered"]


@dataclass(frozen=True)
class Message:
    """One message of the conversation.

    Attributes:
        role: "user" or "assistant".
        text: what was said.
        turn: the turn it belongs to (a turn is one instruction with its questions, answers and reply).
        kind: "say" (an instruction), "answer" (to a question), "move" (/undo, /redo, /revert),
            "question", "reply", or "recovered" (said on reopening after a crash).
        head: the current version when the message was said.
        version: the version a reply announced, if any.
        image: the content id of a question's annotated image, if any.
        time: ISO-8601 UTC.
        pointing: where the person pointed with a user message (``box``, ``points`` as [x, y, positive]
            in image pixels), if they did; older logs have none.
        reference: the content id of a reference image given with a user message
            (``references/<id>.png`` in the session folder), if one was.
    """

    role: Literal["user", "assistant"]
    text: str
    turn: int
    kind: Kind
    head: int | None = None
    version: int | None = None
    image: str | None = None
    time: str = ""
    pointing: dict[str, Any] | None = None
    reference: str | None = None


class Conversation:
    """The append-only log of one session (read once, then kept in memory)."""

    def __init__(self, path: Path, *, writable: bool = True) -> None:
        self.path = path
        self.writable = writable
        self._lock = threading.Lock()
        self.note: str | None = None
        """What opening had to do to the log (a folder in its place was moved aside), in one sentence."""
        if writable and (path.is_dir() or (path.exists() and not path.is_file())):
            self.note = _set_aside(path)
        self._messages: list[Message] = _read(path)

    @property
    def messages(self) -> tuple[Message, ...]:
        with self._lock:
            return tuple(self._messages)

    @property
    def last_turn(self) -> int:
        """The number of the latest turn (0: none yet)."""
        with self._lock:
            return self._messages[-1].turn if self._messages else 0

    def open_turn(self) -> Message | None:
        """The user message that started the latest turn, when that turn has no reply yet (else None)."""
        with self._lock:
            if not self._messages or self._messages[-1].kind in ("reply", "recovered"):
                return None
            turn = self._messages[-1].turn
            return next((m for m in self._messages if m.turn == turn and m.role == "user"), None)

    def recent(self, n: int) -> list[Message]:
        """The last ``n`` messages."""
        with self._lock:
            return self._messages[-n:] if n > 0 else []

    def append(self, message: Message) -> Message:
        """Write ``message`` durably (fsync), then keep it.

        Raises:
            SessionStorageError: it could not be written (disk full, read-only folder).
        """
        if len(message.text) > MAX_TEXT:
            message = Message(**{**asdict(message), "text": message.text[:MAX_TEXT] + " [cut]"})
        if not message.time:
            message = Message(**{**asdict(message), "time": now()})
        line = (json.dumps({k: v for k, v in asdict(message).items() if v is not None}, ensure_ascii=False)
                + "\n").encode("utf-8", "surrogatepass")
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    _torn = self._needs_newline(fd)
                    os.write(fd, (b"\n" if _torn else b"") + line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise SessionStorageError(f"could not write the conversation to {self.path}: {e.strerror or e}; "
                                          "free some disk space or check the folder's permissions") from e
            self._messages.append(message)
        return message

    @staticmethod
    def _needs_newline(fd: int) -> bool:
        """Whether the file ends in a torn line (a crash mid-append): the next line must start afresh."""
        size = os.fstat(fd).st_size
        return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _set_aside(path: Path) -> str:
    """Move what stands where the log should be (a folder) aside, so the conversation can be written again."""
    kept = aside_name(path)
    try:
        os.replace(path, kept)
    except OSError as e:
        return (f"{path.name} is not a file and could not be moved aside ({e.strerror or e}): nothing said can "
                "be saved until it is.")
    note = f"{path.name} was not a file; it was moved aside to {kept.name} and the conversation starts anew."
    logger.warning("%s", note)
    return note


def _read(path: Path) -> list[Message]:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size > MAX_BYTES:
                f.seek(size - MAX_BYTES)
                f.readline()                        # the first line read from the middle is a fragment
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        logger.warning("could not read %s (%s); the conversation starts empty", path, e)
        return []
    out, skipped = [], 0
    for raw in data.splitlines():
        message = _parse(raw)
        if message is None:
            skipped += raw.strip() != b""
        else:
            out.append(message)
    if skipped:
        logger.warning("%s: skipped %d damaged line(s)", path, skipped)
    return out


def _parse(raw: bytes) -> Message | None:
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    role, text, turn, kind = data.get("role"), data.get("text"), data.get("turn"), data.get("kind")
    if role not in ("user", "assistant") or not isinstance(text, str) or isinstance(turn, bool) \
            or not isinstance(turn, int) or kind not in ("say", "answer", "move", "question", "reply", "recovered"):
        return None

    def number(key: str) -> int | None:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 63 else None

    image, reference = data.get("image"), data.get("reference")
    return Message(role=role, text=text, turn=turn, kind=kind, head=number("head"), version=number("version"),
                   image=image if isinstance(image, str) and len(image) == 64 else None,
                   time=str(data.get("time", ""))[:40], pointing=_pointing(data.get("pointing")),
                   reference=reference if _is_content_id(reference) else None)


def _is_content_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _pointing(value: Any) -> dict[str, Any] | None:
    """A logged pointing as written (``box``: 4 numbers, ``points``: [x, y, positive] each), else None."""
    def numbers(items: Any, n: int) -> bool:
        return isinstance(items, list) and len(items) == n and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)

    if not isinstance(value, dict) or not value or set(value) - {"box", "points"}:
        return None
    box, points = value.get("box"), value.get("points")
    if box is not None and not numbers(box, 4):
        return None
    if points is not None and not (isinstance(points, list) and len(points) <= 64 and all(
            isinstance(p, list) and len(p) == 3 and numbers(p[:2], 2) and isinstance(p[2], bool) for p in points)):
        return None
    return value
