"""Locating through the real graph on tiny models: counts, exclusions, relations, colour attributes, an add beside
its referent, two-stage replace, and the wording of what was found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from PIL import Image

from agent.graph import compile_graph
from agent.graph.context import Context
from agent.session.store import SessionStore
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

SIZE = (150, 100)
A, B, C = (5, 30, 35, 70), (55, 30, 85, 70), (105, 30, 135, 70)      # three cups, left to right
PLATE = (40, 75, 100, 95)


class Turns:
    """One session's graph driven turn by turn with pinned plans and detections."""

    def __init__(self, root: Path, image: Image.Image, profile, detections) -> None:
        self.store = SessionStore.create(root, image)
        self.tools = FixedDetections(profile, detections)
        self.planner = QueuePlanner()
        self.graph = compile_graph(InMemorySaver())
        self.config = {"configurable": {"thread_id": "t"}}

    def send(self, text: str, *steps: dict) -> dict:
        self.planner.push(plan(*steps))
        ctx = Context(store=self.store, tools=self.tools, planner=self.planner)
        return self.graph.invoke({"text": text}, self.config, context=ctx)

    def record(self):
        return self.store.history.current.steps[0]

    def image(self, number: int | None = None) -> np.ndarray:
        return np.asarray(self.store.version_image(number))


def _patches() -> Image.Image:
    """Red, blue and red cups (flat patches) on grey, a white plate below."""
    pixels = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    for (x0, y0, x1, y1), rgb in ((A, (210, 30, 30)), (B, (30, 50, 210)), (C, (200, 40, 40))):
        pixels[y0:y1, x0:x1] = rgb
    pixels[PLATE[1]:PLATE[3], PLATE[0]:PLATE[2]] = 250
    return Image.fromarray(pixels)


@pytest.fixture
def three(tmp_path, tiny_profile):
    return Turns(tmp_path / "s", _patches(), tiny_profile,
                 {"cup": [det(B, 0.9), det(A, 0.85), det(C, 0.8)], "plate": [det(PLATE, 0.9)]})


def _boxes(record) -> list[tuple[float, ...]]:
    return [tuple(b) for b in record.boxes]


def _unchanged_outside(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> bool:
    return bool(np.array_equal(before[~mask], after[~mask]))


def test_both_when_exactly_two_are_found_takes_both(three):
    three.tools.detections["cup"] = [det(A), det(C)]
    out = three.send("remove both cups", {"action": "remove", "referent": {"phrase": "cup", "count": 2}})
    assert out["reply"]["version"] == 1
    assert _boxes(three.record()) == [A, C]


def test_both_when_three_are_found_asks_for_two_and_lists_every_match(three):
    out = three.send("remove both cups", {"action": "remove", "referent": {"phrase": "cup", "count": 2}})
    q = out["__interrupt__"][0].value
    assert q["want"] == 2 and q["phrase"] == "cup"
    assert q["matches"] == [list(map(float, b)) for b in (A, B, C)]          # every match, left to right
    assert "I found 3 cups; you said two. Which two" in q["text"]
    assert three.store.history.latest == 0


def test_both_when_one_is_found_stops_and_says_so(three):
    three.tools.detections["cup"] = [det(A)]
    out = three.send("remove both cups", {"action": "remove", "referent": {"phrase": "cup", "count": 2}})
    assert out["reply"]["version"] is None
    assert "I found only 1 cup, not 2" in out["reply"]["text"] and "Nothing changed" in out["reply"]["text"]


def test_the_two_on_the_left_takes_the_two_leftmost(three):
    out = three.send("remove the two on the left",
                     {"action": "remove", "referent": {"phrase": "cup", "count": 2, "selector": "leftmost"}})
    assert out["reply"]["version"] == 1
    assert sorted(_boxes(three.record())) == [A, B]


def test_all_except_the_left_one_acts_on_the_rest(three):
    out = three.send("remove all the cups except the one on the left",
                     {"action": "remove", "referent": {"phrase": "cup", "selector": "all",
                                                       "exclude": [{"selector": "leftmost"}]}})
    assert out["reply"]["version"] == 1
    assert _boxes(three.record()) == [B, C]
    before, after = three.image(0), three.image(1)
    x0, y0, x1, y1 = A
    assert np.array_equal(before[y0:y1, x0:x1], after[y0:y1, x0:x1])           # the left cup is untouched


def test_all_except_the_red_ones_reads_colours_from_the_pixels(three):
    out = three.send("make all the cups except the red ones green",
                     {"action": "recolor", "referent": {"phrase": "cup", "selector": "all",
                                                        "exclude": [{"attributes": ["red"]}]}, "content": "green"})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [B]


def test_an_exclusion_that_leaves_nothing_stops(three):
    three.tools.detections["cup"] = [det(A)]
    out = three.send("remove the cups except the left one",
                     {"action": "remove", "referent": {"phrase": "cup", "selector": "all",
                                                       "exclude": [{"selector": "leftmost"}]}})
    assert out["reply"]["version"] is None and "leaves none" in out["reply"]["text"]


def test_an_exclusion_past_the_end_says_which_is_missing(three):
    out = three.send("remove all cups but the 22nd from the left",
                     {"action": "remove", "referent": {"phrase": "cup", "selector": "all",
                                                       "exclude": [{"selector": "nth_from_left", "n": 22}]}})
    assert out["reply"]["version"] is None
    assert "I found only 3 cups, so there is no 22nd from the left" in out["reply"]["text"]


def test_an_nth_past_the_end_has_a_correct_ordinal_and_plural(three):
    out = three.send("remove the 22nd cup", {"action": "remove",
                                            "referent": {"phrase": "cup", "selector": "nth_from_left", "n": 22}})
    assert "I found only 3 cups, so there is no 22nd from the left" in out["reply"]["text"]


@pytest.mark.parametrize(("relation", "expected"), [("left_of", A), ("right_of", C)])
def test_the_cup_beside_the_middle_one_by_relation(three, relation, expected):
    three.tools.detections["mug"] = [det(B)]
    out = three.send("remove the cup left of the mug", {"action": "remove", "referent": {
        "phrase": "cup", "relation": relation, "anchor": {"phrase": "mug"}}})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [expected]


def test_a_relation_that_keeps_several_asks_among_those(three):
    three.tools.detections["plate"] = [det((0, 75, 150, 95))]             # a tray under all three
    out = three.send("remove the cup above the plate", {"action": "remove", "referent": {
        "phrase": "cup", "relation": "above", "anchor": {"phrase": "plate"}}})
    q = out["__interrupt__"][0].value
    assert "I found 3 cups above the plate." in q["text"]
    assert [tuple(c["box"]) for c in q["candidates"]] == [A, B, C]


def test_a_relation_keeps_only_the_candidates_in_it(three):
    out = three.send("remove the cup above the plate", {"action": "remove", "referent": {
        "phrase": "cup", "relation": "above", "anchor": {"phrase": "plate"}}})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [B]   # only B shares the plate's span


def test_a_missing_anchor_stops_with_a_clear_sentence(three):
    out = three.send("remove the cup next to the teapot", {"action": "remove", "referent": {
        "phrase": "cup", "relation": "next_to", "anchor": {"phrase": "teapot"}}})
    text = out["reply"]["text"]
    assert out["reply"]["version"] is None
    assert "couldn't find the teapot" in text and "next to it" in text


def test_no_candidate_in_the_relation_stops(three):
    out = three.send("remove the cup below the plate", {"action": "remove", "referent": {
        "phrase": "cup", "relation": "below", "anchor": {"phrase": "plate"}}})
    assert out["reply"]["version"] is None
    assert "I found 3 cups and the plate, but no cup below the plate" in out["reply"]["text"]


def test_a_colour_attribute_picks_the_candidate_whose_pixels_agree(three):
    out = three.send("make the blue cup yellow", {"action": "recolor", "referent": {
        "phrase": "cup", "attributes": ["blue"]}, "content": "yellow"})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [B]
    assert three.tools.count("detect") == 1                                  # colours need no detection


def test_an_attribute_no_candidate_has_asks_and_says_why(three):
    out = three.send("remove the green cup", {"action": "remove", "referent": {
        "phrase": "cup", "attributes": ["green"]}})
    q = out["__interrupt__"][0].value
    assert "could not tell which one is green" in q["text"] and len(q["candidates"]) == 3


def test_an_attribute_the_only_candidate_lacks_is_said_in_the_reply(three):
    three.tools.detections["cup"] = [det(B)]
    out = three.send("remove the green cup", {"action": "remove", "referent": {
        "phrase": "cup", "attributes": ["green"]}})
    text = out["reply"]["text"]
    assert out["reply"]["version"] == 1
    assert "could not confirm that the cup is green" in text and text.index("confirm") < text.index("Removed")


def test_add_next_to_paints_beside_and_never_over_the_referent(tmp_path, tiny_profile, rocket):
    image = rocket.resize((160, 120))
    rocket_box = (60, 10, 100, 110)
    t = Turns(tmp_path / "s", image, tiny_profile, {"rocket": [det(rocket_box)]})
    out = t.send("add a small bird next to the rocket", {"action": "add", "referent": {"phrase": "rocket"},
                                                         "content": "a small bird", "place": "next_to"})
    assert out["reply"]["version"] == 1 and "Added a small bird next to the rocket" in out["reply"]["text"]
    record = t.record()
    x0, y0, x1, y1 = record.box
    assert x1 <= rocket_box[0] or x0 >= rocket_box[2]                         # beside it
    before, after = t.image(0), t.image(1)
    assert not np.array_equal(before, after)                                  # something was painted
    rx0, ry0, rx1, ry1 = rocket_box
    assert np.array_equal(before[ry0:ry1, rx0:rx1], after[ry0:ry1, rx0:rx1])  # the rocket is untouched
    assert _unchanged_outside(before, after, t.store.load_mask(record.region))


def test_add_on_paints_inside_the_referent_box(tmp_path, tiny_profile, rocket):
    t = Turns(tmp_path / "s", rocket.resize((160, 120)), tiny_profile, {"rocket": [det((60, 10, 100, 110))]})
    out = t.send("add a flag on the rocket", {"action": "add", "referent": {"phrase": "rocket"},
                                              "content": "a flag", "place": "on"})
    assert out["reply"]["version"] == 1 and t.record().box == [60.0, 10.0, 100.0, 110.0]
    assert "Added a flag on the rocket" in out["reply"]["text"]


def test_add_where_there_is_no_room_says_so(tmp_path, tiny_profile, rocket):
    t = Turns(tmp_path / "s", rocket.resize((160, 120)), tiny_profile, {"rocket": [det((0, 10, 100, 110))]})
    out = t.send("add a bird left of the rocket", {"action": "add", "referent": {"phrase": "rocket"},
                                                   "content": "a bird", "place": "left_of"})
    assert out["reply"]["version"] is None and "no room left of the rocket" in out["reply"]["text"]


def _spy_replace(t: Turns) -> list[dict]:
    calls, real = [], t.tools.replace

    def replace(image, mask, new, **kwargs):
        calls.append(kwargs)
        return real(image, mask, new, **kwargs)

    t.tools.replace = replace
    return calls


def test_replace_with_a_tall_vase_goes_two_stage_and_grows_upwards(three):
    three.tools.detections["cup"] = [det(B)]
    calls = _spy_replace(three)
    out = three.send("replace the cup with a tall vase", {"action": "replace", "referent": {"phrase": "cup"},
                                                          "content": "a tall vase"})
    assert out["reply"]["version"] == 1
    assert calls[0]["two_stage"] is True
    x0, y0, x1, y1 = three.record().new_box
    assert (x0, x1, y1) == (B[0], B[2], B[3])                                   # same base, same width
    assert y1 - y0 == pytest.approx((B[3] - B[1]) * 1.3)                       # taller
    assert three.record().box == three.record().new_box
    before, after = three.image(0), three.image(1)
    assert _unchanged_outside(before, after, three.store.load_mask(three.record().region))


@pytest.mark.parametrize(("step", "two"), [({}, False), ({"two_stage": True}, True),
                                           ({"two_stage": False, "content": "a huge vase"}, False)])
def test_two_stage_only_when_the_shape_changes_or_the_step_asks(three, step, two):
    three.tools.detections["cup"] = [det(B)]
    calls = _spy_replace(three)
    out = three.send("replace the cup", {"action": "replace", "referent": {"phrase": "cup"},
                                         "content": "a mug", **step})
    assert out["reply"]["version"] == 1
    assert calls[0].get("two_stage", False) is two and three.record().new_box is None


def test_a_place_with_an_exclusion_picks_among_the_rest(three):
    out = three.send("remove the leftmost cup that is not red",
                     {"action": "remove", "referent": {"phrase": "cup", "selector": "leftmost",
                                                       "exclude": [{"attributes": ["red"]}]}})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [B]


def test_the_cups_except_one_means_all_the_others(three):
    out = three.send("remove the cups except the blue one",
                     {"action": "remove", "referent": {"phrase": "cup", "exclude": [{"attributes": ["blue"]}]}})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [A, C]


def test_an_exclusion_by_a_colour_nobody_has_stops_rather_than_guess(three):
    out = three.send("remove all cups except the green one",
                     {"action": "remove", "referent": {"phrase": "cup", "selector": "all",
                                                       "exclude": [{"attributes": ["green"]}]}})
    text = out["reply"]["text"]
    assert out["reply"]["version"] is None
    assert "could not tell which is green" in text and "don't know which to leave out" in text


def test_the_anchor_is_narrowed_by_its_own_selector(three):
    three.tools.detections["mug"] = [det(A), det(C)]
    out = three.send("remove the cup left of the right mug", {"action": "remove", "referent": {
        "phrase": "cup", "relation": "left_of", "anchor": {"phrase": "mug", "selector": "rightmost"}}})
    q = out["__interrupt__"][0].value                                        # A and B stand left of C
    assert [tuple(c["box"]) for c in q["candidates"]] == [A, B] and "left of the mug" in q["text"]



def test_the_anchor_chosen_by_its_selector_decides(three):
    three.tools.detections["mug"] = [det(A), det(B)]
    out = three.send("remove the cup left of the right mug", {"action": "remove", "referent": {
        "phrase": "cup", "relation": "left_of", "anchor": {"phrase": "mug", "selector": "rightmost"}}})
    assert out["reply"]["version"] == 1 and _boxes(three.record()) == [A]     # left of B, not of A


def test_add_beside_one_of_several_asks_first_then_paints_beside_the_answer(tmp_path, tiny_profile, rocket):
    from langgraph.types import Command

    left, right = (30, 40, 50, 110), (110, 40, 130, 110)
    t = Turns(tmp_path / "s", rocket.resize((160, 120)), tiny_profile, {"rocket": [det(left), det(right)]})
    out = t.send("add a bird next to the rocket", {"action": "add", "referent": {"phrase": "rocket"},
                                                   "content": "a bird", "place": "next_to"})
    assert out["__interrupt__"]
    ctx = Context(store=t.store, tools=t.tools, planner=t.planner)
    out = t.graph.invoke(Command(resume="2"), t.config, context=ctx)
    assert out["reply"]["version"] == 1
    x0, y0, x1, y1 = t.record().box
    assert x1 <= right[0] or x0 >= right[2]                                    # beside the right rocket
    before, after = t.image(0), t.image(1)
    assert np.array_equal(before[40:110, 110:130], after[40:110, 110:130])
