"""The plan's reasoning is one or two short sentences: the prompt asks for it, the schemas cap it, constrained
decoding cannot pass the cap, and an unconstrained planner's longer reasoning is cut, never a crash."""

from __future__ import annotations

import json
import random

import pytest
import torch
from transformers import LogitsProcessor

import prompts
from agent.graph.plan import MAX_REASONING_CHARS, Plan
from agent.graph.planning import decoding_schema, make_plan, system_prompt
from tests.agent_fakes import QueuePlanner, plan

REMOVE = {"action": "remove", "referent": {"phrase": "cup"}}


def test_the_prompt_and_both_schemas_state_the_cap():
    assert "one or two short sentences" in prompts.render("planner_system", schema="{}", max_steps=8)
    assert decoding_schema()["properties"]["reasoning"]["maxLength"] == MAX_REASONING_CHARS
    assert f'"maxLength": {MAX_REASONING_CHARS}, "type": "string"}}, "steps"' in system_prompt()
    examples = [json.loads(line) for line in system_prompt().splitlines() if line.startswith('{"reasoning"')]
    assert len(examples) > 10 and all(len(e["reasoning"]) <= MAX_REASONING_CHARS for e in examples)


class Chatty(LogitsProcessor):
    """Pushes one token far above the rest: unconstrained, the model would write it forever."""

    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[:, self.token] += 1e4 * torch.isfinite(scores[:, self.token])
        return scores


def test_constrained_decoding_never_writes_more_reasoning_than_the_cap(tiny_profile):
    from tools.device import resolve_placement
    from tools.llava import Llava

    llava = Llava.from_pretrained(tiny_profile.planner, placement=resolve_placement("cpu"))
    word = llava.tokenizer.encode("a", add_special_tokens=False)[0]
    ask = [{"role": "user", "content": [{"type": "text", "text": "remove the cup"}]}]
    free = llava.generate(ask, max_new_tokens=MAX_REASONING_CHARS + 20, logits_processors=[Chatty(word)])
    assert len(free.text) > MAX_REASONING_CHARS                 # the push works: without a grammar it rambles
    reply = llava.generate(ask, json_schema=decoding_schema(), max_new_tokens=1200, logits_processors=[Chatty(word)])
    assert reply.finished and reply.constrained
    reasoning = json.loads(reply.text)["reasoning"]
    assert len(reasoning) == MAX_REASONING_CHARS                # pushed right up to the cap, and no further
    assert Plan.model_validate_json(reply.text).reasoning == reasoning


def _words(rng: random.Random, n: int) -> str:
    pieces = ["the", "cup", "café", "☕", "user", "wants", "to", "remove", "it.", "\u202e", "\x07", "x" * 60]
    return " ".join(rng.choice(pieces) for _ in range(n))


@pytest.mark.parametrize("seed", range(20))
def test_an_unconstrained_planners_long_reasoning_is_cut_and_the_steps_kept(seed):
    rng = random.Random(seed)
    reasoning = _words(rng, rng.randint(40, 3000))
    assert len(reasoning) > MAX_REASONING_CHARS
    model = QueuePlanner().push(plan(REMOVE, reasoning=reasoning))
    outcome = make_plan(model, image=None, digest="", text="remove the cup")
    assert outcome.plan is not None and model.calls == 1, outcome.error        # not re-asked: the steps were fine
    assert len(outcome.plan.reasoning) <= MAX_REASONING_CHARS
    assert outcome.plan.reasoning.endswith("...") and outcome.plan.steps[0].action == "remove"
    assert "\x07" not in outcome.plan.reasoning and "\u202e" not in outcome.plan.reasoning


@pytest.mark.parametrize("reasoning", [None, 12, ["a" * 5000], {"text": "a" * 5000}])
def test_a_reasoning_that_is_not_text_is_asked_again_not_a_crash(reasoning):
    model = QueuePlanner().push({"reasoning": reasoning, "steps": [REMOVE]}, plan(REMOVE, reasoning="a" * 5000))
    outcome = make_plan(model, image=None, digest="", text="remove the cup")
    assert model.calls == 2 and outcome.plan is not None
    assert outcome.plan.reasoning == "a" * (MAX_REASONING_CHARS - 3) + "..."


def test_a_short_reasoning_is_kept_as_it_is():
    text = "Remove the cup. " * 12
    assert len(text) <= MAX_REASONING_CHARS and Plan(reasoning=text, steps=[REMOVE]).reasoning == text
