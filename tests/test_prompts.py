"""Prompt templates render strictly: a missing, unknown or malformed placeholder is a clear error."""

from __future__ import annotations

import json
import typing

import pytest

import prompts
from agent.graph.plan import Action, Plan, Selector
from agent.graph.planning import system_prompt
from prompts import PromptTemplateError, placeholders, render

USED = {  # what agent/graph/planning.py passes to each prompt
    "planner_system": {"schema", "max_steps"},
    "planner_user": {"image_size", "digest", "text"},
    "planner_repair": {"error"},
    "verifier": {"step"},
}


def test_every_prompt_has_exactly_the_placeholders_the_code_fills():
    assert set(prompts.names()) == set(USED)
    for name, wanted in USED.items():
        assert placeholders(name) == wanted, name


def test_values_are_inserted_once_and_never_expanded_again():
    text = render("planner_user", image_size="640x480 pixels", digest="v1: removed cup.",
                  text="price it at $5, then $digest ${text} $$")
    assert text == ("Image: 640x480 pixels\nHistory: v1: removed cup.\n"
                    "User: price it at $5, then $digest ${text} $$\n")


def test_a_missing_value_names_it():
    with pytest.raises(PromptTemplateError, match="'planner_user' needs values for digest, text"):
        render("planner_user", image_size="none")


def test_a_value_without_a_placeholder_is_refused():
    with pytest.raises(PromptTemplateError, match="no placeholder for colour"):
        render("planner_repair", error="bad", colour="red")


def test_values_must_be_text_or_numbers():
    with pytest.raises(PromptTemplateError, match="value for error must be text or a number, got dict"):
        render("planner_repair", error={"a": 1})
    assert "3" in render("planner_repair", error=3)


@pytest.mark.parametrize("name", ["../agent/plan", "Planner_user", "planner user", "", "nope"])
def test_bad_or_unknown_prompt_names_are_refused(name):
    with pytest.raises(PromptTemplateError, match="prompt"):
        render(name)


def test_unknown_placeholder_in_a_file_fails_until_given(tmp_path, monkeypatch):
    monkeypatch.setattr(prompts, "PROMPTS_DIR", tmp_path)
    (tmp_path / "custom.txt").write_text("Hello $who, price $$3, ${thing}.\n", encoding="utf-8")
    assert placeholders("custom") == {"who", "thing"}
    with pytest.raises(PromptTemplateError, match="needs values for thing"):
        render("custom", who="you")
    assert render("custom", who="you", thing="a cup") == "Hello you, price $3, a cup.\n"


@pytest.mark.parametrize("body", ["costs $ 5", "end with $", "odd ${who"])
def test_malformed_placeholders_in_a_file_are_errors(tmp_path, monkeypatch, body):
    monkeypatch.setattr(prompts, "PROMPTS_DIR", tmp_path)
    (tmp_path / "broken.txt").write_text(body, encoding="utf-8")
    with pytest.raises(PromptTemplateError, match="malformed placeholder"):
        render("broken")


def test_system_prompt_states_the_schema_every_action_and_every_selector():
    text = system_prompt()
    start = text.index("{")
    schema, _ = json.JSONDecoder().raw_decode(text, start)
    assert schema["properties"].keys() == Plan.model_json_schema()["properties"].keys()
    for word in (*typing.get_args(Action), *typing.get_args(Selector), "last_edited", "box", "attributes"):
        assert f'"{word}"' in text or f" {word}" in text, word
    assert "$" not in text.replace("$defs", "").replace("$ref", "")


def test_few_shot_examples_in_the_system_prompt_are_valid_plans():
    lines = [line for line in system_prompt().splitlines() if line.startswith('{"reasoning"')]
    assert len(lines) >= 10
    plans = [Plan.model_validate_json(line) for line in lines]
    actions = {step.action for plan in plans for step in plan.steps}
    assert {"remove", "recolor", "replace", "undo", "revert", "global", "background", "ask", "answer"} <= actions
    assert any(len(plan.steps) == 2 for plan in plans)  # a compound request is decomposed


def test_system_prompt_explains_counts_exclusions_relations_places_and_two_stage():
    from agent.graph.plan import Relation

    text = system_prompt()
    rules = text[text.index("How to fill it in"):]                   # the rules, not only the schema
    for word in ("count", "exclude", "relation", "anchor", "place", "two_stage", *typing.get_args(Relation)):
        assert word in rules, word
    plans = [Plan.model_validate_json(line) for line in text.splitlines() if line.startswith('{"reasoning"')]
    refs = [s.referent for p in plans for s in p.steps if s.referent is not None]
    assert any(r.count == 2 for r in refs) and any(r.exclude for r in refs) and any(r.relation for r in refs)
    steps = [s for p in plans for s in p.steps]
    assert any(s.place == "next_to" for s in steps) and any(s.two_stage for s in steps)
