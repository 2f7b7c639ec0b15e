"""A planner chat model for scripted sessions: answers with the replies a turn pins, else asks the real planner."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

logger = logging.getLogger(__name__)


class ReplayExhausted(RuntimeError):
    """A replayed turn asked the planner more often than the recording did."""


class ScriptedPlanner(BaseChatModel):
    """Replies with the current turn's pinned replies in order; once they run out, delegates to a live model.

    The runner calls :meth:`pin` at the start of every turn and :meth:`take_log` at its end, so the
    transcript holds every reply the planner gave (pinned or live) and a replay can pin them all.

    Attributes:
        live: builds the real planner on first need (None: no live model; running out is an error).
        live_random: see :attr:`random_weights`.
        live_constrains: see :attr:`supports_json_schema`.
    """

    live: Callable[[], BaseChatModel] | None = None
    live_random: bool | None = None
    """Whether the live planner has random weights, when the runner knows it from the profile (None: ask
    the live planner itself, loading it). Known, it also holds on a replay, where there is no live model."""
    live_constrains: bool | None = None
    """Whether the live planner constrains its decoding to a JSON schema, when the runner knows it without
    loading it (None: ask the live planner itself, loading it when a call may reach it)."""

    _queue: deque[str] = PrivateAttr(default_factory=deque)
    _log: list[str] = PrivateAttr(default_factory=list)
    _model: BaseChatModel | None = PrivateAttr(default=None)
    _turn: str = PrivateAttr(default="")
    _live_answered: bool = PrivateAttr(default=False)

    @property
    def _llm_type(self) -> str:
        return "chatedit-scripted"

    def pin(self, replies: list[str], *, turn: str = "") -> None:
        """Start a turn whose first planner calls get ``replies`` (in order)."""
        self._queue = deque(replies)
        self._log = []
        self._turn = turn
        self._live_answered = False

    def take_log(self) -> tuple[list[str], int]:
        """The replies given since :meth:`pin`, and how many pinned replies went unused."""
        log, unused = self._log, len(self._queue)
        self._log, self._queue = [], deque()
        return log, unused

    @property
    def loaded(self) -> bool:
        """Whether the live model was needed (and loaded)."""
        return self._model is not None

    @property
    def random_weights(self) -> bool:
        """True when the turn has no pinned reply left and the live planner has random weights (the tiny
        profile's): such a turn is planned by the offline grammar. A pinned reply is a real planner's."""
        if self._queue:
            return False
        if self.live_random is not None:
            return self.live_random
        return self.live is not None and getattr(self._live(), "random_weights", False) is True

    @property
    def supports_json_schema(self) -> bool:  # type: ignore[override]
        """The live planner's own answer, so a turn without a pinned reply is decoded with the plan's
        schema exactly as :meth:`agent.editor.Editor.send` decodes it. Pinned replies ignore the schema
        and are returned as they are; without a live planner there is nothing to constrain."""
        if self._model is not None:
            return getattr(self._model, "supports_json_schema", False) is True
        if self.live_constrains is not None:
            return self.live_constrains
        if self._queue or self.live is None:   # the next call is pinned (or nothing can answer unpinned)
            return False
        return getattr(self._live(), "supports_json_schema", False) is True

    @property
    def model_name(self) -> str:
        """Who answered this turn, for provenance: the live model's name once it answered, else "pinned replies"."""
        if self._live_answered and self._model is not None:
            name = getattr(self._model, "model_name", None)
            return name if isinstance(name, str) and name else type(self._model).__name__
        return "pinned replies"

    @property
    def endpoint(self) -> str | None:
        """The live model's server address when it answered this turn and has one."""
        if not self._live_answered or self._model is None:
            return None
        for attribute in ("openai_api_base", "base_url", "api_base", "endpoint", "endpoint_url"):
            value = getattr(self._model, attribute, None)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def _live(self) -> BaseChatModel:
        if self._model is None:
            if self.live is None:
                raise ReplayExhausted(f"{self._turn or 'this turn'} asked the planner more often than the "
                                      "script pins replies for, and there is no live planner to ask")
            logger.info("no pinned reply left for %s: loading the live planner", self._turn or "this turn")
            self._model = self.live()
        return self._model

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self._queue:
            text = self._queue.popleft()
        else:
            answer = self._live().invoke(messages, stop=stop, **kwargs)
            self._live_answered = True
            content = answer.content
            text = content if isinstance(content, str) else "".join(
                b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
        self._log.append(text)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
