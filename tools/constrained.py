"""JSON-schema-constrained decoding for transformers' ``generate`` through xgrammar: only tokens that keep the output valid."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from transformers import LogitsProcessor

logger = logging.getLogger(__name__)

COMPILE_THREADS = 4
"""The most threads xgrammar may use to compile one grammar."""


def schema_key(schema: Mapping[str, Any]) -> str:
    """A JSON schema as compact text: the grammar cache's key, and what xgrammar compiles.

    Keys keep their order: properties are generated in the order the schema lists them
    (``reasoning`` before ``steps``), so two schemas that differ only in order are different grammars.
    """
    return json.dumps(schema, separators=(",", ":"))


class SchemaConstraint:
    """Compiles JSON schemas into grammars for one tokenizer, and hands out logits processors.

    Compiled grammars are cached per schema, so only the first call with a schema pays for the
    compilation. The JSON is written on one line with ``", "`` and ``": "`` separators. Thread-safe.

    Besides the grammar, two kinds of tokens are always masked: tokens whose bytes hold control
    characters (xgrammar 0.2.8 lets them into strings that have a ``maxLength``, which makes the
    JSON unparseable) and the tokenizer's special tokens other than the stop tokens (``<image>``
    inside a reply would confuse the vision model).

    Args:
        tokenizer: the model's Hugging Face tokenizer.
        vocab_size: the width of the model's output logits (may exceed the tokenizer's size).
        stop_token_ids: token ids that end the reply (the grammar allows them once the JSON is complete).
    """

    def __init__(self, tokenizer: Any, *, vocab_size: int, stop_token_ids: Iterable[int]) -> None:
        import xgrammar as xgr

        self.stop_token_ids = sorted({int(t) for t in stop_token_ids})
        if not self.stop_token_ids:
            raise ValueError("constrained decoding needs at least one stop token id, got none")
        self.vocab_size = int(vocab_size)
        self._info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=self.vocab_size,
                                                        stop_token_ids=self.stop_token_ids)
        # the plan schema's token masks take 15-19 s on one core of a 2-core CPU; they are built while the
        # models load or while a first reply waits for them, so every core helps (about 1.3-1.9x on two)
        self._compiler = xgr.GrammarCompiler(self._info, max_threads=min(COMPILE_THREADS, os.cpu_count() or 1))
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.banned = self._banned_tokens(tokenizer)

    def _banned_tokens(self, tokenizer: Any) -> torch.Tensor:
        banned = torch.zeros(self.vocab_size, dtype=torch.bool)
        for token_id, piece in enumerate(self._info.decoded_vocab[: self.vocab_size]):
            if any(b < 0x20 or b == 0x7F for b in piece):
                banned[token_id] = True
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        special |= set((getattr(tokenizer, "added_tokens_decoder", None) or {}).keys())
        for token_id in special - set(self.stop_token_ids):
            if 0 <= token_id < self.vocab_size:
                banned[token_id] = True
        return banned

    def compile(self, schema: Mapping[str, Any]) -> Any:
        """Return the compiled grammar for ``schema`` (cached).

        Raises:
            ValueError: the schema is not a JSON schema xgrammar can compile.
        """
        key = schema_key(schema)
        with self._lock:
            grammar = self._cache.get(key)
            if grammar is None:
                try:
                    grammar = self._compiler.compile_json_schema(key, any_whitespace=False, strict_mode=True)
                except Exception as e:  # xgrammar raises RuntimeError subclasses from C++
                    raise ValueError(f"cannot build a grammar from the JSON schema: {str(e).strip()[:300]}") from e
                self._cache[key] = grammar
                logger.debug("compiled a JSON-schema grammar (%d cached)", len(self._cache))
            return grammar

    def accepts(self, schema: Mapping[str, Any], text: str) -> bool:
        """Whether constrained decoding under ``schema`` could write exactly ``text`` (a complete JSON value)."""
        import xgrammar as xgr

        matcher = xgr.GrammarMatcher(self.compile(schema))
        return bool(matcher.accept_string(text)) and matcher.is_completed()

    def processor(self, schema: Mapping[str, Any], *, lazy: bool = False) -> JsonSchemaLogitsProcessor:
        """A fresh logits processor for one ``generate`` call (batch size 1).

        With ``lazy`` the grammar is compiled (or a compile under way waited for) at the first
        decoding step, so the prompt's prefill runs meanwhile; a schema xgrammar cannot compile then
        raises its ValueError from inside ``generate``.
        """
        if lazy:
            return JsonSchemaLogitsProcessor(lambda: self.compile(schema), self.vocab_size, self.banned)
        return JsonSchemaLogitsProcessor(self.compile(schema), self.vocab_size, self.banned)


class JsonSchemaLogitsProcessor(LogitsProcessor):
    """Masks every token the grammar does not allow next. One instance per ``generate`` call.

    The first call sees the prompt only; every later call first feeds the token chosen last into
    the grammar. Once the JSON is complete only the stop tokens remain allowed.
    """

    def __init__(self, compiled_grammar: Any | Callable[[], Any], vocab_size: int,
                 banned: torch.Tensor | None = None) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self._grammar = compiled_grammar
        """The compiled grammar, or a function returning it (called at the first step: see ``processor``)."""
        self._matcher_made: Any = None
        self._bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self._vocab_size = vocab_size
        self._banned = banned
        self._started = False
        self.broken = False
        """Set when the grammar rejected a token; decoding then went on unconstrained."""

    @property
    def _matcher(self) -> Any:
        if self._matcher_made is None:
            grammar = self._grammar() if callable(self._grammar) else self._grammar
            self._matcher_made = self._xgr.GrammarMatcher(grammar)
        return self._matcher_made

    @property
    def completed(self) -> bool:
        """Whether the grammar reached its end (the JSON is complete)."""
        return self._matcher.is_completed() or self._matcher.is_terminated()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError(f"constrained decoding supports batch size 1, got {input_ids.shape[0]}")
        if self.broken:
            return scores
        if self._started and not self._matcher.is_terminated():
            token = int(input_ids[0, -1])
            if not self._matcher.accept_token(token):
                # Cannot happen while this processor's mask is applied; rather than crash, decode
                # on unconstrained and let the caller's validation reject the reply.
                logger.warning("grammar rejected token %d; decoding goes on unconstrained", token)
                self.broken = True
                return scores
        self._started = True
        if self._matcher.is_terminated():
            return scores
        self._matcher.fill_next_token_bitmask(self._bitmask, 0)
        work = scores if scores.device.type in ("cpu", "cuda") else scores.float().cpu()
        self._xgr.apply_token_bitmask_inplace(work, self._bitmask.to(work.device), vocab_size=self._vocab_size)
        if self._banned is not None:
            width = min(work.shape[-1], self._banned.shape[0])
            work[:, :width].masked_fill_(self._banned[:width].to(work.device), float("-inf"))
        return work if work is scores else work.to(device=scores.device, dtype=scores.dtype)
