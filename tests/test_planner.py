"""The LangChain planner on the tiny random checkpoint: message conversion, constrained plans end to end."""

from __future__ import annotations

import base64
import io
import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from PIL import Image

from agent.graph.plan import Plan
from agent.planner import LlavaChatModel, load_planner, to_conversation
from agent.graph.planning import VERDICT_SCHEMA, image_block, make_plan, verify_result
from tools.device import resolve_placement
from tools.errors import InvalidInputError
from tools.llava import Llava


@pytest.fixture(scope="module")
def planner(tiny_profile) -> LlavaChatModel:
    return load_planner(tiny_profile, resolve_placement("cpu"))


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_messages_become_a_chat_template_conversation_with_images_in_order():
    red, blue = Image.new("RGB", (8, 6), "red"), Image.new("RGB", (5, 5), "blue")
    messages = [SystemMessage("be brief"),
                HumanMessage(content=[{"type": "image", "base64": png_b64(red), "mime_type": "image/png"},
                                      {"type": "text", "text": "what is this?"}]),
                AIMessage("a red square"),
                HumanMessage(content=["and this?", {"type": "image_url",
                                                    "image_url": {"url": f"data:image/png;base64,{png_b64(blue)}"}}])]
    conversation, images = to_conversation(messages)
    assert [turn["role"] for turn in conversation] == ["system", "user", "assistant", "user"]
    assert conversation[1]["content"] == [{"type": "image"}, {"type": "text", "text": "what is this?"}]
    assert [image.getpixel((0, 0)) for image in images] == [(255, 0, 0), (0, 0, 255)]


@pytest.mark.parametrize("block, message", [
    ({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}, "no URLs are fetched"),
    ({"type": "image", "base64": "bm90IGFuIGltYWdl", "mime_type": "image/png"}, "cannot decode the image"),
    ({"type": "audio", "base64": "AAAA"}, "unsupported message content block 'audio'"),
])
def test_unusable_content_is_a_clear_error(block, message):
    with pytest.raises(InvalidInputError, match=message):
        to_conversation([HumanMessage(content=[block])])
    with pytest.raises(InvalidInputError, match="system, human and ai messages, got tool"):
        to_conversation([ToolMessage("x", tool_call_id="1")])


def test_the_tiny_planner_loads_through_the_profile(planner, tiny_profile):
    assert planner.model_name == tiny_profile.planner.model_id == planner.llava.name
    assert planner.llava.model.device.type == "cpu" and planner.supports_json_schema
    assert type(planner.llava.model).__name__ == "LlavaForConditionalGeneration"


def test_free_replies_are_deterministic(planner, coffee):
    messages = [HumanMessage(content=[image_block(coffee), {"type": "text", "text": "describe it"}])]
    first = planner.invoke(messages, max_new_tokens=12)
    assert first.content == planner.invoke(messages, max_new_tokens=12).content
    assert first.response_metadata["constrained"] is False


@pytest.mark.slow
@pytest.mark.parametrize("text", ["remove the cup and make the table white",
                                  "the guy at the far right in the black top: make him wear a red hat"])
def test_constrained_decoding_gives_a_valid_plan_from_random_weights(planner, coffee, text):
    outcome = make_plan(planner, image=coffee, digest="", text=text)
    assert outcome.error is None, outcome.replies
    assert isinstance(outcome.plan, Plan) and len(outcome.replies) == 1  # valid the first time: no re-ask
    assert Plan.model_validate_json(outcome.replies[0]) == outcome.plan


def test_without_constraints_random_weights_give_no_plan_and_no_exception(planner, coffee):
    unconstrained = planner.model_copy(update={"supports_json_schema": False, "max_new_tokens": 16})
    outcome = make_plan(unconstrained, image=coffee, digest="v1: removed cup.", text="make it bigger")
    assert outcome.plan is None and len(outcome.replies) == 2
    assert outcome.error.startswith("the planner gave no valid plan after a retry")


def test_verify_result_gets_a_yes_or_no_from_the_tiny_model(planner, coffee, chelsea):
    reply = planner.invoke([HumanMessage("yes or no?")], json_schema=VERDICT_SCHEMA)
    assert json.loads(reply.content) in ("yes", "no") and reply.response_metadata["finish_reason"] == "stop"
    assert verify_result(planner, before=coffee, after=chelsea, step="remove cup") in (True, False)


def test_the_schema_can_be_bound_or_set_as_an_attribute(planner):
    question = [HumanMessage("well?")]
    for model in (planner.bind(json_schema=VERDICT_SCHEMA), planner.model_copy(update={"json_schema": VERDICT_SCHEMA})):
        reply = model.invoke(question)
        assert json.loads(reply.content) in ("yes", "no") and reply.response_metadata["constrained"]


def test_copies_share_one_model_and_stop_words_cut_the_reply(planner):
    copy = planner.model_copy(update={"max_new_tokens": 8})
    assert copy.llava is planner.llava
    full = copy.invoke([HumanMessage("go on")]).content
    assert full and copy.invoke([HumanMessage("go on")], stop=[full[-1]]).content == full[: full.index(full[-1])]


def test_a_planner_around_a_loaded_model(planner):
    chat = LlavaChatModel(llava=Llava(planner.llava.model, planner.llava.processor), max_new_tokens=4)
    reply = chat.invoke([HumanMessage("hi")], json_schema=VERDICT_SCHEMA)
    assert json.loads(reply.content) in ("yes", "no") and reply.response_metadata["model_name"] == "llava"


def test_the_planners_grammars_compile_in_the_background_from_load(tiny_profile):
    from agent.graph.planning import decoding_schema
    from tools.constrained import schema_key

    random = load_planner(tiny_profile, resolve_placement("cpu"))
    assert random.llava.precompiling is None                  # random weights: the offline grammar plans
    planner = load_planner(tiny_profile, resolve_placement("cpu"), grammars=[decoding_schema(), VERDICT_SCHEMA])
    planner.llava.precompiling.join(timeout=120)
    assert not planner.llava.precompiling.is_alive()
    cache = planner.llava.constraint()._cache
    assert {schema_key(decoding_schema()), schema_key(VERDICT_SCHEMA)} <= set(cache)
    reply = planner.invoke("yes or no?", json_schema=VERDICT_SCHEMA, max_new_tokens=4)
    assert json.loads(reply.content) in ("yes", "no")


def test_a_grammar_that_cannot_compile_ahead_is_logged_not_raised(tiny_profile, caplog):
    planner = load_planner(tiny_profile, resolve_placement("cpu"), grammars=[{"type": "no-such-type"}])
    planner.llava.precompiling.join(timeout=60)
    assert "grammar was not compiled ahead" in caplog.text
