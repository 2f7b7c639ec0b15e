"""The agent graph on real tiny tools: compound turns, clarification by interrupt, selectors, coreference,
history moves, malformed plans, and the diagram."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent.graph.context import Context
from agent.graph import compile_graph
from agent.session.store import SessionStore
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (150, 100)
LEFT_CUP, RIGHT_CUP = (10, 20, 50, 60), (95, 15, 140, 65)
TABLE = (0, 70, 150, 100)


class Harness:
    """One session's graph, store, tools and planner, driven like the Editor drives them."""

    def __init__(self, root: Path, image, profile, detections, *, checkpointer=None, verify=False):
        self.store = SessionStore.create(root, image) if not (root / "history.json").exists() \
            else SessionStore.open(root)
        self.tools = FixedDetections(profile, detections)
        self.planner = QueuePlanner()
        self.verify = verify
        self.graph = compile_graph(checkpointer or InMemorySaver())
        self.config = {"configurable": {"thread_id": "t"}}

    def context(self) -> Context:
        return Context(store=self.store, tools=self.tools, planner=self.planner, verify=self.verify)

    def send(self, text: str, *replies) -> dict:
        self.planner.push(*replies)
        return self.graph.invoke({"text": text}, self.config, context=self.context())

    def resume(self, value) -> dict:
        return self.graph.invoke(Command(resume=value), self.config, context=self.context())

    def image(self, number: int | None = None) -> np.ndarray:
        return np.asarray(self.store.version_image(number))


@pytest.fixture
def small(coffee):
    return coffee.resize(SIZE)


@pytest.fixture
def cups(tmp_path, small, tiny_profile):
    return Harness(tmp_path / "s", small, tiny_profile,
                   {"cup": [det(LEFT_CUP, 0.8), det(RIGHT_CUP, 0.75)], "table": [det(TABLE, 0.9)]})


def _inside(a: np.ndarray, b: np.ndarray, box) -> bool:
    """Whether the images differ only inside ``box`` (XYXY), padded for the inpainting dilation."""
    x0, y0, x1, y1 = (int(v) for v in box)
    diff = np.any(a != b, axis=-1)
    pad = 20
    diff[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad] = False
    return not diff.any()


REMOVE_CUP = plan({"action": "remove", "referent": {"phrase": "cup"}})


def test_compound_instruction_makes_one_version_recording_both_steps(cups):
    cups.tools.detections["cup"] = [det(LEFT_CUP)]
    out = cups.send("remove the cup and make the table white",
                    plan({"action": "remove", "referent": {"phrase": "cup"}},
                         {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"}))
    assert out["reply"]["version"] == 1 and out["reply"]["error"] is None
    assert "Removed the cup" in out["reply"]["text"] and "white" in out["reply"]["text"]
    hist = cups.store.history
    assert hist.latest == 1 and hist.head == 1                                # one version for both steps
    steps = hist.current.steps
    assert [s.action for s in steps] == ["remove", "recolor"]
    assert steps[0].box == list(map(float, LEFT_CUP)) and steps[1].box == list(map(float, TABLE))
    for s in steps:
        assert s.instruction == "remove the cup and make the table white"
        assert s.step["action"] == s.action and isinstance(s.seed, int)
        assert s.models["inpainting"] == "tiny/sd-inpaint"
        assert cups.store.mask_path(s.mask).is_file()
    assert cups.store.history.current.mask is not None
    before, after = cups.image(0), cups.image(1)
    assert not np.array_equal(before, after)
    outside = ~cups.store.load_mask(cups.store.history.current.mask)
    assert outside.any() and np.array_equal(before[outside], after[outside])  # untouched pixels stay put
    assert list((cups.store.root / "drafts").iterdir()) == []                 # drafts are gone after the turn


def test_two_candidates_and_no_selector_ask_with_numbered_candidates(cups):
    out = cups.send("remove the cup", REMOVE_CUP)
    payload = out["__interrupt__"][0].value
    assert [c["number"] for c in payload["candidates"]] == [1, 2]
    assert [tuple(c["box"]) for c in payload["candidates"]] == [LEFT_CUP, RIGHT_CUP]   # numbered left to right
    assert "Which one" in payload["text"]
    image = cups.store.question_path(payload["image"])
    assert image.is_file()
    annotated = np.asarray(__import__("PIL.Image").Image.open(image).convert("RGB"))
    assert not np.array_equal(annotated, cups.image(0))                       # boxes are drawn on it
    assert cups.store.history.latest == 0                                     # nothing committed while asking


@pytest.mark.parametrize(("answer", "box", "other"), [("2", RIGHT_CUP, LEFT_CUP), (1, LEFT_CUP, RIGHT_CUP),
                                                     ("the right one", RIGHT_CUP, LEFT_CUP),
                                                     ("the second", RIGHT_CUP, LEFT_CUP)])
def test_an_answer_picks_that_candidate_and_nothing_before_the_interrupt_runs_twice(cups, answer, box, other):
    cups.send("remove the cup", REMOVE_CUP)
    out = cups.resume(answer)
    assert out["reply"]["version"] == 1
    record = cups.store.history.current.steps[0]
    assert record.box == list(map(float, box))
    assert cups.planner.calls == 1 and cups.tools.count("detect") == 1       # plan and locate ran once
    assert cups.tools.calls[-1] == ("segment", [box])
    assert _inside(cups.image(0), cups.image(1), box)


def test_all_as_an_answer_acts_on_every_candidate(cups):
    cups.send("make the cup green", plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "green"}))
    out = cups.resume("both of them")
    assert out["reply"]["version"] == 1
    assert cups.store.history.current.steps[0].boxes == [list(map(float, LEFT_CUP)), list(map(float, RIGHT_CUP))]


def test_cancel_ends_the_turn_with_nothing_changed(cups):
    cups.send("remove the cup", REMOVE_CUP)
    out = cups.resume("cancel")
    assert "cancelled" in out["reply"]["text"].lower() and out["reply"]["version"] is None
    assert cups.store.history.latest == 0 and cups.tools.count("segment") == 0


def test_an_unclear_answer_gets_a_specific_follow_up_and_the_question_stays_open(cups):
    cups.send("remove the cup", REMOVE_CUP)
    again = cups.resume("the banana one")
    payload = again["__interrupt__"][0].value
    assert payload["retry"] and len(payload["candidates"]) == 2
    assert "\"banana\"" in payload["text"] and "all except 2" in payload["text"]      # what and how
    for unclear in ("banana", 7, "1 or 2", "purple"):                        # never a cancel
        out = cups.resume(unclear)
        assert out["__interrupt__"] and "reply" not in out or out.get("reply") is None
    assert "no number 7" in cups.resume(7)["__interrupt__"][0].value["text"]
    assert cups.store.history.latest == 0 and cups.tools.count("segment") == 0
    out = cups.resume("left")
    assert out["reply"]["version"] == 1 and cups.store.history.current.steps[0].box == list(map(float, LEFT_CUP))
    assert cups.planner.calls == 1 and cups.tools.count("detect") == 1                # nothing re-ran


def test_resume_after_restart_with_a_new_graph_on_the_same_sqlite_file(tmp_path, small, tiny_profile):
    dets = {"cup": [det(LEFT_CUP), det(RIGHT_CUP)]}
    root = tmp_path / "s"
    conn = sqlite3.connect(root.parent / "c.sqlite", check_same_thread=False)
    from langgraph.checkpoint.sqlite import SqliteSaver

    first = Harness(root, small, tiny_profile, dets, checkpointer=SqliteSaver(conn))
    first.send("remove the cup", REMOVE_CUP)
    conn.close()                                                              # the process goes away
    first.store.close()

    conn = sqlite3.connect(root.parent / "c.sqlite", check_same_thread=False)
    second = Harness(root, small, tiny_profile, dets, checkpointer=SqliteSaver(conn))
    assert second.graph.get_state(second.config).interrupts                  # the question is still open
    out = second.resume("the left one")
    assert out["reply"]["version"] == 1
    assert second.store.history.current.steps[0].box == list(map(float, LEFT_CUP))
    assert second.planner.calls == 0 and second.tools.count("detect") == 0   # nothing re-ran after the restart
    conn.close()


WIDE = {"cup": [det((10, 10, 30, 30), 0.9), det((35, 50, 95, 95), 0.85), det((60, 30, 80, 50), 0.8),
                det((120, 5, 145, 25), 0.7)]}


@pytest.mark.parametrize(("selector", "n", "expected"), [
    ("leftmost", None, (10, 10, 30, 30)), ("rightmost", None, (120, 5, 145, 25)),
    ("topmost", None, (120, 5, 145, 25)), ("bottommost", None, (35, 50, 95, 95)),
    ("largest", None, (35, 50, 95, 95)), ("smallest", None, (10, 10, 30, 30)),
    ("center", None, (60, 30, 80, 50)), ("nth_from_left", 3, (60, 30, 80, 50)),
    ("nth_from_right", 2, (60, 30, 80, 50)),
])
def test_spatial_selectors_pick_the_right_box(tmp_path, small, tiny_profile, selector, n, expected):
    h = Harness(tmp_path / "s", small, tiny_profile, WIDE)
    ref = {"phrase": "cup", "selector": selector, **({"n": n} if n else {})}
    out = h.send("recolor it", plan({"action": "recolor", "referent": ref, "content": "red"}))
    assert out["reply"]["version"] == 1
    assert h.store.history.current.steps[0].box == list(map(float, expected))


def test_all_acts_on_every_match(tmp_path, small, tiny_profile):
    h = Harness(tmp_path / "s", small, tiny_profile, WIDE)
    out = h.send("make all cups red", plan({"action": "recolor", "referent": {"phrase": "cup", "selector": "all"},
                                            "content": "red"}))
    record = h.store.history.current.steps[0]
    assert len(record.boxes) == 4 and record.box == [10.0, 5.0, 145.0, 95.0]
    assert "Made all 4 cups red." in out["reply"]["text"]


def test_attributes_narrow_the_candidates_by_grounding_the_full_phrase(cups):
    cups.tools.detections["cup black handle"] = [det((93, 14, 141, 66), 0.7)]
    out = cups.send("remove the cup with the black handle",
                    plan({"action": "remove", "referent": {"phrase": "cup", "attributes": ["black handle"]}}))
    assert out["reply"]["version"] == 1
    assert cups.store.history.current.steps[0].box == list(map(float, RIGHT_CUP))


def test_make_it_bigger_targets_the_last_edited_region(cups):
    cups.tools.detections["cup"] = [det(RIGHT_CUP)]
    cups.send("make the cup red", plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "red"}))
    out = cups.send("make it bigger", plan({"action": "replace", "referent": {"last_edited": True},
                                            "content": "a bigger red cup"}))
    assert out["reply"]["version"] == 2
    record = cups.store.history.current.steps[0]
    assert cups.tools.count("detect") == 1                                    # "it" needed no new detection
    assert record.boxes == [list(map(float, RIGHT_CUP))]                  # the red cup, from the history
    x0, y0, x1, y1 = RIGHT_CUP
    cx, cy, w, hgt = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 1.3, (y1 - y0) * 1.3
    assert record.new_box == pytest.approx([cx - w / 2, max(0, cy - hgt / 2), min(150, cx + w / 2),
                                               cy + hgt / 2])
    assert record.box == record.new_box                                # where "it" is from now on
    assert _inside(cups.image(1), cups.image(2), record.new_box)


@pytest.mark.parametrize(("verdicts", "attempt", "verified"), [(["yes"], 0, True), (["no", "yes"], 1, True),
                                                             (["no", "no"], 1, False)])
def test_verify_retries_once_with_another_seed_and_a_larger_mask(tmp_path, small, tiny_profile, verdicts,
                                                                 attempt, verified):
    h = Harness(tmp_path / "s", small, tiny_profile, {"cup": [det(LEFT_CUP)]}, verify=True)
    areas, real_remove = [], h.tools.remove

    def remove(image, mask, **kwargs):
        areas.append(int(mask.sum()))
        return real_remove(image, mask, **kwargs)

    h.tools.remove = remove
    out = h.send("remove the cup", REMOVE_CUP, *verdicts)
    assert out["reply"]["version"] == 1 and h.planner.left == 0 and h.planner.calls == 1 + len(verdicts)
    record = h.store.history.current.steps[0]
    assert (record.attempt, record.verified) == (attempt, verified)
    assert record.seed == 1000 * attempt
    assert h.tools.count("segment") == 1 and h.tools.count("detect") == 1   # a retry re-edits, no re-locating
    assert len(areas) == 1 + attempt and areas == sorted(set(areas))         # the retry's mask is larger


def test_it_without_an_earlier_edit_says_so(cups):
    out = cups.send("make it blue", plan({"action": "recolor", "referent": {"last_edited": True}, "content": "blue"}))
    assert out["reply"]["version"] is None and "no earlier edit" in out["reply"]["text"]


def test_not_found_says_what_and_suggests_a_rephrase(cups):
    out = cups.send("remove the giraffe", plan({"action": "remove", "referent": {"phrase": "giraffe"}}))
    text = out["reply"]["text"]
    assert "couldn't find the giraffe" in text and "try" in text and out["reply"]["version"] is None
    assert cups.store.history.latest == 0


def test_undo_redo_revert_by_words_move_the_head_without_new_pixels(cups):
    cups.tools.detections["cup"] = [det(LEFT_CUP)]
    recolor = plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "blue"})
    cups.send("blue cup", recolor)
    cups.send("blue table", plan({"action": "recolor", "referent": {"phrase": "table"}, "content": "blue"}))
    cups.store.flush()                                                       # the PNGs are made
    files = set((cups.store.root / "versions").iterdir())
    out = cups.send("undo the last two edits", plan({"action": "undo", "count": 2}))
    assert cups.store.history.head == 0 and "Undid 2 edits" in out["reply"]["text"]
    assert out["reply"]["version"] is None
    cups.send("redo", plan({"action": "redo"}))
    assert cups.store.history.head == 1
    cups.send("go back to the original", plan({"action": "revert", "version": 0}))
    assert cups.store.history.head == 0 and cups.store.history.latest == 2
    out = cups.send("go to version 9", plan({"action": "revert", "version": 9}))
    assert "no version 9" in out["reply"]["text"] and cups.store.history.head == 0
    cups.store.flush()
    assert set((cups.store.root / "versions").iterdir()) == files              # no pixels were generated


def test_answer_steps_reply_without_editing(cups):
    out = cups.send("what is this?", plan({"action": "answer", "content": "A cup of coffee on a saucer."}))
    assert out["reply"]["text"] == "A cup of coffee on a saucer." and cups.store.history.latest == 0


def test_an_ask_step_ends_the_turn_and_later_steps_do_not_run(cups):
    out = cups.send("make it nicer", plan({"action": "ask", "content": "Which colour do you want?"},
                                          {"action": "remove", "referent": {"phrase": "table"}}))
    assert out["reply"]["text"] == "Which colour do you want?" and out["reply"]["version"] is None
    assert cups.store.history.latest == 0 and cups.tools.calls == []          # the remove never ran


def test_edits_before_an_ask_step_are_committed_and_the_steps_after_it_are_not(cups):
    out = cups.send("white table, then ask", plan(
        {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"},
        {"action": "ask", "content": "Should the cup go too?"},
        {"action": "remove", "referent": {"phrase": "cup"}}))
    assert out["reply"]["version"] == 1
    assert out["reply"]["text"] == "Made the table white. Should the cup go too? (version 1)"
    assert [s.action for s in cups.store.history.current.steps] == ["recolor"]
    assert cups.tools.count("detect") == 1                                   # "cup" was never looked for


def test_a_stop_after_an_undo_in_the_same_turn_does_not_claim_nothing_changed(cups):
    cups.send("white table", plan({"action": "recolor", "referent": {"phrase": "table"}, "content": "white"}))
    out = cups.send("undo and remove the giraffe", plan({"action": "undo"},
                                                        {"action": "remove", "referent": {"phrase": "giraffe"}}))
    text = out["reply"]["text"]
    assert cups.store.history.head == 0 and text.startswith("Undid 1 edit; now at the original.")
    assert "couldn't find the giraffe" in text and "Nothing changed" not in text and "Nothing else changed" in text
    out = cups.send("remove the giraffe", plan({"action": "remove", "referent": {"phrase": "giraffe"}}))
    assert "Nothing changed" in out["reply"]["text"]                          # true again: no move this turn


@pytest.mark.parametrize("box", [[10, 10, 10.5, 10.5], [10, 10, 60, 10.2]])
def test_a_box_under_a_pixel_says_it_is_empty_not_outside(cups, box):
    out = cups.send("remove that", plan({"action": "remove", "referent": {"box": box}}))
    text = out["reply"]["text"]
    assert "less than a pixel" in text and "outside" not in text and out["reply"]["error"] == "empty box"
    assert cups.store.history.latest == 0 and "\n" not in text


@pytest.mark.parametrize("replies", [
    ["this is not JSON", "still not JSON"],
    ['{"reasoning": 3, "steps": "remove"}'] * 2,
    [plan({"action": "explode", "referent": {"phrase": "cup"}})] * 2,
    [plan()] * 2,
    [plan(*[{"action": "remove", "referent": {"phrase": "cup"}}] * 100)] * 2,
])
def test_malformed_planner_replies_give_a_clear_reply_and_no_version(cups, replies):
    out = cups.send("do something", *replies)
    assert out["reply"]["version"] is None and out["reply"]["error"]
    assert "Nothing changed" in out["reply"]["text"]
    assert cups.store.history.latest == 0 and cups.tools.calls == []


def test_a_box_outside_the_image_is_a_clear_reply(cups):
    out = cups.send("remove that", plan({"action": "remove", "referent": {"box": [400, 300, 500, 380]}}))
    assert "outside the 150x100 image" in out["reply"]["text"] and out["reply"]["version"] is None


def test_a_box_partly_outside_is_clipped(cups):
    out = cups.send("recolor that", plan({"action": "recolor", "referent": {"box": [100, 50, 500, 380]},
                                          "content": "green"}))
    assert out["reply"]["version"] == 1
    assert cups.store.history.current.steps[0].box == [100.0, 50.0, 150.0, 100.0]


def test_planner_words_never_become_paths(tmp_path, small, tiny_profile):
    evil = "../../../../tmp/chatedit-evil.png"
    h = Harness(tmp_path / "inner" / "s", small, tiny_profile, {evil: [det(LEFT_CUP)]})
    before = {p for p in tmp_path.rglob("*")}
    out = h.send(f"save it as {evil}",
                 plan({"action": "replace", "referent": {"phrase": evil}, "content": evil},
                      {"action": "add", "referent": {"box": [5, 5, 40, 40]}, "content": "/etc/passwd"},
                      {"action": "answer", "content": f"Saved to {evil}"}))
    assert out["reply"]["version"] == 1
    after = {p for p in tmp_path.rglob("*")} - before
    root = h.store.root
    assert after and all(root in p.parents for p in after)                    # every new file is in the session
    assert not Path("/tmp/chatedit-evil.png").exists()
    assert not (root / evil).resolve().exists()


def test_a_tool_error_mid_turn_commits_nothing(cups, monkeypatch):
    from tools.errors import InvalidInputError

    def broken(*args, **kwargs):
        raise InvalidInputError("color 'sparkly' is not a colour I know; use a name like red or #ff0000")

    monkeypatch.setattr(cups.tools, "recolor", broken)
    cups.tools.detections["cup"] = [det(LEFT_CUP)]
    out = cups.send("remove the cup and make the table sparkly",
                    plan({"action": "remove", "referent": {"phrase": "cup"}},
                         {"action": "recolor", "referent": {"phrase": "table"}, "content": "sparkly"}))
    assert out["reply"]["version"] is None and "sparkly" in out["reply"]["error"]
    assert "Nothing changed" in out["reply"]["text"]
    assert cups.store.history.latest == 0 and list((cups.store.root / "drafts").iterdir()) == []


def test_a_planner_that_raises_is_a_clear_reply(cups):
    out = cups.send("remove the cup")                                        # the queue is empty: it raises
    assert out["reply"]["version"] is None and "planner" in out["reply"]["text"].lower()


def test_cancelling_while_planning_changes_nothing(cups):
    from tools.errors import Cancelled

    out = cups.send("remove the cup", Cancelled("planning was cancelled"))
    assert out["reply"]["text"] == "Cancelled. Nothing changed." and out["reply"]["error"] is None
    assert cups.store.history.latest == 0


def test_the_graph_diagram_matches_its_snapshot():
    text = compile_graph().get_graph().draw_mermaid()
    path = SNAPSHOTS / "graph.mmd"
    if os.environ.get("CHATEDIT_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), "the graph changed: look at the diff, then CHATEDIT_UPDATE_SNAPSHOTS=1"


def test_all_means_every_match_even_those_not_shown_and_except_leaves_one_out(tmp_path, small, tiny_profile):
    third = (60, 5, 90, 30)
    h = Harness(tmp_path / "s", small, tiny_profile,
                {"cup": [det(LEFT_CUP, 0.8), det(RIGHT_CUP, 0.75), det(third, 0.7)]})
    base = h.context

    def context():
        ctx = base()
        ctx.max_candidates = 2                                   # show 2 of the 3 matches
        return ctx

    h.context = context
    out = h.send("make the cups green", plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "green"}))
    payload = out["__interrupt__"][0].value
    assert len(payload["candidates"]) == 2 and len(payload["matches"]) == 3
    assert h.resume("all")["reply"]["version"] == 1
    assert sorted(map(tuple, h.store.history.current.steps[0].boxes)) == sorted([LEFT_CUP, RIGHT_CUP, third])

    h.send("remove the cups", plan({"action": "remove", "referent": {"phrase": "cup"}}))
    shown = [tuple(c["box"]) for c in h.graph.get_state(h.config).interrupts[-1].value["candidates"]]
    assert h.resume("all except 2")["reply"]["version"] == 2
    kept = {tuple(b) for b in h.store.history.current.steps[0].boxes}
    assert kept == {LEFT_CUP, RIGHT_CUP, third} - {shown[1]}


def test_a_colour_answer_is_read_from_the_boxes_pixels(tmp_path, tiny_profile):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", SIZE, (235, 235, 225))
    draw = ImageDraw.Draw(image)
    draw.rectangle(LEFT_CUP, fill=(200, 30, 30))
    draw.rectangle(RIGHT_CUP, fill=(30, 60, 200))
    h = Harness(tmp_path / "s", image, tiny_profile, {"cup": [det(LEFT_CUP, 0.8), det(RIGHT_CUP, 0.75)]})
    h.send("remove the cup", REMOVE_CUP)
    assert "green" in h.resume("the green one")["__interrupt__"][0].value["text"]       # none is green
    assert h.resume("the blue one")["reply"]["version"] == 1
    assert h.store.history.current.steps[0].box == list(map(float, RIGHT_CUP))


@pytest.mark.parametrize(("answer", "box"), [("the left cup", LEFT_CUP), ("no, the right one", RIGHT_CUP),
                                             ("not that one, the left one", LEFT_CUP), ("the 2nd cup", RIGHT_CUP),
                                             ("remove the one on the right", RIGHT_CUP), ("#1", LEFT_CUP)])
def test_answers_in_ordinary_words(cups, answer, box):
    cups.send("remove the cup", REMOVE_CUP)
    assert cups.resume(answer)["reply"]["version"] == 1
    assert cups.store.history.current.steps[0].box == list(map(float, box))


def test_a_new_instruction_resumed_into_the_graph_is_not_taken_as_an_answer(cups):
    cups.send("remove the cup", REMOVE_CUP)
    out = cups.resume("actually, make the table white")            # the Editor runs it; the graph only asks
    assert "new instruction" in out["__interrupt__"][0].value["text"] and cups.store.history.latest == 0


def test_an_answer_must_pick_as_many_as_the_instruction_means(tmp_path, small, tiny_profile):
    third = (60, 5, 90, 30)
    h = Harness(tmp_path / "s", small, tiny_profile,
                {"cup": [det(LEFT_CUP, 0.8), det(RIGHT_CUP, 0.75), det(third, 0.7)]})
    out = h.send("remove both cups", plan({"action": "remove", "referent": {"phrase": "cup", "count": 2}}))
    assert out["__interrupt__"][0].value.get("want") == 2
    again = h.resume("the left one")["__interrupt__"][0].value                # one is not both
    assert "names 1, but the instruction is about 2" in again["text"] and "2 numbers" in again["text"]
    assert h.resume("the two on the left")["reply"]["version"] == 1
    assert sorted(map(tuple, h.store.history.current.steps[0].boxes)) == sorted([LEFT_CUP, third])
