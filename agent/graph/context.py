"""Run-time settings and services for the graph, passed per call (never checkpointed)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.session.store import SessionStore
    from tools.toolkit import Toolkit

ProgressCallback = Callable[[str, int, int], None]
"""Called with (stage, step, total): stage is "plan", "locate", "segment", "edit", "verify" or "commit"."""


@dataclass(kw_only=True)
class Context:
    """What the nodes need besides the state.

    The services (store, tools, planner) are live objects: they travel in the run-time context,
    never in the checkpointed state.
    """

    store: SessionStore
    """The session folder: every image, mask and the history."""

    tools: Toolkit
    """The vision tools (the agent reaches models only through it)."""

    planner: Any = None
    """A LangChain chat model that plans turns and judges results (None: only resumes and history moves)."""

    planner_random: bool | None = None
    """Whether the planner has random weights (the tiny profile's): turns are then planned by the offline
    grammar (:mod:`agent.graph.grammar`), never by the model. None: the planner's own ``random_weights``
    attribute says, when a turn is planned (a chat model without one is a real planner)."""

    seed: int = 0
    """Base seed: step k of a turn uses ``seed + k``; a retry adds 1000."""

    verify: bool = False
    """Let the planner judge each edit and retry once when it fails."""

    retry_dilate_px: int = 12
    """How much further the mask grows for the retry after a failed verification."""

    min_relative_score: float = 0.5
    """Detections scoring below this fraction of the best one are dropped before choosing."""

    attribute_iou: float = 0.5
    """How much a candidate must overlap a detection of the full phrase (with attributes) to keep it."""

    max_candidates: int = 8
    """At most this many numbered candidates are offered in a question."""

    resize_factor: float = 1.3
    """How much "bigger" grows the last edited box (and "smaller" shrinks it)."""

    progress: ProgressCallback | None = None
    """Told about each stage and diffusion step."""

    cancel: threading.Event | None = None
    """Set to stop a long edit; the turn then ends with nothing changed."""

    def planner_has_random_weights(self) -> bool:
        """:attr:`planner_random`, or else what the planner says of itself (asked only when a turn is planned)."""
        if self.planner_random is not None:
            return self.planner_random
        return self.planner is not None and getattr(self.planner, "random_weights", False) is True

    def report(self, stage: str, step: int = 0, total: int = 1) -> None:
        if self.progress is not None:
            self.progress(stage, step, total)
