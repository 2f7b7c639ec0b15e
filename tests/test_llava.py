"""The LLaVA model wrapper on the tiny random checkpoint: loading, greedy and constrained replies, 4-bit, errors."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from PIL import Image

from tools.constrained import schema_key
from tools.device import resolve_placement
from tools.errors import InvalidInputError, ModelUnavailableError
from tools.llava import Llava, LlavaReply, quantization_config
from tools.loading import model_path

YES_NO = {"type": "string", "enum": ["yes", "no"]}
PLAN_LIKE = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
             "required": ["steps"]}


@pytest.fixture(scope="module")
def llava(tiny_profile) -> Llava:
    return Llava.from_pretrained(tiny_profile.planner, placement=resolve_placement("cpu"))


def ask(text: str, *, image: bool = False) -> list[dict]:
    content = [{"type": "image"}] if image else []
    return [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]


def test_the_tiny_checkpoint_loads_on_the_cpu_under_its_id(llava, tiny_profile):
    assert llava.name == tiny_profile.planner.model_id
    assert llava.model.device.type == "cpu" and type(llava.model).__name__ == "LlavaForConditionalGeneration"


def test_the_tiny_tokenizer_round_trips_any_text_and_knows_the_image_token(llava):
    text = '{"reasoning": "Zoë\'s café ☕ at x=12.5", "steps": [{"action": "ask", "content": "which one?"}]}'
    tokenizer = llava.tokenizer
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    assert tokenizer.convert_tokens_to_ids("<image>") == llava.model.config.image_token_index


def test_replies_are_greedy_and_deterministic(llava, coffee):
    first = llava.generate(ask("describe it", image=True), [coffee], max_new_tokens=12)
    assert isinstance(first, LlavaReply) and not first.constrained and 0 < first.new_tokens <= 12
    assert first == llava.generate(ask("describe it", image=True), [coffee], max_new_tokens=12)


def test_min_new_tokens_gives_a_fixed_reply_length(llava):
    reply = llava.generate(ask("hi"), max_new_tokens=6, min_new_tokens=6)
    assert reply.new_tokens == 6 and not reply.finished


def test_a_schema_constrains_the_reply(llava):
    reply = llava.generate(ask("yes or no?"), json_schema=YES_NO, max_new_tokens=8)
    assert reply.constrained and reply.finished and json.loads(reply.text) in ("yes", "no")
    plan = llava.generate(ask("plan it"), json_schema=PLAN_LIKE, max_new_tokens=200)
    assert llava.constraint().accepts(PLAN_LIKE, plan.text) or not plan.finished


class _NoSystemTemplate:
    """A processor whose chat template rejects a system turn, as some models' templates do."""

    def apply_chat_template(self, conversation: list[dict], **kwargs: object) -> str:
        from jinja2 import TemplateError

        if any(turn["role"] == "system" for turn in conversation):
            raise TemplateError("System role not supported")
        return json.dumps(conversation)


def test_a_system_turn_is_folded_into_the_first_user_turn_where_the_template_rejects_it():
    system = {"role": "system", "content": [{"type": "text", "text": "be brief. "}]}
    llava = Llava(None, _NoSystemTemplate())
    assert json.loads(llava.render([system, *ask("hi")])) == [
        {"role": "user", "content": [{"type": "text", "text": "be brief. "}, {"type": "text", "text": "hi"}]}]
    assert json.loads(llava.render([system])) == [{"role": "user", "content": system["content"]}]


def test_compiled_grammars_are_cached_per_schema(llava):
    constraint = llava.constraint()
    assert constraint is llava.constraint()
    assert constraint.compile(PLAN_LIKE) is constraint.compile(json.loads(schema_key(PLAN_LIKE)))
    assert constraint.compile(YES_NO) is not constraint.compile(PLAN_LIKE)


@pytest.mark.parametrize(("kwargs", "message"), [({"max_new_tokens": 0}, "max_new_tokens must be >= 1, got 0"),
                                                 ({"min_new_tokens": -1}, "min_new_tokens must be >= 0, got -1")])
def test_token_counts_are_checked(llava, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        llava.generate(ask("hi"), **kwargs)


def test_released_weights_come_back_on_the_next_reply(tiny_profile):
    llava = Llava.from_pretrained(tiny_profile.planner, placement=resolve_placement("cpu"))
    first = llava.generate(ask("hi"), max_new_tokens=4)
    llava.release()
    assert llava.model is None
    assert llava.generate(ask("hi"), max_new_tokens=4) == first and llava.model is not None


def test_a_model_from_loaded_parts_refuses_to_release(llava):
    bare = Llava(llava.model, llava.processor)
    with pytest.raises(InvalidInputError, match="cannot reload"):
        bare.release()
    assert bare.model is llava.model


def test_4bit_is_skipped_on_the_cpu_with_a_log_line(tiny_profile, caplog):
    with caplog.at_level(logging.INFO, logger="tools.llava"):
        llava = Llava.from_pretrained(model_path(tiny_profile.planner), placement=resolve_placement("cpu"),
                                      quantize_4bit=True)
    assert "4-bit quantization needs CUDA" in caplog.text
    assert not any(type(m).__name__ == "Linear4bit" for m in llava.model.modules())


def test_the_4bit_config_loads_the_tiny_model_on_cpu_and_decodes_constrained(tiny_profile):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = model_path(tiny_profile.planner)
    quantized = AutoModelForImageTextToText.from_pretrained(
        path, use_safetensors=True, dtype=torch.float32, quantization_config=quantization_config(torch.float32),
        device_map="cpu")
    kinds = {name: type(module).__name__ for name, module in quantized.named_modules()}
    four_bit = [name for name, kind in kinds.items() if kind == "Linear4bit"]
    assert four_bit and all(name.startswith("model.language_model.") for name in four_bit)
    assert kinds["lm_head"] == "Linear" and kinds["model.multi_modal_projector.linear_1"] == "Linear"
    llava = Llava(quantized, AutoProcessor.from_pretrained(path))
    reply = llava.generate(ask("ok?", image=True), [Image.new("RGB", (40, 30), "green")], json_schema=YES_NO,
                           max_new_tokens=8)
    assert json.loads(reply.text) in ("yes", "no")


def test_a_missing_checkpoint_is_a_model_unavailable_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="cannot load planner model from"):
        Llava.from_pretrained(tmp_path / "nothing-here", placement=resolve_placement("cpu"))


def test_the_cached_system_prompt_gives_the_same_plan_as_the_whole_prompt(llava, coffee):
    from agent.graph.planning import decoding_schema, system_prompt

    conversation = [{"role": "system", "content": [{"type": "text", "text": system_prompt()}]},
                    *ask("remove the cup", image=True)]
    ids = llava.encode(conversation, [coffee])["input_ids"]
    llava.cache_prefix = False
    try:
        whole = llava.generate(conversation, [coffee], json_schema=decoding_schema(), max_new_tokens=60)
    finally:
        llava.cache_prefix = True
    assert llava.prefix_cache(conversation, ids) is not None
    stored = llava._prefix
    assert len(stored[0]) > 1000                                  # the system prompt, not a few tokens
    cached = llava.generate(conversation, [coffee], json_schema=decoding_schema(), max_new_tokens=60)
    assert cached == whole and cached.constrained
    assert llava._prefix is stored                                # computed once, copied for each reply
    assert llava.generate(conversation, [coffee], json_schema=decoding_schema(), max_new_tokens=60) == whole
    assert llava.prefix_cache(ask("hi"), llava.encode(ask("hi"))["input_ids"]) is None      # no system turn


def test_the_planner_attention_is_eager_on_the_cpu_and_sdpa_on_a_gpu(llava):
    from tools.device import Placement
    from tools.llava import attention_for

    assert attention_for(Placement("cpu", torch.float32)) == "eager"
    assert attention_for(Placement("cuda", torch.float16)) == "sdpa"
    config = llava.model.config
    assert (config.text_config._attn_implementation, config.vision_config._attn_implementation) == ("eager", "sdpa")


@pytest.mark.slow
def test_eager_and_sdpa_attention_give_the_same_plan(tiny_profile, llava, coffee):
    """Greedy, constrained by the plan's schema, with the system prompt cached: the same JSON either way."""
    from agent.graph.planning import decoding_schema, system_prompt

    sdpa = Llava.from_pretrained(tiny_profile.planner, placement=resolve_placement("cpu"), attention="sdpa")
    assert sdpa.model.config.text_config._attn_implementation == "sdpa"
    conversation = [{"role": "system", "content": [{"type": "text", "text": system_prompt()}]},
                    *ask("remove the cup", image=True)]
    replies = [model.generate(conversation, [coffee], json_schema=decoding_schema(), max_new_tokens=80)
               for model in (llava, sdpa)]
    assert replies[0] == replies[1] and replies[0].new_tokens > 10 and replies[0].constrained
    with pytest.raises(InvalidInputError, match="attention must be one of eager, sdpa, got 'flash'"):
        Llava.from_pretrained(tiny_profile.planner, placement=resolve_placement("cpu"), attention="flash")


def test_the_prompt_is_prefilled_before_the_grammar_is_waited_for(llava, coffee):
    """A reply sent while its grammar still compiles (right after the loads) prefills meanwhile."""
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}},
              "required": ["colour"], "additionalProperties": False}
    events: list[str] = []
    constraint = llava.constraint()
    compile_ = constraint.compile
    handle = llava.model.model.language_model.register_forward_pre_hook(lambda *_: events.append("forward"))
    try:
        constraint.compile = lambda s: (events.append("compile"), compile_(s))[1]
        lazy = llava.generate(ask("which colour?", image=True), [coffee], json_schema=schema, max_new_tokens=40)
    finally:
        del constraint.compile
        handle.remove()
    assert events[:2] == ["forward", "compile"] and events.count("compile") == 1
    assert lazy.constrained and json.loads(lazy.text)["colour"] in ("red", "green", "blue")
    assert lazy == llava.generate(ask("which colour?", image=True), [coffee], json_schema=schema, max_new_tokens=40)
    with pytest.raises(ValueError, match="cannot build a grammar"):
        llava.generate(ask("hi"), json_schema={"type": "no-such-type"}, max_new_tokens=4)
