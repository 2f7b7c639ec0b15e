"""The graph's state: ids, numbers and text only; pixels live in the session folder.

Every field but ``messages`` merges by "last write wins": a node returns the new value.
The plan node resets the per-turn fields at the start of each user turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class CandidatePayload(TypedDict):
    """One numbered box of a question."""

    number: int
    """1-based, as drawn on the annotated image (numbered left to right)."""
    box: list[float]
    """XYXY pixels of the image being edited."""
    label: str
    score: float


class QuestionPayload(TypedDict):
    """What the clarify node's interrupt carries (and :attr:`agent.editor.Editor.pending_question` reads)."""

    text: str
    """The question as the user reads it."""
    candidates: list[CandidatePayload]
    image: str
    """Id of the annotated image (``questions/<id>.png`` in the session folder)."""
    size: list[int]
    """(width, height) of the image the boxes belong to."""
    step: int
    """The plan step that asks."""
    retry: NotRequired[bool]
    """True when the question is asked again after an answer that named no candidate."""


@dataclass(kw_only=True)
class InputState:
    """What a turn starts from: the user's words."""

    text: str = ""
    """The user's instruction for this turn. Last write wins."""


@dataclass(kw_only=True)
class State(InputState):
    """The whole state of one session's thread (checkpointed after every node)."""

    messages: Annotated[list[AnyMessage], add_messages] = field(default_factory=list)
    """The conversation: the user's words, questions, answers and replies. Appended (add_messages)."""

    version: int = 0
    """The history head after the last node that moved it (the session's history.json is authoritative)."""

    plan: dict[str, Any] | None = None
    """This turn's plan (``Plan.model_dump()``), None when planning failed."""

    planner_replies: list[str] = field(default_factory=list)
    """The planner model's raw replies for this turn (for the transcript)."""

    step_index: int = 0
    """Index of the plan step being executed."""

    draft: str | None = None
    """Id of the image after this turn's accepted steps (``drafts/<id>.png``); None: the head version."""

    records: list[dict[str, Any]] = field(default_factory=list)
    """One record per accepted edit step of this turn; commit writes them into the new version."""

    question: QuestionPayload | None = None
    """The clarification payload (text, numbered candidates, annotated image id) while one is open."""

    chosen: list[list[float]] = field(default_factory=list)
    """The boxes (XYXY pixels) the current step acts on, once located."""

    mask: str | None = None
    """Id of the current step's object mask (``masks/<id>.png``), once segmented."""

    result: dict[str, Any] | None = None
    """The current step's output awaiting verification: {"draft": id, "record": {...}}."""

    attempt: int = 0
    """0 for the first try of the current step, 1 for the retry after a failed verification."""

    notes: list[str] = field(default_factory=list)
    """Sentences of this turn's reply, in order."""

    halt: bool = False
    """True when the turn stops early (not found, cancelled, failed): nothing is committed."""

    error: str | None = None
    """A one-line reason when the turn failed (planner or tool error), else None."""

    committed: int | None = None
    """The version number this turn committed, if any."""

    reply: dict[str, Any] | None = None
    """The turn's final reply: {"text", "version", "error"}."""
