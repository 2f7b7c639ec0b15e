"""What a person typed and the session has not taken yet, kept in ``unsent.json`` so that a killed app loses none of it.

The chat app writes the file (atomically) the moment a message is queued behind a running edit, as one is
sent, and as a draft or a half-typed answer changes; it is removed once nothing is left unsent. Reopening
reads it back: every entry the conversation log has not recorded since is offered again, never sent by itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from agent.session.conversation import Message
from agent.session.history import now
from tools.atomic import atomic_write

logger = logging.getLogger(__name__)

UNSENT = "unsent.json"
"""In the session folder, beside the conversation log."""
MAX_ENTRIES = 200
MAX_TEXT = 20_000

Kind = Literal["queued", "sending", "draft", "answer", "offered"]
KINDS: tuple[str, ...] = ("queued", "sending", "draft", "answer", "offered")


@dataclass(frozen=True)
class Unsent:
    """One thing typed and not taken by the session yet.

    Attributes:
        text: what was typed.
        kind: "queued" (waits behind a running edit), "sending" (handed to the session, not yet seen in its
            log), "draft" (in the input box), "answer" (half typed in a question's answer box), "offered"
            (given back on reopening and not sent since).
        time: when it was typed or queued, ISO-8601 UTC (seconds); the log's messages from then on are checked.
    """

    text: str
    kind: Kind
    time: str = ""


def read_unsent(root: Path) -> list[Unsent]:
    """The entries of ``root``'s ``unsent.json`` in order ([] when there is none; a damaged one is logged)."""
    try:
        data = json.loads((root / UNSENT).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        logger.warning("could not read %s (%s); nothing unsent is offered", root / UNSENT, e)
        return []
    entries = data if isinstance(data, list) else []
    return [Unsent(e["text"][:MAX_TEXT], e["kind"], str(e.get("time", ""))[:40]) for e in entries[:MAX_ENTRIES]
            if isinstance(e, dict) and isinstance(e.get("text"), str) and e["text"].strip() and e.get("kind") in KINDS]


def write_unsent(root: Path, entries: Iterable[Unsent], *, durable: bool = True) -> None:
    """Keep ``entries`` in ``root``'s ``unsent.json`` (atomically; fsynced with ``durable``); none: remove it.

    Raises:
        OSError: it could not be written or removed.
    """
    items = [asdict(e if e.time else Unsent(e.text, e.kind, now())) for e in entries if e.text.strip()]
    path = root / UNSENT
    if not items:
        path.unlink(missing_ok=True)
        return
    atomic_write(path, json.dumps(items[:MAX_ENTRIES], ensure_ascii=False).encode("utf-8", "surrogatepass"),
                 durable=durable)


def taken(entry: Unsent, messages: Iterable[Message]) -> bool:
    """Whether the log ``messages`` show ``entry`` said by the person at or after its time (a move typed as
    ``/undo`` is logged as ``/undo 1``)."""
    text = entry.text.strip()
    for m in messages:
        if m.role != "user" or (entry.time and m.time and m.time < entry.time):
            continue
        said = m.text.strip()
        if said == text or (text.startswith("/") and said.startswith(text + " ")):
            return True
    return False


def left_unsent(root: Path, messages: Iterable[Message]) -> list[Unsent]:
    """What ``root``'s ``unsent.json`` holds that the log ``messages`` have not taken since, each text once."""
    messages = list(messages)
    seen: set[str] = set()
    out = []
    for entry in read_unsent(root):
        if entry.text.strip() in seen or taken(entry, messages):
            continue
        seen.add(entry.text.strip())
        out.append(entry)
    return out
