"""The planner's typed output: reasoning first, then ordered steps. A plan that fails validation never runs."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

Action = Literal["replace", "remove", "recolor", "add", "background", "global",
                 "undo", "redo", "revert", "answer", "ask"]
"""What a step does. Image edits: replace, remove, recolor, add, background, global.
History: undo, redo, revert. Dialog: answer (a reply, no edit), ask (a question back)."""

Selector = Literal["leftmost", "rightmost", "topmost", "bottommost", "largest", "smallest",
                   "center", "nth_from_left", "nth_from_right", "all"]
"""How to pick among several detections. ``center``: closest to the image centre.
``nth_from_left``/``nth_from_right`` use :attr:`Referent.n` (1-based). ``all``: every match."""

Relation = Literal["left_of", "right_of", "above", "below", "next_to", "on", "in", "in_front_of", "behind"]
"""How one thing stands to another, read geometrically from their boxes (:mod:`agent.graph.relations`).

As a referent's ``relation``: keep the candidates that stand so to the ``anchor`` ("the cup left of
the plate", "the dog on the sofa"). As an add step's ``place``: where the new object goes relative
to the referent: ``next_to``/``left_of``/``right_of``/``above``/``below`` beside it (never over it),
``on``/``in`` over or inside its box."""

REGION_ACTIONS = frozenset({"replace", "remove", "recolor", "add", "background"})
"""Actions that need a referent (a region of the image)."""

MAX_STEPS = 8

MAX_REASONING_CHARS = 200
"""The reasoning's cap: one or two short sentences (about 40 tokens). The schemas state it, constrained
decoding enforces it; a longer reasoning from an unconstrained planner is cut to it, not refused."""

MAX_VERSION = 100_000
"""The largest version a revert step may name (the decoding schema's cap too)."""

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
                      "\u2066-\u2069\ufeff\ufff9-\ufffb]")
"""C0 control characters but tab and newline, DEL and the C1 controls (0x9b starts an escape sequence in some
terminals), the bidi marks, embeddings, overrides and isolates, and invisible characters (zero-width space,
word joiner, BOM). Zero-width (non-)joiners stay: emoji and some scripts need them."""
_LINE_BREAKS = re.compile("[\u2028\u2029]")


def clean_text(text: str) -> str:
    """``text`` without control, bidi and invisible characters (they could garble a reply or history.json);
    the Unicode line and paragraph separators become newlines."""
    return _CONTROL.sub("", _LINE_BREAKS.sub("\n", text))


def _filled(values: list[str]) -> list[str]:
    """The attributes that say something (blank ones, or ones that were only control characters, go)."""
    return [v for v in values if v.strip()]


Attribute = Annotated[str, Field(max_length=100), AfterValidator(clean_text)]
"""One word or phrase that narrows a referent down ("black top", "red"), without control characters."""
Attributes = Annotated[list[Attribute], Field(max_length=8), AfterValidator(_filled)]
"""A referent's, anchor's or exclusion's attributes; blank ones are dropped."""


def _no_bool(value: Any) -> Any:
    """Reject JSON true/false where a number belongs (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value}")
    return value


class Anchor(BaseModel):
    """The other thing a relation is about ("the plate" in "the cup left of the plate")."""

    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(min_length=1, max_length=200, description="noun phrase to ground, e.g. 'plate'")
    attributes: Attributes = Field(default_factory=list)
    selector: Selector | None = Field(default=None, description="which one, when there are several")
    n: int | None = Field(default=None, ge=1, le=50)

    @field_validator("phrase")
    @classmethod
    def _clean_phrase(cls, phrase: str) -> str:
        phrase = clean_text(phrase)
        if not phrase.strip():
            raise ValueError("an anchor needs a phrase")
        return phrase

    @field_validator("n", mode="before")
    @classmethod
    def _n_not_bool(cls, n: Any) -> Any:
        return _no_bool(n)

    @model_validator(mode="after")
    def _n_with_nth(self) -> Anchor:
        if self.selector in ("nth_from_left", "nth_from_right") and self.n is None:
            raise ValueError(f"selector {self.selector} needs n")
        return self


class Exclusion(BaseModel):
    """Which of the matches to leave out ("all the cups except the one on the left")."""

    model_config = ConfigDict(extra="forbid")

    selector: Selector | None = Field(default=None, description="the excluded one's place, e.g. leftmost")
    n: int | None = Field(default=None, ge=1, le=50, description="1-based index for nth_from_left/right")
    attributes: Attributes = Field(default_factory=list, description="e.g. ['red']")
    count: int | None = Field(default=None, ge=1, le=50, description="how many are left out (the two on the left)")

    @field_validator("n", "count", mode="before")
    @classmethod
    def _int_not_bool(cls, value: Any) -> Any:
        return _no_bool(value)

    @model_validator(mode="after")
    def _says_which(self) -> Exclusion:
        if self.selector in (None, "all") and not self.attributes:
            raise ValueError("an exclusion needs a selector (not all) or attributes")
        if self.selector in ("nth_from_left", "nth_from_right") and self.n is None:
            raise ValueError(f"selector {self.selector} needs n")
        return self


class Referent(BaseModel):
    """What a step acts on.

    Exactly one way of pointing is primary: ``pointed`` (the region the person pointed at: "this",
    "here"), ``last_edited`` (coreference: "it", "that"), an explicit ``box``, or a ``phrase`` for
    grounding, narrowed by ``attributes`` and ``selector``.
    """

    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(default="", max_length=200, description="noun phrase to ground, e.g. 'the dog'")
    attributes: Attributes = Field(default_factory=list,
                                   description="attributes that narrow it down, e.g. ['black top']")
    selector: Selector | None = Field(default=None, description="spatial choice among candidates")
    n: int | None = Field(default=None, ge=1, le=50, description="1-based index for nth_from_left/right")
    box: list[Annotated[float, Field(allow_inf_nan=False, strict=True)]] | None = Field(
        default=None, min_length=4, max_length=4, description="explicit [x0, y0, x1, y1] in image pixels")
    last_edited: bool = Field(default=False, description="the region edited last ('it', 'that')")
    pointed: bool = Field(default=False, description="the region the user pointed at on the image ('this', 'here')")
    count: int | None = Field(default=None, ge=1, le=50,
                              description="how many the user means: 'both' is 2, 'the three cups' is 3")
    exclude: list[Exclusion] = Field(default_factory=list, max_length=8,
                                     description="matches to leave out: 'all except the left one'")
    relation: Relation | None = Field(default=None, description="how it stands to the anchor: 'the cup left of "
                                                                "the plate' is left_of")
    anchor: Anchor | None = Field(default=None, description="the other thing the relation is about")

    @field_validator("phrase")
    @classmethod
    def _clean_phrase(cls, phrase: str) -> str:
        return clean_text(phrase)

    @field_validator("n", "count", mode="before")
    @classmethod
    def _n_not_bool(cls, n: Any) -> Any:
        return _no_bool(n)

    @field_validator("box")
    @classmethod
    def _box_shape(cls, box: list[float] | None) -> list[float] | None:
        if box is None:
            return None
        if len(box) != 4:
            raise ValueError(f"box must be [x0, y0, x1, y1], got {len(box)} numbers")
        x0, y0, x1, y1 = box
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box must have x1 > x0 and y1 > y0, got {box}")
        return [float(v) for v in box]

    @model_validator(mode="after")
    def _points_somewhere(self) -> Referent:
        if not (self.phrase.strip() or self.box is not None or self.last_edited or self.pointed):
            raise ValueError("a referent needs a phrase, a box, last_edited, or pointed")
        if self.selector in ("nth_from_left", "nth_from_right") and self.n is None:
            raise ValueError(f"selector {self.selector} needs n")
        if (self.relation is None) != (self.anchor is None):
            raise ValueError("relation and anchor come together")
        if self.selector == "all" and self.count == 1:
            raise ValueError("selector all (every match) and count 1 disagree; give one of them")
        return self


class Step(BaseModel):
    """One action of a plan.

    ``content`` is the action's payload: the new object (replace/add), the colour (recolor),
    the new background or style (background/global), the question (ask) or the reply (answer).
    ``count`` is how many turns undo/redo move; ``version`` is the version revert goes to
    (0 = the original).
    """

    model_config = ConfigDict(extra="forbid")

    action: Action
    referent: Referent | None = None
    content: str = Field(default="", max_length=500)
    count: int | None = Field(default=None, ge=1, le=100)
    version: int | None = Field(default=None, ge=0, le=MAX_VERSION)
    place: Relation | None = Field(default=None, description="add only: where the new object goes relative to "
                                                             "the referent; next_to/left_of/... beside it, on/in over it")
    two_stage: bool | None = Field(default=None, description="replace only: erase the old object first (the new "
                                                             "one's shape or size differs)")

    @field_validator("content")
    @classmethod
    def _clean_content(cls, content: str) -> str:
        return clean_text(content)

    @field_validator("count", "version", mode="before")
    @classmethod
    def _int_not_bool(cls, value: Any) -> Any:
        return _no_bool(value)

    @model_validator(mode="after")
    def _needs(self) -> Step:
        if self.action in REGION_ACTIONS and self.referent is None:
            raise ValueError(f"action {self.action} needs a referent")
        if self.action in ("replace", "recolor", "add", "background", "global", "ask", "answer") \
                and not self.content.strip():
            raise ValueError(f"action {self.action} needs content")
        if self.action == "revert" and self.version is None:
            raise ValueError("action revert needs version")
        if self.place is not None and self.action != "add":
            raise ValueError(f"place is for add steps, not {self.action}")
        if self.two_stage is not None and self.action != "replace":
            raise ValueError(f"two_stage is for replace steps, not {self.action}")
        return self


class Plan(BaseModel):
    """The planner's answer to one user turn: its reasoning, then the steps in order."""

    model_config = ConfigDict(extra="forbid")

    reasoning: str = Field(max_length=MAX_REASONING_CHARS,
                           description="one or two short sentences: what the user means, which steps follow")
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("reasoning", mode="before")
    @classmethod
    def _cap_reasoning(cls, reasoning: Any) -> Any:
        """Cut an over-long reasoning at a word (it only explains; the steps are what runs)."""
        if not isinstance(reasoning, str) or len(reasoning) <= MAX_REASONING_CHARS:
            return reasoning
        cut = reasoning[: MAX_REASONING_CHARS - 3]
        return (cut.rsplit(" ", 1)[0] if " " in cut[MAX_REASONING_CHARS // 2:] else cut) + "..."

    @field_validator("reasoning")
    @classmethod
    def _clean_reasoning(cls, reasoning: str) -> str:
        return clean_text(reasoning)

    @property
    def edits(self) -> list[Step]:
        return [s for s in self.steps if s.action in REGION_ACTIONS or s.action == "global"]


def plan_json_schema() -> dict:
    """The JSON schema the planner's decoding is constrained to (and that the prompt states)."""
    return Plan.model_json_schema()
