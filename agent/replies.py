"""What the Editor hands back: replies, questions and their candidates, version records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.graph.plan import Plan

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Candidate:
    """One numbered box offered in a question (number is 1-based, as drawn on the image)."""

    number: int
    box: Box
    label: str
    score: float


@dataclass(frozen=True)
class Question:
    """A "which one?" question: its text, the numbered candidates and the annotated image's path."""

    text: str
    candidates: tuple[Candidate, ...]
    image_path: Path


@dataclass(frozen=True)
class Reply:
    """What the agent says back after a turn.

    Attributes:
        text: the reply to show.
        version: the new version's number when the turn committed an edit, else None.
        question: set when the agent waits for an answer (call :meth:`Editor.answer`).
        plan: the planner's plan for this turn (None for direct calls and failed plans).
        planner_replies: the planner model's raw replies (for transcripts and debugging).
        error: a one-line reason when something failed (planner, tool), else None.
        planned_by: who planned the turn: {"kind": "planner" | "grammar" | "commands" | "direct", ...}
            ("commands": the command layer read a move from words; empty when no plan was made).
    """

    text: str
    version: int | None = None
    question: Question | None = None
    plan: Plan | None = None
    planner_replies: tuple[str, ...] = ()
    error: str | None = None
    planned_by: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    """One version in the history tree (number 0 is the original).

    Attributes:
        number: unique, never reused; versions are numbered in the order they were made.
        image_path: the version's PNG.
        mask_path: the union of the masks its turn was allowed to change (None: the original, or no region).
        instruction: the words that made it.
        steps: one record per edit step (action, boxes, mask ids, seed, models, prompt...).
        seed: the first step's seed.
        models: role → model id.
        created: ISO-8601 UTC.
        parent: the version it was made from (None for the original).
        children: the versions made from it, oldest first (several: the history branches here).
    """

    number: int
    image_path: Path
    mask_path: Path | None
    instruction: str
    steps: tuple[dict, ...]
    seed: int | None
    models: dict
    created: str
    parent: int | None = None
    children: tuple[int, ...] = ()

    @classmethod
    def of(cls, version: Any, store: Any) -> VersionInfo:
        """The public view of a :class:`agent.session.history.Version` of ``store``'s tree."""
        return cls(number=version.number, image_path=store.image_path(version.image),
                   mask_path=store.mask_path(version.mask) if version.mask else None,
                   instruction=version.instruction, steps=tuple(r.to_json() for r in version.steps),
                   seed=version.seed, models=dict(version.models), created=version.created,
                   parent=version.parent, children=store.history.children(version.number))
