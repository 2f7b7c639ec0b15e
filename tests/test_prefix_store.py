"""The planner's system-turn keys and values saved on disk (tools.prefix_store) on the tiny planner: a new process
reads them instead of computing them, gets the same plan, and ignores a damaged or foreign file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

from tools.device import resolve_placement
from tools.llava import PREFILL_CHUNK, Llava
from tools.prefix_store import KEEP, SUFFIX, PrefixStore


@pytest.fixture
def fresh(tiny_profile, tmp_path):
    """A loader of new planners (as a new process would load one) sharing one prefix folder."""
    def load() -> Llava:
        llava = Llava.from_pretrained(tiny_profile.planner, placement=resolve_placement("cpu"))
        llava.prefix_store = PrefixStore(tmp_path / "prefix")
        return llava
    return load


def system_turn() -> list[dict]:
    from agent.graph.planning import system_prompt

    return [{"role": "system", "content": [{"type": "text", "text": system_prompt()}]}]


def conversation() -> list[dict]:
    return [*system_turn(), {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "remove the cup"}]}]


def plan(llava: Llava, coffee) -> object:
    from agent.graph.planning import decoding_schema

    return llava.generate(conversation(), [coffee], json_schema=decoding_schema(), max_new_tokens=60)


def count_forwards(llava: Llava) -> list[int]:
    lengths: list[int] = []
    llava.model.model.language_model.register_forward_pre_hook(
        lambda _m, args, kwargs: lengths.append((kwargs.get("input_ids") if kwargs.get("input_ids") is not None
                                                  else kwargs["inputs_embeds"]).shape[1]), with_kwargs=True)
    return lengths


def saved(llava: Llava) -> list[Path]:
    return sorted(llava.prefix_store.folder.glob(f"*{SUFFIX}"))


def test_a_new_planner_reads_the_saved_prefix_and_plans_as_without_it(fresh, coffee):
    first = fresh()
    first.cache_prefix = False
    whole = plan(first, coffee)                       # no cache at all: the reference
    first.cache_prefix = True
    first.warm(system_turn())
    assert len(saved(first)) == 1
    system_tokens = len(first._prefix[0])
    assert system_tokens > 1000

    second = fresh()
    forwards = count_forwards(second)
    second.warm(system_turn())
    assert forwards == []                             # read, not computed
    assert plan(second, coffee) == whole
    assert max(forwards) < system_tokens              # the reply prefilled only what follows the system turn
    assert len(saved(second)) == 1


def test_the_prefix_is_computed_in_chunks_with_sdpa_and_the_same_keys_and_values(fresh):
    llava = fresh()
    forwards = count_forwards(llava)
    seen: list[str] = []
    attention = llava.model.model.language_model.layers[0].self_attn
    attention.register_forward_pre_hook(lambda *_: seen.append(llava.model.config.text_config._attn_implementation))
    llava.warm(system_turn())
    assert set(seen) == {"sdpa"}                                   # computed with SDPA (5x eager's speed on a CPU)
    assert llava.model.config.text_config._attn_implementation == "eager"      # decoding keeps its own
    chunked = llava._prefix[1]
    n = len(llava._prefix[0])
    assert forwards[0] == PREFILL_CHUNK and sum(forwards) == n and len(forwards) == -(-n // PREFILL_CHUNK)
    ids = torch.tensor(llava._prefix[0])[None]
    with torch.inference_mode():
        whole = llava.model(input_ids=ids, use_cache=True).past_key_values
    for a, b in zip(chunked.layers, whole.layers, strict=True):
        assert torch.allclose(a.keys, b.keys, atol=1e-4) and torch.allclose(a.values, b.values, atol=1e-4)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "renamed"])
def test_a_damaged_or_foreign_file_is_ignored_removed_and_written_again(fresh, coffee, caplog, damage):
    first = fresh()
    first.warm(system_turn())
    whole = plan(first, coffee)
    [path] = saved(first)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:                                             # another prompt's file under this prompt's name
        other = fresh()
        ids = other._system_ids(system_turn())
        other._system_prefix(ids[:-7])                # fewer tokens: a different key, a different file
        [foreign] = [p for p in saved(other) if p != path]
        foreign.replace(path)

    second = fresh()
    forwards = count_forwards(second)
    with caplog.at_level(logging.WARNING, logger="tools.prefix_store"):
        assert plan(second, coffee) == whole
    assert "ignoring the saved planner prefix" in caplog.text
    assert sum(forwards) > 1000                       # computed again
    [again] = saved(second)
    assert again.read_bytes() != b"" and fresh().prefix_store.load(
        again.name.removesuffix(SUFFIX), config=second.model.config, device="cpu") is not None


def test_another_model_or_dtype_does_not_use_the_file(fresh):
    llava = fresh()
    ids = llava._system_ids(system_turn())
    key = llava._store_key(ids.tolist())
    llava._weights = "another checkpoint"
    assert llava._store_key(ids.tolist()) != key
    llava.model.to(torch.bfloat16)
    try:
        assert llava._store_key(ids.tolist()) not in (key,)
    finally:
        llava.model.to(torch.float32)


def test_only_the_newest_files_are_kept(fresh):
    llava = fresh()
    ids = llava._system_ids(system_turn())
    for cut in range(1, KEEP + 3):
        llava._system_prefix(ids[:-cut])
    assert len(saved(llava)) == KEEP


def test_the_planner_prepares_its_system_turn_in_the_background_from_load(tiny_profile, tmp_path, monkeypatch):
    """load_planner hands the system prompt to the warm-up thread (a planner with real weights gets it)."""
    from agent.graph.planning import system_prompt
    from agent.planner import load_planner

    monkeypatch.setenv("CHATEDIT_CACHE", str(tmp_path))
    monkeypatch.setattr(type(tiny_profile.planner), "random_weights", property(lambda self: False))
    planner = load_planner(tiny_profile, resolve_placement("cpu"), grammars=[])
    planner.llava.precompiling.join(timeout=300)
    assert planner.llava._prefix is not None
    assert planner.llava.tokenizer.decode(list(planner.llava._prefix[0])).count(system_prompt()[:200]) == 1
    assert list((tmp_path / "prefix").glob(f"*{SUFFIX}"))
