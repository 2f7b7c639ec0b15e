"""Pointing: clicks, boxes and "not this" clicks with the words; what "this" and "here" mean; answering by
pointing; the preview mask; scripted session keys and transcripts; bad pointing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from agent.editor import Editor
from agent.graph.grammar import read_plan
from agent.graph.plan import Plan, Referent
from agent.graph.pointing import Pointing, aim, connected, pick, read_pointing, region_box
from agent.scripted.session_file import SessionFileError, parse_text
from agent.scripted.transcript import SessionRecord, TurnRecord
from agent.session.conversation import _parse
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.errors import InvalidInputError

SIZE = (150, 100)
LEFT, RIGHT = (10, 20, 50, 60), (95, 15, 140, 65)
DETS = {"cup": [det(LEFT, 0.8), det(RIGHT, 0.78)], "saucer": [det((20, 30, 120, 80), 0.9)]}


class RandomPlanner(QueuePlanner):
    """Says it has random weights (as the tiny profile's LLaVA does): the offline grammar plans."""

    random_weights: bool = True


class Spy(FixedDetections):
    """Records every pointed SAM 2 prompt."""

    def segment_pointed(self, image, **prompt):  # noqa: ANN001, ANN003, ANN201 - the toolkit's own signature
        self.calls.append(("pointed", prompt))
        return super().segment_pointed(image, **prompt)


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    opened = []

    def _make(*replies, random: bool = True, read_only: bool = False, session: Path | None = None) -> Editor:
        planner = (RandomPlanner() if random else QueuePlanner()).push(*replies)
        toolkit = Spy(tiny_profile, DETS)
        if session is not None:
            editor = Editor.open(session, profile=tiny_profile, planner=planner, toolkit=toolkit, read_only=read_only)
        else:
            editor = Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s",
                                 planner=planner, toolkit=toolkit)
        opened.append(editor)
        return editor

    yield _make
    for editor in opened:
        editor.close()


def log(editor: Editor) -> list[dict]:
    path = editor.session_dir / "conversation.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- reading a pointing ---------------------------------------------------------------------------------

def test_read_pointing_takes_a_click_a_box_and_clicks_with_negatives():
    p = read_pointing(point=(30, 40), size=SIZE)
    assert p.points == [[30.0, 40.0]] and p.labels == [True] and p.box is None
    p = read_pointing(box=(-20, 10, 60, 500), points=[(30, 40, True), (55, 40, False), [20, 30]], size=SIZE)
    assert p.box == [0.0, 10.0, 60.0, 100.0]                           # clipped to the image
    assert p.labels == [True, False, True] and p.positives == [[30.0, 40.0], [20.0, 30.0]]
    assert p.to_json() == {"box": [0.0, 10.0, 60.0, 100.0],
                           "points": [[30.0, 40.0, True], [55.0, 40.0, False], [20.0, 30.0, True]]}
    assert read_pointing(size=SIZE) is None
    assert "not (55, 40)" in read_pointing(points=[(30, 40), (55, 40, False)], size=SIZE).describe()


@pytest.mark.parametrize("given, said", [
    ({"point": (150, 10)}, "outside the 150x100 image"),
    ({"point": (-1, 10)}, "outside"),
    ({"point": (math.nan, 10)}, "finite"),
    ({"point": (10, math.inf)}, "finite"),
    ({"point": (True, 10)}, "must be a number"),
    ({"point": "10,20"}, "must be (x, y)"),
    ({"point": (1, 2, 3)}, "must be (x, y)"),
    ({"box": (50, 50, 10, 10)}, "empty or inverted"),
    ({"box": (1, 2, 3)}, "must be (x0, y0, x1, y1)"),
    ({"box": (200, 200, 300, 300)}, "outside"),
    ({"points": []}, "list of (x, y, positive)"),
    ({"points": [(10, 10, 1)]}, "positive (true) or negative (false)"),
    ({"points": [(10, 10, False)]}, "only \"not this\" clicks"),
    ({"points": [(10, 10)] * 40}, "at most 32"),
    ({"points": [("a", 10)]}, "must be a number"),
])
def test_bad_pointing_is_one_line_naming_the_problem(given, said):
    with pytest.raises(InvalidInputError) as info:
        read_pointing(size=SIZE, **given)
    assert said in str(info.value) and "\n" not in str(info.value)


def test_pick_finds_the_candidate_a_click_or_a_box_lands_on():
    boxes = [list(LEFT), list(RIGHT), [0, 0, 150, 100]]
    assert pick(boxes, read_pointing(point=(120, 40), size=SIZE)) == 1          # the smallest holding it
    assert pick(boxes, read_pointing(point=(70, 90), size=SIZE)) == 2
    assert pick(boxes[:2], read_pointing(point=(70, 90), size=SIZE)) is None
    assert pick(boxes[:2], read_pointing(box=(5, 15, 60, 70), size=SIZE)) == 0   # overlaps the left one most
    # a "not this" click inside the smaller box rules it out
    overlapping = [list(LEFT), [25, 30, 90, 90]]
    assert pick(overlapping, read_pointing(points=[(30, 40, True)], size=SIZE)) == 0
    assert pick(overlapping, read_pointing(points=[(30, 40, True), (15, 25, False)], size=SIZE)) == 1
    square = region_box(read_pointing(point=(75, 50), size=SIZE), SIZE)
    assert square[0] < 75 < square[2] and square[1] < 50 < square[3] and square[2] - square[0] <= 0.3 * 100 + 2


def test_a_mask_from_clicks_keeps_only_the_clicked_object():
    mask = np.zeros((100, 150), dtype=bool)
    mask[10:40, 10:40] = True                       # the clicked object
    mask[60:90, 100:140] = True                     # a stray blob elsewhere
    kept = connected(mask, [(20, 20)])
    assert kept[10:40, 10:40].all() and not kept[60:90, 100:140].any()
    assert connected(mask, [(20, 20), (120, 70)]).sum() == mask.sum()
    assert connected(mask, [(70, 5)]) is None        # a click beside the mask
    big = np.zeros((1000, 1400), dtype=bool)
    big[100:900, 100:200] = True
    big[850:900, 100:1300] = True                   # an L: connected the long way round
    assert connected(big, [(150, 150)]).sum() == big.sum()


# -- what the words mean --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, action, content", [
    ("make this red", "recolor", "red"),
    ("remove this", "remove", ""),
    ("replace this with a vase", "replace", "a vase"),
    ("add a bird here", "add", "a bird"),
    ("make it blue", "recolor", "blue"),
    ("please make red", "recolor", "red"),                   # no object: the pointed region
    ("remove", "remove", ""),
    ("delete the thing i pointed at", "remove", ""),
    ("paint this one green", "recolor", "green"),
])
def test_the_grammar_reads_pointing_words_as_the_pointed_region(text, action, content):
    pointing = read_pointing(point=(30, 40), size=SIZE)
    planned = aim(read_plan(text, pointed=True), pointing)
    assert planned is not None, text
    (step,) = planned.steps
    assert step.action == action and step.content == content
    assert step.referent.pointed and not step.referent.last_edited and step.referent.phrase == ""


def test_without_pointing_this_stays_the_last_edit_and_no_object_does_not_read():
    assert read_plan("make this red").steps[0].referent.last_edited
    assert read_plan("make red") is None and read_plan("remove") is None
    assert aim(read_plan("make this red"), None).steps[0].referent.last_edited
    # a named thing with a pointing stays a named thing
    named = aim(read_plan("make the cup red", pointed=True), read_pointing(point=(30, 40), size=SIZE))
    assert named.steps[0].referent.phrase == "cup" and not named.steps[0].referent.pointed


def test_the_planner_can_say_pointed():
    from agent.graph.planning import decoding_schema

    assert Referent(pointed=True).pointed
    schema = json.dumps(decoding_schema())
    assert '"pointed": {"type": "boolean"}' in schema
    Plan.model_validate(plan({"action": "recolor", "referent": {"phrase": "cup", "pointed": True}, "content": "red"}))


# -- the editor -------------------------------------------------------------------------------------------

def test_make_this_red_with_a_click_edits_only_the_pointed_region(make):
    editor = make()
    before = np.asarray(editor.current_image).copy()
    preview = editor.pointed_mask(point=(30, 40))
    assert preview.shape == (100, 150) and preview[40, 30] and editor.current_version == 0
    assert len(log(editor)) == 0                                         # a preview says nothing, makes nothing
    reply = editor.send("make this red", point=(30, 40))
    assert reply.version == 1 and "region you pointed at" in reply.text and reply.error is None
    after, mask = np.asarray(editor.current_image), editor.version_mask(1)
    assert np.array_equal(mask, preview)                                 # what was previewed is what was edited
    assert np.array_equal(after[~mask], before[~mask]) and (after[mask] != before[mask]).any()
    (step,) = editor.history[1].steps
    assert step["pointing"] == {"points": [[30.0, 40.0, True]]} and step["step"]["referent"]["pointed"]
    said = log(editor)[0]
    assert said["role"] == "user" and said["pointing"] == {"points": [[30.0, 40.0, True]]}
    assert editor.toolkit.count("detect") == 0                          # nothing was searched for by name


def test_remove_this_with_a_box_is_sam_from_the_box_kept_near_it(make):
    editor = make()
    before = np.asarray(editor.current_image).copy()
    reply = editor.send("remove this", box=(90, 10, 145, 70))
    assert reply.version == 1
    mask = editor.version_mask(1)
    ys, xs = np.nonzero(mask)
    assert xs.min() >= 90 - 20 and ys.max() < 70 + 20          # near the box (a removal's region is dilated)
    after = np.asarray(editor.current_image)
    assert np.array_equal(after[~mask], before[~mask])
    (call,) = [c for k, c in editor.toolkit.calls if k == "pointed"]
    assert call["box"] == [90.0, 10.0, 145.0, 70.0] and call["points"] is None


def test_clicks_with_a_negative_are_one_sam_prompt_and_add_here_paints_at_the_click(make):
    editor = make()
    editor.send("replace this with a vase", points=[(30, 40, True), (60, 40, False)])
    (call,) = [c for k, c in editor.toolkit.calls if k == "pointed"]
    assert call["points"] == [[30.0, 40.0], [60.0, 40.0]] and call["labels"] == [True, False]
    assert editor.current_version == 1
    before = np.asarray(editor.current_image).copy()
    reply = editor.send("add a bird here", point=(110, 50))
    assert reply.version == 2 and "Added a bird" in reply.text
    mask = editor.version_mask(2)
    assert mask[50, 110] and not mask[5, 5]
    assert np.array_equal(np.asarray(editor.current_image)[~mask], before[~mask])


def test_a_click_on_one_of_several_named_things_picks_it_without_a_question(make):
    editor = make(plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "red"}), random=False)
    reply = editor.send("make the cup red", point=(120, 40))
    assert reply.question is None and reply.version == 1
    assert editor.history[1].steps[0]["boxes"] == [list(map(float, RIGHT))]


def test_a_real_planner_is_told_where_the_user_pointed_and_its_flag_is_used(make):
    editor = make(plan({"action": "recolor", "referent": {"phrase": "cup", "pointed": True}, "content": "blue"}),
                  random=False)
    reply = editor.send("make that blue", box=(5, 15, 55, 65))
    asked = json.dumps([m.content for m in editor.planner._calls[0]], default=str)
    assert "The user pointed at: box [5, 15, 55, 65]" in asked
    assert reply.version == 1 and "cup" in reply.text and editor.toolkit.count("detect") == 0


def test_pointing_answers_an_open_question(make):
    editor = make()
    asked = editor.send("remove the cup")
    assert asked.question is not None and len(asked.question.candidates) == 2
    lines = len(log(editor))
    missed = editor.answer("this one", point=(70, 90))
    assert missed.question is not None and "none of the numbered boxes" in missed.text and missed.error
    assert len(log(editor)) == lines and editor.current_version == 0    # refused: not logged, nothing changed
    reply = editor.send("this one", point=(120, 40))                    # send while asked goes to answer
    assert reply.version == 1 and editor.pending_question is None
    assert editor.history[1].steps[0]["boxes"] == [list(map(float, RIGHT))]
    assert log(editor)[-2]["pointing"] == {"points": [[120.0, 40.0, True]]}
    editor.send("remove the cup")
    reply = editor.answer("this", box=(5, 15, 55, 65))
    assert reply.version == 2 and editor.history[2].steps[0]["boxes"] == [list(map(float, LEFT))]


def test_pointing_without_words_answers_an_open_question_through_send(make):
    editor = make()
    assert "Say what to change" in editor.send("", point=(120, 40)).text         # no question: words are needed
    assert editor.current_version == 0 and log(editor) == []
    assert editor.send("remove the cup").question is not None
    reply = editor.send("  ", point=(120, 40))                                   # the click lands on the right cup
    assert reply.version == 1 and editor.pending_question is None
    assert editor.history[1].steps[0]["boxes"] == [list(map(float, RIGHT))]
    assert log(editor)[-2]["kind"] == "answer" and log(editor)[-2]["pointing"] == {"points": [[120.0, 40.0, True]]}
    assert editor.send("remove the cup").question is not None
    missed = editor.send("", point=(75, 90))                                     # on no box: still asked
    assert missed.question is not None and missed.error and editor.current_version == 1


def test_a_new_instruction_with_pointing_while_asked_drops_the_question_and_uses_the_pointing(make):
    editor = make()
    assert editor.send("remove the cup").question is not None
    reply = editor.send("make this red", point=(30, 40))
    assert reply.text.startswith("(Dropped the question about the cup.)") and reply.version == 1
    assert editor.history[1].steps[0]["pointing"] == {"points": [[30.0, 40.0, True]]}
    assert editor.pending_question is None


def test_bad_pointing_is_a_one_line_reply_and_nothing_changes(make):
    editor = make()
    for bad in ({"point": (float("nan"), 3)}, {"box": (10, 10, 5, 5)}, {"points": "here"}, {"point": (900, 3)}):
        reply = editor.send("make this red", **bad)
        assert reply.error and "Nothing changed" in reply.text and "\n" not in reply.text
        with pytest.raises(InvalidInputError):
            editor.pointed_mask(**bad)
    assert editor.current_version == 0 and log(editor) == []
    with pytest.raises(InvalidInputError, match="nothing is pointed at"):
        editor.pointed_mask()
    editor.send("remove the cup")
    reply = editor.answer("this one", point=(1e9, 0))
    assert reply.error and "still open" in reply.text and editor.pending_question is not None


def test_here_without_pointing_says_so(make):
    editor = make()
    reply = editor.send("remove here")
    assert reply.version is None and "nothing is pointed at" in reply.text


def test_a_pending_question_with_pointing_survives_reopening_and_read_only_previews(make):
    editor = make()
    asked = editor.send("remove the cup", point=(75, 90))               # on neither cup: still asked
    assert asked.question is not None
    folder = editor.session_dir
    editor.close()
    again = make(session=folder)
    state = again.graph.get_state(again._turns.config).values
    assert isinstance(state["pointing"], Pointing) and again.pending_question is not None
    again.close()
    viewer = make(session=folder, read_only=True)
    assert viewer.pointed_mask(point=(30, 40)).any()
    assert viewer.send("make this red", point=(30, 40)).error == "read-only session"


# -- the conversation log, session files and transcripts ----------------------------------------------------

def test_logged_pointing_is_read_back_and_old_or_damaged_lines_still_read():
    old = _parse(b'{"role": "user", "text": "hi", "turn": 1, "kind": "say"}')
    assert old is not None and old.pointing is None
    kept = _parse(b'{"role": "user", "text": "hi", "turn": 1, "kind": "say", "pointing": {"box": [1, 2, 3, 4]}}')
    assert kept.pointing == {"box": [1, 2, 3, 4]}
    junk = _parse(b'{"role": "user", "text": "hi", "turn": 1, "kind": "say", "pointing": {"box": "x", "y": 1}}')
    assert junk is not None and junk.pointing is None


def test_session_files_take_point_box_and_points_on_user_and_answer_turns():
    sf = parse_text("image: coffee\nturns:\n  - user: make this red\n    point: [30, 40]\n"
                    "  - user: remove this\n    box: [1, 2, 30, 40]\n"
                    "  - answer: this one\n    points: [[3, 4, true], [5, 6, false]]\n",
                    where="t.yaml", base=Path("."))
    assert [t.pointing for t in sf.spec.turns] == [{"point": [30, 40]}, {"box": [1, 2, 30, 40]},
                                                   {"points": [[3, 4, True], [5, 6, False]]}]
    for bad in ("  - undo: 1\n    point: [1, 2]\n", "  - user: x\n    point: ['a', 2]\n",
                "  - user: x\n    pointt: [1, 2]\n"):
        with pytest.raises(SessionFileError):
            parse_text("image: coffee\nturns:\n" + bad, where="t.yaml", base=Path("."))


def test_a_transcript_keeps_the_pointing_for_a_replay(tmp_path):
    from agent.scripted.script import script_from_transcript
    from agent.scripted.transcript import read_json, write_json

    (tmp_path / "original.png").write_bytes(b"")
    record = SessionRecord(name="p", image_source="coffee", original="original.png", profile="tiny", seed=0,
                           turns=[TurnRecord(index=1, kind="user", value="make this red",
                                             pointing={"point": [30, 40]}),
                                  TurnRecord(index=2, kind="undo", value=1)])
    write_json(record, tmp_path / "transcript.json")
    back = read_json(tmp_path / "transcript.json")
    assert back.turns[0].pointing == {"point": [30, 40]} and back.turns[1].pointing is None
    script = script_from_transcript(tmp_path / "transcript.json")
    assert script.turns[0].pointing == {"point": [30, 40]} and script.turns[1].pointing == {}
