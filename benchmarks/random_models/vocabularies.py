"""Tokenizers for random-weight models: no real vocabulary can be downloaded, so each is trained locally and laid
out on the released model's special-token ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .store import CONFIGS

QWEN2_SPECIALS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<image>": 151646,
                  "<video>": 151647}
"""The ids the released Qwen2 tokenizer gives its special tokens (the config's image/video token ids)."""
CLIP_VOCAB = 49408
"""CLIP's vocabulary: ``<|startoftext|>`` is 49406, ``<|endoftext|>`` 49407 (the pooled token is the argmax id)."""
QWEN2_BPE = CONFIGS / "qwen2-english-bpe.json"
"""The random planner's vocabulary: a byte-level BPE with Qwen2's pre-tokenizer trained on this repository's English
(:func:`train_qwen2_english_bpe`), kept in the repo so builds do not change with the docs."""
QWEN2_PRETOKENIZE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                     r"|\s*[\r\n]+|\s+(?!\S)|\s+")
"""The released Qwen2 tokenizer's split pattern: BPE never merges across these pieces, so a prompt's piece count
is the least any Qwen2-style tokenizer gives it (the system prompt: 3,336 pieces, 12.4k characters)."""
QWEN2_BPE_VOCAB = 32_000


def _bpe_state_of(model: dict[str, Any]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _bpe_state(tokenizer: Any) -> tuple[dict[str, int], list[tuple[str, str]]]:
    return _bpe_state_of(json.loads(tokenizer.backend_tokenizer.to_str())["model"])


def _padded(vocab: dict[str, int], specials: dict[str, int]) -> dict[str, int]:
    """``vocab`` without ``specials``, renumbered from 0, padded with unreachable fillers, specials at their ids."""
    regular = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if t not in specials]
    out = {token: i for i, token in enumerate(regular)}
    for i in range(len(out), min(specials.values())):
        out[f"<|filler_{i}|>"] = i
    out.update(specials)
    return out


def _qwen2(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Any:
    """A Qwen2 tokenizer of ``vocab`` and ``merges`` with the released special-token ids (151643-151647)."""
    from transformers import Qwen2Tokenizer

    tokenizer = Qwen2Tokenizer(vocab=_padded(vocab, QWEN2_SPECIALS), merges=merges, unk_token=None,
                               bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<image>", "<video>"]})
    return tokenizer


def qwen2_tokenizer() -> Any:
    """A Qwen2 byte-level BPE (from ``tools.tiny.llava``) with the released special-token ids (151643-151647)."""
    from tools.tiny.llava import build_tokenizer

    return _qwen2(*_bpe_state(build_tokenizer()))


def qwen2_english_tokenizer() -> Any:
    """The planner's Qwen2 tokenizer: :data:`QWEN2_BPE` on the released special-token ids (151643-151647)."""
    state = json.loads(QWEN2_BPE.read_text(encoding="utf-8"))
    return _qwen2(state["vocab"], [tuple(m) for m in state["merges"]])


def qwen3_tokenizer() -> Any:
    """The Qwen2 BPE on the released special ids (:func:`qwen2_tokenizer`) with Qwen3's thinking tokens and the
    chat template FLUX.2 klein renders its prompt with."""
    from tools.tiny.flux2 import CHAT_TEMPLATE

    tokenizer = qwen2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """A CLIP BPE (from ``tools.tiny.diffusion``) with CLIP's 49408-token layout and a 77-token limit."""
    from tools.tiny.diffusion import build_tokenizer
    from transformers import CLIPTokenizer

    vocab, merges = _bpe_state(build_tokenizer())
    specials = {"<|startoftext|>": CLIP_VOCAB - 2, "<|endoftext|>": CLIP_VOCAB - 1}
    return CLIPTokenizer(vocab=_padded(vocab, specials), merges=merges, model_max_length=77, pad_token=pad_token)


def bert_tokenizer() -> Any:
    """A BERT WordPiece (from ``tools.tiny.vision``) on bert-base-uncased's special and punctuation ids."""
    from tools.tiny.vision import _bert_vocab
    from transformers import BertTokenizer

    return BertTokenizer(vocab=_bert_vocab(), do_lower_case=True, model_max_length=512)


def tokenizer_stamp(family: str) -> str:
    """What a ``family`` build's stamp adds for its tokenizer: the planner's BPE file's hash, else nothing."""
    if family != "llava-onevision":
        return ""
    return " bpe " + hashlib.sha256(QWEN2_BPE.read_bytes()).hexdigest()[:16]


def train_qwen2_english_bpe(texts: Iterable[str], vocab_size: int = QWEN2_BPE_VOCAB) -> dict[str, Any]:
    """A byte-level BPE trained on ``texts`` with Qwen2's pre-tokenizer: ``{"vocab", "merges"}`` (merges as pairs).

    On English its counts come near the released tokenizer's, where most words are one token: the system prompt
    gives 3,478 tokens for 3,336 pieces (+4%); the small BPE of the tiny planner gave 7,051 for an older
    4,138-piece prompt (1.7x). The corpus bounds the vocabulary (this repository's ~340k characters give ~8k
    tokens)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(list(texts), trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    vocab, merges = _bpe_state_of(json.loads(bpe.to_str())["model"])
    return {"vocab": vocab, "merges": [list(m) for m in merges]}


def repo_english(root: Path = CONFIGS.parent.parent) -> list[str]:
    """English text of this repository: the README, the prompts and the Python docstrings."""
    import re

    texts = [(root / "README.md").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in sorted((root / "prompts").glob("*.txt"))]
    for folder in ("agent", "tools", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            texts += re.findall(r'"""(.*?)"""', path.read_text(encoding="utf-8"), re.S)
    return texts
