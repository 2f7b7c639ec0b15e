"""What a caller hands the Editor besides words, checked: version numbers, pointing, reference images;
and the reply when one cannot be used (nothing changed; an open question stays open)."""

from __future__ import annotations

from typing import Any

from agent.graph.pointing import Pointing
from agent.replies import Question, Reply
from agent.session.records import Reference
from agent.session.store import SessionStore
from agent.turns import quoted
from tools.errors import ChatEditError, InvalidInputError

READ_ONLY = ("This session is open read-only, so nothing was changed; to edit it, close any other chatedit that "
             "has it open and reopen it without --read-only (or copy a read-only folder elsewhere).")


def refused(store: SessionStore) -> Reply | None:
    """The reply to any change of a read-only session (None: the session can be changed)."""
    return Reply(READ_ONLY, error="read-only session") if store.read_only else None


def version_number(store: SessionStore, number: Any) -> int:
    """``number`` checked as a version of this session. Raises InvalidInputError naming the range."""
    latest = store.history.latest
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= latest:
        raise InvalidInputError(f"there is no version {quoted(number)}; versions are 0 to {latest}")
    return number


def pointed(point: Any, box: Any, points: Any) -> bool:
    """Whether the caller pointed at all (a click, a box or clicks given)."""
    return point is not None or box is not None or points is not None


def read_pointing(store: SessionStore, point: Any, box: Any, points: Any) -> Pointing | None:
    """The checked pointing on the current image (None: nothing pointed at). Raises InvalidInputError."""
    from agent.graph.pointing import read_pointing as read

    if not pointed(point, box, points):
        return None
    return read(point=point, box=box, points=points, size=store.version_image().size)


def pointed_mask(store: SessionStore, toolkit: Any, point: Any, box: Any, points: Any) -> Any:
    """The bool H×W mask SAM 2 outlines for a pointing on the current version (see ``Editor.pointed_mask``).

    Raises:
        InvalidInputError: nothing pointed at, or a bad pointing.
        ChatEditError: the segmenter could not run.
    """
    from agent.graph.pointing import pointed_mask as outline

    pointing = read_pointing(store, point, box, points)
    if pointing is None:
        raise InvalidInputError("nothing is pointed at: give point=(x, y), box=(x0, y0, x1, y1) or points")
    return outline(toolkit, store.version_image(), pointing)


def attach_reference(store: SessionStore, reference: Any) -> Reference | None:
    """The reference image read and kept in the session (None: none given). Raises ChatEditError."""
    from agent.session.references import attach

    return None if reference is None else attach(store, reference)


def unusable(what: str, e: ChatEditError, question: Question | None) -> Reply:
    """The reply to a pointing or reference image (``what``) that cannot be used: nothing changed."""
    still = " The question is still open." if question is not None else ""
    return Reply(f"That {what} cannot be used: {e}. Nothing changed.{still}", question=question, error=str(e))
