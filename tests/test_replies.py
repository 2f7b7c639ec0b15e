"""Replies that are true: ordinals, plurals and counts, step wording without internal captions,
verification verdicts said in the reply, recolours that say how they were done."""

from __future__ import annotations

import json

import pytest

from agent.graph.nodes.common import count_noun, ordinal, plural, plural_phrase, strip_article


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                         (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (101, "101st"),
                                         (111, "111th"), (112, "112th"), (1000, "1000th")])
def test_ordinal(n, text):
    assert ordinal(n) == text


@pytest.mark.parametrize(("noun", "many"), [("cup", "cups"), ("glass", "glasses"), ("person", "people"),
                                            ("man", "men"), ("bus", "buses"), ("leaf", "leaves"), ("box", "boxes"),
                                            ("baby", "babies"), ("toy", "toys"), ("dish", "dishes"),
                                            ("policeman", "policemen"), ("human", "humans"), ("sheep", "sheep"),
                                            ("knife", "knives"), ("child", "children"), ("Cup", "Cups"),
                                            ("cups", "cups"), ("people", "people"), ("boxes", "boxes"),
                                            ("gas", "gases")])
def test_plural(noun, many):
    assert plural(noun) == many


def test_plural_phrase_changes_the_head_noun_and_drops_articles():
    assert plural_phrase("the red cup") == "red cups"
    assert plural_phrase("cup on the left") == "cups on the left"
    assert plural_phrase("a glass of water") == "glasses of water"
    assert strip_article("the the cup") == "cup" and strip_article("an apple") == "apple"
    assert count_noun(1, "the cup") == "1 cup" and count_noun(2, "the cup") == "2 cups"
    assert count_noun(0, "glass") == "no glasses" and count_noun(20, "light") == "20 lights"


# -- through the real graph (tiny tools, pinned planner and verifier replies) ------------------------

import numpy as np  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from agent.graph import compile_graph  # noqa: E402
from agent.graph.context import Context  # noqa: E402
from agent.session.store import SessionStore  # noqa: E402
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan  # noqa: E402

LEFT, MIDDLE, RIGHT = (10, 20, 50, 60), (55, 20, 90, 60), (95, 15, 140, 65)
RED_CUP = plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "red"})


class Session:
    """One session's graph on the real tiny tools; the planner (and verifier) replies are pinned."""

    def __init__(self, root, image, profile, detections, *, verify=False):
        self.store = SessionStore.create(root, image)
        self.tools = FixedDetections(profile, detections)
        self.planner = QueuePlanner()
        self.graph = compile_graph(InMemorySaver())
        self.verify = verify

    def send(self, text, *replies) -> dict:
        self.planner.push(*replies)
        ctx = Context(store=self.store, tools=self.tools, planner=self.planner, verify=self.verify)
        return self.graph.invoke({"text": text}, {"configurable": {"thread_id": "t"}}, context=ctx)


@pytest.fixture
def small(coffee):
    return coffee.resize((150, 100))


def _one_cup(tmp_path, small, tiny_profile, verify):
    return Session(tmp_path / "s", small, tiny_profile, {"cup": [det(LEFT)]}, verify=verify)


def test_a_result_that_fails_the_check_twice_is_kept_and_the_reply_says_so(tmp_path, small, tiny_profile):
    s = _one_cup(tmp_path, small, tiny_profile, verify=True)
    out = s.send("make the cup red", RED_CUP, "no", "no")
    reply = out["reply"]
    assert reply["version"] == 1 and s.planner.left == 0                 # committed: the user asked for it
    record = s.store.history.current.steps[0]
    assert record.verified is False and record.attempt == 1
    assert 'The check says this may not show a red cup; say "undo" to take it back.' in reply["text"]
    assert reply["text"].index("Tried to make the cup red.") < reply["text"].index("The check says")


@pytest.mark.parametrize("verdict", ["maybe?", "", "I cannot tell"])
def test_an_unclear_verdict_is_recorded_as_unverified_and_said(tmp_path, small, tiny_profile, verdict):
    s = _one_cup(tmp_path, small, tiny_profile, verify=True)
    out = s.send("make the cup red", RED_CUP, verdict)
    assert out["reply"]["version"] == 1 and s.planner.left == 0       # no retry on an unclear verdict
    record = s.store.history.current.steps[0]
    assert record.verified is None and record.attempt == 0
    assert "could not check that it shows a red cup" in out["reply"]["text"]


def test_a_clear_yes_is_verified_and_the_reply_adds_nothing(tmp_path, small, tiny_profile):
    s = _one_cup(tmp_path, small, tiny_profile, verify=True)
    out = s.send("make the cup red", RED_CUP, "Yes.")
    assert s.store.history.current.steps[0].verified is True
    assert out["reply"]["text"].startswith("Made the cup red.") and "check" not in out["reply"]["text"]


def test_a_no_then_yes_retries_once_and_passes(tmp_path, small, tiny_profile):
    s = _one_cup(tmp_path, small, tiny_profile, verify=True)
    out = s.send("make the cup red", RED_CUP, "no", "yes")
    record = s.store.history.current.steps[0]
    assert (record.attempt, record.verified) == (1, True) and "check" not in out["reply"]["text"]


def test_a_pattern_is_painted_by_diffusion_and_the_reply_says_how(tmp_path, small, tiny_profile):
    s = _one_cup(tmp_path, small, tiny_profile, verify=False)
    out = s.send("make the cup red and white striped",
                 plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "red and white striped"}))
    text = out["reply"]["text"]
    assert "Made the cup" not in text
    said = "Repainted the cup as red and white striped (diffusion; the exact colour shift cannot draw patterns)."
    assert said in text
    record = s.store.history.current.steps[0]
    assert record.prompt == "a red and white striped cup"
    before, after = np.asarray(s.store.version_image(0)), np.asarray(s.store.version_image(1))
    region = s.store.load_mask(record.region)
    assert np.array_equal(before[~region], after[~region]) and not np.array_equal(before, after)


def test_a_compound_colour_is_the_exact_shift_and_not_its_last_word(tmp_path, small, tiny_profile):
    from tools.color import rgb_to_lab

    s = _one_cup(tmp_path, small, tiny_profile, verify=False)
    out = s.send("make the cup blue-green",
                 plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "blue-green"}))
    assert "Made the cup blue-green." in out["reply"]["text"]
    record = s.store.history.current.steps[0]
    mask = s.store.load_mask(record.mask)
    lab = rgb_to_lab(np.asarray(s.store.version_image(1))[mask])
    hue = np.degrees(np.arctan2(np.median(lab[:, 2]), np.median(lab[:, 1]))) % 360
    assert 170 < hue < 260                                   # teal-ish: green is ~136, blue ~306


def test_not_a_colour_nor_a_look_is_refused_in_the_reply(tmp_path, small, tiny_profile):
    s = _one_cup(tmp_path, small, tiny_profile, verify=False)
    out = s.send("make the cup happy", plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "happy"}))
    assert out["reply"]["version"] is None and "not a colour, pattern or material" in out["reply"]["text"]
    assert "Nothing changed" in out["reply"]["text"]


@pytest.mark.parametrize(("referent", "boxes", "said"), [
    ({"phrase": "cup", "count": 2, "selector": "all"}, [LEFT, RIGHT], "Removed both cups."),
    ({"phrase": "cups", "selector": "all"}, [LEFT, MIDDLE, RIGHT], "Removed all 3 cups."),
    ({"phrase": "glass", "selector": "all"}, [LEFT, RIGHT], "Removed both glasses."),
])
def test_several_removed_things_are_counted_in_plain_words(tmp_path, small, tiny_profile, referent, boxes, said):
    phrase = referent["phrase"]
    s = Session(tmp_path / "s", small, tiny_profile, {phrase: [det(b) for b in boxes]})
    out = s.send(f"remove the {phrase}", plan({"action": "remove", "referent": referent}))
    assert out["reply"]["version"] == 1, out["reply"]["text"]
    assert out["reply"]["text"].startswith(said) and "of them" not in out["reply"]["text"]


def test_a_diffedit_reply_never_shows_its_captions(tmp_path, rocket, tiny_profile):
    s = Session(tmp_path / "s", rocket.resize((128, 96)), tiny_profile, {})
    source, target = "a rocket on a launch pad under a clear sky", "a rocket on a launch pad under a stormy sky"
    out = s.send("make the sky stormy",
                 plan({"action": "global", "referent": {"phrase": source}, "content": target}))
    text = out["reply"]["text"]
    assert out["reply"]["version"] == 1 and text.startswith('Changed the picture as asked ("make the sky stormy").')
    assert "launch pad" not in text and "rocket" not in text
    assert s.store.history.current.steps[0].target == "the image"      # the record names no caption either


# -- provenance: who planned, every seed --------------------------------------------------------------

def test_a_version_records_the_model_that_planned_and_every_seed_in_history_and_the_png(tmp_path, small,
                                                                                      tiny_profile):
    from PIL import Image

    s = Session(tmp_path / "s", small, tiny_profile, {"cup": [det(LEFT)], "table": [det((0, 70, 150, 100))]})
    out = s.send("remove the cup and make the table white",
                 plan({"action": "remove", "referent": {"phrase": "cup"}},
                      {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"}))
    assert out["reply"]["version"] == 1
    version = s.store.history.current
    assert version.seeds == tuple(r.seed for r in version.steps) and len(version.seeds) == 2
    assert version.planned_by["kind"] == "planner" and version.planned_by["class"] == "QueuePlanner"
    assert version.models["planner"] == "QueuePlanner"                 # not the profile's tiny/llava
    assert all(r.models["planner"] == "QueuePlanner" for r in version.steps)
    assert version.models["inpainting"] == "tiny/sd-inpaint"
    saved = json.loads((s.store.root / "history.json").read_text())["versions"][1]
    assert saved["seeds"] == list(version.seeds) and saved["planned_by"]["class"] == "QueuePlanner"
    with Image.open(s.store.export(1, tmp_path / "out.png")) as png:
        text = png.text
    assert text["chatedit:seeds"] == ", ".join(str(v) for v in version.seeds)
    assert "kind=planner" in text["chatedit:planned_by"] and "class=QueuePlanner" in text["chatedit:planned_by"]


@pytest.mark.parametrize(("planned_by", "planner"), [
    ({"kind": "planner", "class": "ChatOpenAI", "model": "qwen2-vl-7b", "endpoint": "http://gpu:8000/v1"},
     "qwen2-vl-7b"),
    ({"kind": "planner", "class": "LlavaChatModel"}, "LlavaChatModel"),
    ({"kind": "grammar"}, None), ({"kind": "commands"}, None), ({}, "tiny/llava"),
])
def test_the_planner_named_in_provenance_is_the_one_that_planned(planned_by, planner, tiny_profile):
    from agent.graph.nodes.commit import provenance_models

    models = provenance_models(dict(tiny_profile.model_ids()), planned_by)
    assert models.get("planner") == planner and models["inpainting"] == "tiny/sd-inpaint"


@pytest.mark.parametrize(("referent", "count", "said"), [
    ({"phrase": "cup", "count": 2}, 2, "both cups"), ({"phrase": "the cups", "selector": "all"}, 5, "all 5 cups"),
    ({"phrase": "cup", "count": 3}, 3, "all 3 cups"),
    ({"phrase": "cup", "count": 2, "selector": "leftmost"}, 2, "the 2 cups on the left"),
    ({"phrase": "person", "count": 2, "selector": "largest"}, 2, "the 2 largest people"),
    ({"phrase": "cup", "selector": "all", "exclude": [{"selector": "leftmost"}]}, 4, "4 cups"),
    ({"phrase": "cup", "attributes": ["red"], "selector": "all"}, 2, "both cups (red)"),
    ({"last_edited": True}, 2, "the 2 last edited regions"),
])
def test_several_targets_are_named_by_how_the_user_meant_them(referent, count, said):
    from agent.graph.nodes.common import describe, many
    from agent.graph.plan import Step

    step = Step(action="remove", referent=referent)
    assert many(step, count) == said and describe(step, count=count) == f"Removed {said}."
