"""Ordinary phrasings read by the command layer: moves in the version tree said the way people say them,
and replies to "which one?" that pick nothing but say something plain (the choice left to the agent, an
answer with a new instruction after it). Pure functions on text and boxes, then the Editor in a conversation."""

from __future__ import annotations

import pytest

from agent.graph.commands import Move, read_move, read_reply, resolve
from agent.graph.queries import answer_query, read_query
from agent.session.history import History
from agent.editor import Editor
from tests.agent_fakes import FixedDetections, QueuePlanner
from tests.editor_helpers import DETS, LEFT, RIGHT, SIZE

# -- moves ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "move"), [
    ("start again", Move("revert", 0)), ("start again please", Move("revert", 0)),
    ("restore original", Move("revert", 0)), ("revert to original", Move("revert", 0)),
    ("revert everything", Move("revert", 0)), ("revert all", Move("revert", 0)),
    ("back to square one", Move("revert", 0)), ("i want the original back", Move("revert", 0)),
    ("two steps back", Move("undo", 2)), ("3 steps back", Move("undo", 3)), ("back", Move("undo", 1)),
    ("cancel the last edit", Move("undo", 1)), ("remove the last edit", Move("undo", 1)),
    ("delete that change", Move("undo", 1)), ("revert to previous", Move("undo", 1)),
    ("undo x2", Move("undo", 2)), ("undo 2x", Move("undo", 2)), ("redo x2", Move("redo", 2)),
    ("let me see version 2", Move("revert", 2)), ("view version 1", Move("revert", 1)),
    ("forward", Move("redo", 1)), ("never mind, redo it", Move("redo", 1)),
])
def test_more_moves_in_words(text, move):
    assert read_move(text) == move


@pytest.mark.parametrize("text", [
    "remove that", "remove it", "delete the cup", "start", "again", "start the cup again", "go back to how it was",
    "back to the beach background", "remove the last cup", "undo x", "scrap it", "put it back",
])
def test_near_moves_are_not_moves(text):
    assert read_move(text) is None


# -- replies that pick nothing --------------------------------------------------------------------


def _why(text: str, phrase: str = "cup") -> str:
    reading = read_reply(text, phrase=phrase, action="recolor", content="white")
    assert reading.kind == "unclear", (text, reading)
    return reading.why


@pytest.mark.parametrize("text", ["either", "whichever", "you choose", "any of them", "up to you", "i don't mind",
                                  "doesn't matter", "your call", "either is fine", "pick one", "random", "surprise me"])
def test_leaving_the_choice_to_the_agent_is_asked_again_not_guessed(text):
    assert "leaves the choice to me" in _why(text)


@pytest.mark.parametrize(("text", "answer", "more"), [
    ("the left one, and make it blue", "the left one", "make it blue"),
    ("2, and make the table white", "2", "make the table white"),
    ("the right one and then remove the saucer", "the right one", "remove the saucer"),
    ("both, then paint the table red", "both", "paint the table red"),
])
def test_an_answer_with_a_new_instruction_after_it_says_both_parts(text, answer, more):
    why = _why(text)
    assert f'("{answer}")' in why and f'("{more}")' in why and "alone first" in why


@pytest.mark.parametrize("text", ["the other one", "not that one, the other"])
def test_the_other_with_nothing_picked_yet_says_so(text):
    assert "none was picked yet" in _why(text)


def test_i_dont_know_picks_none_and_says_how_to_drop_the_question():
    assert "say \"cancel\"" in _why("i don't know")


@pytest.mark.parametrize(("text", "picked"), [("the outer ones", [1, 3]), ("the two outer ones", [1, 3]),
                                               ("both ends", [1, 3])])
def test_the_outer_ones_are_the_leftmost_and_the_rightmost(text, picked):
    boxes = [(0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)]
    reading = read_reply(text, phrase="spoon", action="remove")
    assert reading.kind == "answer"
    out = resolve(reading.answer, boxes, image_size=(60, 20))
    assert [boxes.index(tuple(int(v) for v in b)) + 1 for b in out.boxes] == picked


# -- in a conversation ------------------------------------------------------------------------------


class RandomPlanner(QueuePlanner):
    """Says it has random weights, as the tiny profile's planner does: the offline grammar plans; asking it fails."""

    random_weights: bool = True


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    """An editor on the small coffee photo with fixed detections, planned by the offline grammar."""
    opened: list[Editor] = []

    def open_one() -> Editor:
        opened.append(Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "session",
                                  planner=RandomPlanner(), toolkit=FixedDetections(tiny_profile, DETS)))
        return opened[-1]

    yield open_one
    for editor in opened:
        editor.close()


@pytest.mark.slow
def test_a_reply_that_picks_nothing_keeps_the_question_and_an_answer_after_it_runs(make):
    editor = make()
    asked = editor.send("make the cup white")
    assert asked.question is not None and editor.current_version == 0
    for text, says in (("you choose", "leaves the choice to me"), ("the left one, and make it blue", "alone first")):
        reply = editor.send(text)
        assert reply.version is None and editor.current_version == 0 and says in reply.text
        assert editor.pending_question is not None
    reply = editor.send("the one on the right")
    assert reply.version == 1 and editor.pending_question is None
    assert editor.history[1].steps[0]["box"] == list(map(float, RIGHT))


@pytest.mark.slow
def test_history_in_ordinary_words_lands_where_it_says(make):
    editor = make()
    for text in ("make the left cup red", "make the right cup blue", "make the table white"):
        assert editor.send(text).version is not None
    assert editor.current_version == 3
    for text, head, says in (("two steps back", 1, "version 1"), ("forward", 2, "version 2"),
                             ("undo x2", 0, "original"), ("let me see version 2", 2, "version 2"),
                             ("compare with the original", 2, 'by 2 edits: v1: "make the left cup red"; v2:'),
                             ("start again", 0, "original"), ("restore original", 0, "Already")):
        reply = editor.send(text)
        assert editor.current_version == head and says in reply.text, (text, reply.text)
    assert editor.history[1].steps[0]["box"] == list(map(float, LEFT))


# -- answers said another way -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["leave them alone", "i changed my mind", "changed my mind", "let's not", "not now",
                                  "not either", "drop it", "scratch that", "forget the whole thing",
                                  "don't change anything", "keep them as they are", "leave it the way it is"])
def test_whole_phrases_that_drop_the_question_cancel(text):
    reading = read_reply(text, phrase="cup", action="recolor", content="white")
    assert reading.kind == "answer" and reading.answer.kind == "cancel"


@pytest.mark.parametrize("text", ["don't cancel", "don't change the left one", "changed my mind, make the table red",
                                  "scratch that, make the table white", "leave the left one alone"])
def test_a_cancel_phrase_with_more_in_it_is_no_cancel(text):
    reading = read_reply(text, phrase="cup", action="recolor", content="white")
    assert not (reading.kind == "answer" and reading.answer.kind == "cancel"), reading


FOUR = [(10, 10, 60, 50), (20, 250, 220, 390), (260, 160, 360, 240), (520, 100, 580, 140)]


@pytest.mark.parametrize(("text", "picked"), [
    ("the one numbered 2", [2]), ("the one labelled 3", [3]), ("2 maybe", [2]), ("perhaps 4", [4]),
    ("not the right one, the left one", [1]), ("not 2, 1", [1]), ("not 1, 3 and 4", [3, 4]),
])
def test_picks_said_another_way(text, picked):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "answer", reading
    out = resolve(reading.answer, FOUR, image_size=(600, 400))
    assert sorted(FOUR.index(tuple(int(v) for v in b)) + 1 for b in out.boxes) == picked, out


@pytest.mark.parametrize("text", ["the one not on the left", "the one that isn't on the left",
                                  "the other one, not the left", "the cup that is not on the left"])
def test_the_one_not_on_the_left_of_two_is_the_right_one(text):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "answer" and reading.answer.negated, reading
    out = resolve(reading.answer, [LEFT, RIGHT], image_size=(150, 100))
    assert out.boxes == (tuple(map(float, RIGHT)),)


@pytest.mark.parametrize(("text", "action"), [("make it blue instead", "recolor"), ("remove it", "remove"),
                                              ("make them bigger", "remove"), ("paint it red, please", "recolor")])
def test_an_edit_of_it_while_asked_keeps_the_question(text, action):
    reading = read_reply(text, phrase="cup", action=action, content="white")
    assert reading.kind == "unclear" and "\"it\" is the cup" in reading.why or "\"them\"" in reading.why


def test_an_edit_of_it_that_says_another_action_or_a_new_look_is_a_new_instruction():
    assert read_reply("paint it green", phrase="cup", action="remove").kind == "instruction"
    assert read_reply("make it a watercolour", phrase="cup", action="recolor").kind == "instruction"
    assert read_reply("make that saucer blue", phrase="cup", action="recolor").kind == "instruction"
    assert read_reply("make this red", phrase="cup", action="recolor").kind == "instruction"   # a pointing's words


@pytest.mark.parametrize(("text", "picked"), [
    ("the one furthest right", [2]), ("the one farthest to the left", [1]), ("the smaller of the two", [1]),
    ("the first of the two", [1]), ("the left of them both", [1]), ("every single one", [1, 2]), ("the two", [1, 2]),
    ("the cups", [1, 2]), ("the 2", [2]),
])
def test_picks_among_two_said_another_way(text, picked):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "answer", reading
    out = resolve(reading.answer, [LEFT, RIGHT], image_size=(150, 100))
    assert sorted([LEFT, RIGHT].index(tuple(int(v) for v in b)) + 1 for b in out.boxes) == picked, out


def test_the_kinds_own_plural_is_no_all():
    assert read_reply("the glasses", phrase="glasses", action="remove").kind == "unclear"


@pytest.mark.parametrize("text", ["one of the two", "one of them", "either of them"])
def test_one_of_them_leaves_the_choice_and_is_asked_again(text):
    assert "leaves the choice to me" in _why(text)


def test_lets_skip_it_cancels():
    reading = read_reply("let's skip it", phrase="cup", action="remove")
    assert reading.kind == "answer" and reading.answer.kind == "cancel"


@pytest.mark.parametrize("text", ["compare with the original", "compare it to the original image", "diff with original",
                                  "what changed since the original?", "how is it different from the original"])
def test_comparing_with_the_original_is_a_question_about_the_versions(text):
    assert read_query(text) == "compare"


@pytest.mark.parametrize("text", ["compare the cup with the original", "compare", "make it like the original"])
def test_other_comparisons_are_no_question_about_the_versions(text):
    assert read_query(text) is None


def test_the_original_compared_with_itself_says_nothing_differs():
    history = History.start("a" * 64)
    assert answer_query("compare", history).endswith("It is the original: nothing differs.")


@pytest.mark.parametrize(("text", "picked"), [
    ("2 plz", [2]), ("the right 1", [2]), ("the 1", [1]), ("the right one obviously", [2]),
    ("definitely the left one", [1]), ("the left one for sure", [1]), ("both would be great", [1, 2]),
    ("the pair", [1, 2]),
])
def test_asides_around_a_pick_change_nothing(text, picked):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "answer", reading
    out = resolve(reading.answer, [LEFT, RIGHT], image_size=(150, 100))
    assert sorted([LEFT, RIGHT].index(tuple(int(v) for v in b)) + 1 for b in out.boxes) == picked, out


@pytest.mark.parametrize("text", ["stop asking", "cancel the question", "no more questions"])
def test_stop_asking_cancels(text):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "answer" and reading.answer.kind == "cancel", reading
