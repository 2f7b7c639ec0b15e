"""Test doubles for the agent: a queue-driven planner chat model and a Toolkit with fixed detections.

Only the planner's words and the detector's boxes are substituted; segmentation and every edit run
the real tiny models through the real :class:`tools.toolkit.Toolkit`.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from tools.grounding import Detection
from tools.toolkit import Toolkit


class QueuePlanner(BaseChatModel):
    """Replies with queued strings in order; running out is an error (a test asked it too often)."""

    _queue: deque[str | BaseException] = PrivateAttr(default_factory=deque)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "queue-fake"

    def push(self, *replies: str | dict | BaseException) -> QueuePlanner:
        """Queue replies: strings as they are, dicts as JSON, exceptions to be raised when their turn comes."""
        self._queue.extend(r if isinstance(r, (str, BaseException)) else json.dumps(r) for r in replies)
        return self

    @property
    def calls(self) -> int:
        return len(self._calls)

    @property
    def left(self) -> int:
        return len(self._queue)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self._calls.append(list(messages))
        if not self._queue:
            raise RuntimeError("QueuePlanner ran out of replies: the agent asked the planner more than expected")
        reply = self._queue.popleft()
        if isinstance(reply, BaseException):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


def plan(*steps: dict, reasoning: str = "The user asked for this.") -> dict:
    """A plan as the planner would write it."""
    return {"reasoning": reasoning, "steps": list(steps)}


def det(box: tuple[float, float, float, float], score: float = 0.8, label: str = "") -> Detection:
    return Detection(box=tuple(float(v) for v in box), score=score, label=label)


class FixedDetections(Toolkit):
    """The real toolkit (tiny models), except that detection returns fixed boxes per phrase."""

    def __init__(self, profile: Any, detections: dict[str, list[Detection]], **kwargs: Any) -> None:
        super().__init__(profile, **kwargs)
        self.detections = detections
        self.calls: list[tuple[str, Any]] = []

    def detect(self, image: Any, phrase: Any, **kwargs: Any) -> list[Detection]:
        self.calls.append(("detect", phrase))
        return [Detection(box=d.box, score=d.score, label=d.label or str(phrase))
                for d in self.detections.get(str(phrase), [])]

    def segment(self, image: Any, boxes: Any) -> list[Any]:
        self.calls.append(("segment", [tuple(b) for b in boxes]))
        return super().segment(image, boxes)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)
