"""Measuring instruments for the benchmarks: a stage clock, a timed toolkit, a fixed-length planner, memory peaks."""

from __future__ import annotations

import json
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

STAGES = ("plan", "locate", "segment", "edit", "verify", "commit")
"""The Editor's progress stages, in the order a turn goes through them."""

MODEL_CALLS = ("detect", "segment", "remove", "replace", "recolor", "add", "background", "global_edit",
               "auto_mask", "diffedit")
"""Toolkit methods that run a model (or the Lab recolour): their time is model compute, not agent overhead."""


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cuda() -> Any:
    """``torch.cuda`` when a GPU is there, else None."""
    import torch

    return torch.cuda if torch.cuda.is_available() else None


def sync() -> None:
    """Wait for queued GPU work, so a wall-clock reading includes it."""
    gpu = cuda()
    if gpu is not None:
        gpu.synchronize()


class StageClock:
    """Times an Editor turn by stage from its ``on_progress`` calls.

    A stage lasts from its first report to the next report of another stage (or the end of the
    turn). Model loads (``"load <role>"``) are timed apart; benchmarks load every model before the
    timed turns, so warm turns report none.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.vram_peak_gb: dict[str, float] = {}
        self._stage: str | None = None
        self._since = 0.0

    def start(self) -> None:
        self.seconds, self.vram_peak_gb, self._stage = {}, {}, None
        self._since = time.perf_counter()
        self._reset_vram()

    def __call__(self, stage: str, step: int, total: int) -> None:
        if stage != self._stage:
            self._close()
            self._stage = stage

    def stop(self) -> dict[str, float]:
        """Close the running stage; the turn's time per stage (a stage met twice, as in a compound turn, adds up)."""
        self._close()
        self._stage = None
        return dict(self.seconds)

    def _close(self) -> None:
        sync()
        now = time.perf_counter()
        name = self._stage or "start"
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._since
        gpu = cuda()
        if gpu is not None:
            peak = gpu.max_memory_allocated() / 2**30
            self.vram_peak_gb[name] = max(self.vram_peak_gb.get(name, 0.0), peak)
        self._since = now
        self._reset_vram()

    @staticmethod
    def _reset_vram() -> None:
        gpu = cuda()
        if gpu is not None:
            gpu.reset_peak_memory_stats()


class ComputeMeter:
    """Wraps a toolkit so every model call is timed; everything else passes through untouched.

    ``seconds`` adds up the time spent inside model calls since the last :meth:`reset`; a turn's
    wall time minus this (and the planner's time) is the agent's own overhead.
    """

    def __init__(self, toolkit: Any) -> None:
        object.__setattr__(self, "_inner", toolkit)
        object.__setattr__(self, "seconds", 0.0)
        object.__setattr__(self, "calls", {})
        object.__setattr__(self, "last", {})
        """Per model call: the last ``(args, kwargs, result)``, for the plain-call baselines."""

    def reset(self) -> None:
        object.__setattr__(self, "seconds", 0.0)
        object.__setattr__(self, "calls", {})

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in MODEL_CALLS:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = value(*args, **kwargs)
                self.last[name] = (args, kwargs, result)
                return result
            finally:
                sync()
                elapsed = time.perf_counter() - start
                object.__setattr__(self, "seconds", self.seconds + elapsed)
                self.calls[name] = self.calls.get(name, 0.0) + elapsed

        return timed

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


class ForcedReply:
    """A logits processor that makes greedy decoding write ``ids`` and then ``stop``, where the masks before it
    (the plan's grammar) allow each token; a token they forbid ends the forcing (``broken``) and decoding goes on
    as the model likes. Timing a real reply of a real length through the real constrained path."""

    def __init__(self, ids: Sequence[int], stop: int) -> None:
        self.ids = [*ids, stop]
        self.step = 0
        self.broken = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.broken or self.step >= len(self.ids):
            return scores
        token = self.ids[self.step]
        self.step += 1
        if not bool(scores[0, token].isfinite()):
            self.broken = True
            return scores
        keep = scores[:, token].clone()
        scores.fill_(float("-inf"))
        scores[:, token] = keep
        return scores


class FixedLengthPlanner(BaseChatModel):
    """Runs the real planner model on the real prompt, then answers with a pinned plan.

    By default the model writes the pinned reply itself, constrained by the plan's grammar as the app decodes
    (:class:`ForcedReply`): real prefill, real reply length (a plan of 60-70 tokens), the grammar's mask at
    every token. With ``plan_tokens`` it decodes unconstrained for exactly that many tokens instead. A
    verification (a yes/no question) writes ``"yes"`` the same way. The words are the script's, so every run
    takes the same path through the graph.

    Attributes:
        model: the real chat model (``agent.planner.LlavaChatModel``), or None to only replay.
        plan_tokens: None: write the pinned reply, constrained; a number: that many unconstrained tokens.
        calls: per model call, ``(kind, conversation, images, new tokens, forced as pinned)``, for the baselines.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any = Field(default=None, exclude=True)
    plan_tokens: int | None = None
    verdict_tokens: int = 2
    supports_json_schema: bool = True
    seconds: float = 0.0
    """Time spent in the real model since the last :meth:`pin`."""
    calls: list[tuple[str, Any, Any, int, bool]] = Field(default_factory=list, exclude=True)

    _queue: list[str] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "chatedit-bench"

    def pin(self, replies: Sequence[str]) -> None:
        self._queue = list(replies)
        self.seconds = 0.0

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        schema = kwargs.get("json_schema") or {}
        verdict = schema.get("type") == "string"
        if verdict:
            text = "yes"
        elif self._queue:
            text = self._queue.pop(0)
        else:
            raise RuntimeError("the benchmark planner has no pinned plan left for this turn")
        if self.model is not None:
            start = time.perf_counter()
            self.calls.append(self._run(messages, schema, json.dumps(text) if verdict else text, verdict))
            sync()
            self.seconds += time.perf_counter() - start
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _run(self, messages: list[BaseMessage], schema: dict, text: str, verdict: bool) -> tuple:
        from agent.planner import to_conversation

        llava = self.model.llava
        conversation, images = to_conversation(messages)
        kind = "verify" if verdict else "plan"
        if self.plan_tokens is not None:
            n = self.verdict_tokens if verdict else self.plan_tokens
            reply = llava.generate(conversation, images, max_new_tokens=n, min_new_tokens=n)   # exactly n tokens
            return kind, conversation, images, reply.new_tokens, False
        forced = ForcedReply(llava.tokenizer.encode(text, add_special_tokens=False), llava.stop_token_ids()[0])
        reply = llava.generate(conversation, images, json_schema=schema or None, logits_processors=[forced],
                               max_new_tokens=len(forced.ids))
        return kind, conversation, images, reply.new_tokens, not forced.broken and reply.text == text


@dataclass
class Samples:
    """Repeated measurements of named quantities; summarised as medians."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(float(value))

    def median(self, name: str) -> float | None:
        got = self.values.get(name)
        return statistics.median(got) if got else None

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
                for k, v in self.values.items()}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and its wall time in seconds (GPU work included)."""
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain text table (numbers right-aligned, 3 significant decimals)."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in text:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def plan_json(*steps: dict[str, Any], reasoning: str) -> str:
    return json.dumps({"reasoning": reasoning, "steps": list(steps)})
