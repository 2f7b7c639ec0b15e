"""The graph's state: one turn in flight, as ids, numbers, text and typed models; pixels live in the session folder.

Every field merges by "last write wins": a node returns the new value. The long record of the
dialog is the session's conversation log, not the state, so a checkpoint holds only the current
turn and checkpoints grow linearly with the conversation. The per-turn fields are reset in one
place, :func:`turn_reset`, as each turn starts.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict

from agent.graph.plan import Plan
from agent.graph.pointing import Pointing
from agent.session.records import EditRecord, Reference


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
    phrase: NotRequired[str]
    """The kind asked about ("cup"): "the left cup" answers, "the saucer" is something else."""
    matches: NotRequired[list[list[float]]]
    """Every match's box (XYXY), shown or not, left to right: what "all" means when more were found than shown."""
    want: NotRequired[int]
    """How many the step means ("both" → 2): an answer picks that many, or "all"."""


class ReplyPayload(TypedDict):
    """The turn's final reply, as the respond node composes it."""

    text: str
    version: int | None
    """The version the turn made, if any."""
    image: str | None
    """That version's image id (recovery checks it against the history)."""
    error: str | None


class Pending(BaseModel):
    """A step's output waiting for the verifier: the draft image and the record it would commit."""

    model_config = ConfigDict(frozen=True)

    draft: str
    record: EditRecord


STATE_TYPES: tuple[tuple[str, str], ...] = (
    ("agent.graph.plan", "Plan"), ("agent.graph.plan", "Step"), ("agent.graph.plan", "Referent"),
    ("agent.graph.plan", "Anchor"), ("agent.graph.plan", "Exclusion"),
    ("agent.session.records", "EditRecord"), ("agent.graph.state", "Pending"), ("agent.graph.pointing", "Pointing"),
    ("agent.session.records", "Reference"),
)
"""The models a checkpoint may hold: the only classes reading one back may revive."""


@dataclass(kw_only=True)
class InputState:
    """What a turn starts from (the Editor gives every field, every turn)."""

    text: str = ""
    """The user's words for this turn ("/undo 2" for a direct move)."""
    turn: int = 0
    """The conversation turn this is (its number in the session's conversation log)."""
    direct: Plan | None = None
    """A plan the caller gives (direct undo/redo/revert, or one planned before the turn): the planner is not asked."""
    direct_replies: list[str] = field(default_factory=list)
    """The planner's raw replies behind ``direct`` when a planner made it (kept as the turn's provenance)."""
    planned_by: dict[str, str] = field(default_factory=dict)
    """Who made this turn's plan, for provenance: {"kind": "planner" | "grammar" | "direct" | "commands",
    and for a model "class", "model" (its id) and "endpoint" when it has one}. The caller gives it with
    a direct plan ("direct": /undo, Editor.undo; "commands": a move read from words); the plan node
    fills it otherwise."""
    pointing: Pointing | None = None
    """Where the person pointed on the current image with this turn's words (None: nowhere): what
    "this", "here" and an instruction without an object refer to."""
    reference: Reference | None = None
    """A reference image given with this turn's words (stored in the session folder; None: none): the
    first step that paints new content takes its look or object from it, where the engine can."""


@dataclass(kw_only=True)
class State(InputState):
    """One turn of a session's thread (checkpointed when the graph stops: a reply or a question)."""

    version: int = 0
    """The history head after the last node that moved it (the session's history.json is authoritative)."""

    plan: Plan | None = None
    """This turn's validated plan; None when planning failed."""

    planner_replies: list[str] = field(default_factory=list)
    """The planner model's raw replies for this turn (for the transcript)."""

    step_index: int = 0
    """Index of the plan step being executed."""

    draft: str | None = None
    """Id of the image after this turn's accepted steps (a draft); None: the head version."""

    records: list[EditRecord] = field(default_factory=list)
    """One record per accepted edit step of this turn; commit writes them into the new version."""

    question: QuestionPayload | None = None
    """The clarification payload (text, numbered candidates, annotated image id) while one is open."""

    chosen: list[list[float]] = field(default_factory=list)
    """The boxes (XYXY pixels) the current step acts on, once located."""

    mask: str | None = None
    """Id of the current step's object mask (``masks/<id>.png``), once segmented."""

    result: Pending | None = None
    """The current step's output awaiting verification."""

    attempt: int = 0
    """0 for the first try of the current step, 1 for the retry after a failed verification."""

    notes: list[str] = field(default_factory=list)
    """Sentences of this turn's reply, in order."""

    drafted: list[int] = field(default_factory=list)
    """Indices into :attr:`notes` of the sentences that announce this turn's accepted, uncommitted edits
    ("Made the cup red."): a turn that stops before committing says they were not kept."""

    halt: bool = False
    """True when the turn stops early (not found, cancelled, failed): nothing is committed."""

    error: str | None = None
    """A one-line reason when the turn failed (planner or tool error), else None."""

    committed: int | None = None
    """The version number this turn committed, if any."""

    branched: str | None = None
    """The sentence saying this turn's version started a new branch (versions left are kept), if it did."""

    reply: ReplyPayload | None = None
    """The turn's final reply."""


_KEPT = {"text", "turn", "direct", "version", "pointing", "reference"}


def turn_reset() -> dict[str, Any]:
    """Every per-turn field at its starting value: the update that begins a turn."""
    out: dict[str, Any] = {}
    for f in fields(State):
        if f.name in _KEPT:
            continue
        out[f.name] = f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]
    return out
