"""The command layer: moves in words, answers to "which one?" (parsed, then resolved on boxes), and
telling a new instruction from an answer. Pure functions on text and boxes: no model, no image."""

from __future__ import annotations

import numpy as np
import pytest

from agent.graph.commands import Move, read_move, read_reply, resolve
from tools.color import parse_color, rgb_to_lab

# -- moves ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "move"), [
    ("undo", Move("undo", 1)),
    ("Undo.", Move("undo", 1)),
    ("undo that", Move("undo", 1)),
    ("undo it", Move("undo", 1)),
    ("undo the last edit", Move("undo", 1)),
    ("please undo the last change", Move("undo", 1)),
    ("oops, undo that please", Move("undo", 1)),
    ("can you undo that?", Move("undo", 1)),
    ("undo the last two", Move("undo", 2)),
    ("undo the last 2 edits", Move("undo", 2)),
    ("undo 3 edits", Move("undo", 3)),
    ("undo three changes", Move("undo", 3)),
    ("undo twice", Move("undo", 2)),
    ("undo 2 times", Move("undo", 2)),
    ("take that back", Move("undo", 1)),
    ("take it back", Move("undo", 1)),
    ("go back", Move("undo", 1)),
    ("go back one step", Move("undo", 1)),
    ("go back a step", Move("undo", 1)),
    ("go back 2 steps", Move("undo", 2)),
    ("step back", Move("undo", 1)),
    ("revert that", Move("undo", 1)),
    ("redo", Move("redo", 1)),
    ("redo that", Move("redo", 1)),
    ("redo it please", Move("redo", 1)),
    ("redo the last 2", Move("redo", 2)),
    ("redo twice", Move("redo", 2)),
    ("go forward one step", Move("redo", 1)),
    ("undo the undo", Move("redo", 1)),
    ("go back to the original", Move("revert", 0)),
    ("back to the original image", Move("revert", 0)),
    ("revert to the original", Move("revert", 0)),
    ("restore the original", Move("revert", 0)),
    ("start over", Move("revert", 0)),
    ("start from scratch", Move("revert", 0)),
    ("reset", Move("revert", 0)),
    ("undo everything", Move("revert", 0)),
    ("undo all the edits", Move("revert", 0)),
    ("revert to 3", Move("revert", 3)),
    ("revert to version 3", Move("revert", 3)),
    ("back to version 2", Move("revert", 2)),
    ("go back to version 2", Move("revert", 2)),
    ("go to v4", Move("revert", 4)),
    ("go to version four", Move("revert", 4)),
    ("switch to version 1", Move("revert", 1)),
    ("restore version 2", Move("revert", 2)),
    ("show me version 2", Move("revert", 2)),
    ("revert to version 0", Move("revert", 0)),
    ("revert the last edit", Move("undo", 1)), ("go to the previous version", Move("undo", 1)),
    ("redo the last undo", Move("redo", 1)), ("version 2", Move("revert", 2)),
    ("can we go back to version 2?", Move("revert", 2)), ("start all over again", Move("revert", 0)),
    ("back to the beginning", Move("revert", 0)), ("show me the original", Move("revert", 0)),
])
def test_moves_in_words(text, move):
    assert read_move(text) == move


@pytest.mark.parametrize("text", [
    "undo the blue and make it red", "go back to the original colour for the cup", "undo the cup removal",
    "start over with a blue sky", "revert the cup to red", "make it red", "go to the cup", "undo -2",
    "undo 0", "redo the sky", "back to the beach background", "show me the cup", "reset the cup colour",
    "remove the cup", "take the cup back to red", "", "   ", "undo " + "1" * 5000, "go back to 2 cups",
])
def test_anything_else_is_not_a_move(text):
    assert read_move(text) is None


# -- answers --------------------------------------------------------------------------------------

# A 600x400 image with four cups: small top-left, big bottom-left, medium in the middle, small right.
FOUR = [(10, 10, 60, 50), (20, 250, 220, 390), (260, 160, 360, 240), (520, 100, 580, 140)]
SIZE = (600, 400)


def picks(text, boxes=FOUR, *, phrase="cup", action="remove", matches=None, want=None, colour_of=None):
    """The 1-based numbers (in ``matches`` when given, else in ``boxes``) an answer resolves to,
    "cancel", or ("unclear", why)."""
    reading = read_reply(text, phrase=phrase, action=action)
    assert reading.kind == "answer", (text, reading)
    out = resolve(reading.answer, boxes, matches=matches, want=want, image_size=SIZE, colour_of=colour_of)
    if out.kind == "cancel":
        return "cancel"
    if out.kind == "unclear":
        return ("unclear", out.why)
    pool = [tuple(map(float, b)) for b in (matches or boxes)]
    return [pool.index(b) + 1 for b in out.boxes]


@pytest.mark.parametrize(("text", "expected"), [
    ("2", [2]), (2, [2]), ("#2", [2]), ("number 2", [2]), ("no. 2", [2]), ("number one", [1]),
    ("option 3", [3]), ("2 please", [2]), ("2.", [2]),
    ("1 and 3", [1, 3]), ("1, 2 and 4", [1, 2, 4]), ("1 & 4", [1, 4]), ("2-4", [2, 3, 4]),
    ("2 to 4", [2, 3, 4]), ("3 and 1", [3, 1]),
    ("the second one", [2]), ("the second", [2]), ("2nd", [2]), ("the 2nd cup", [2]), ("the third cup", [3]),
    ("first", [1]), ("the last one", [4]), ("the last cup", [4]), ("second to last", [3]),
    ("the second last one", [3]), ("the first two", [1, 2]), ("I want the 1st", [1]),
    ("the left one", [1]), ("left", [1]), ("The LEFT one!", [1]), ("the one on the left", [1]),
    ("the one on the right", [4]), ("the right one", [4]), ("the rightmost", [4]), ("the cup on the far left", [1]),
    ("the left cup", [1]), ("the left cups", [1]), ("the right-hand cup", [4]),
    ("top left", [1]), ("the top right one", [4]), ("bottom left", [2]), ("the lower one", [2]),
    ("the middle one", [3]), ("the one in the center", [3]), ("the centre cup", [3]),
    ("second from the right", [3]), ("3rd from left", [3]), ("the second cup from the left", [2]),
    ("the two on the left", [1, 2]),
    ("the biggest", [2]), ("the biggest cup", [2]), ("the large one", [2]), ("the small one", [1]),
    ("the smallest", [1]), ("the tallest one", [2]),
    ("no, the left one", [1]), ("no I meant 3", [3]), ("not that one, the right one", [4]),
    ("sorry, I meant the second one", [2]), ("actually the left one", [1]), ("no wait, 2", [2]),
    ("the left one and the right one", [1, 4]), ("number 1, the left one", [1]),
    ("all", [1, 2, 3, 4]), ("all of them", [1, 2, 3, 4]), ("them all", [1, 2, 3, 4]),
    ("I want all of them", [1, 2, 3, 4]), ("both the left one and the right one", [1, 4]),
    ("all 4", [1, 2, 3, 4]), ("both 1 and 3", [1, 3]), ("all the cups please", [1, 2, 3, 4]),
    ("every cup", [1, 2, 3, 4]), ("all four", [1, 2, 3, 4]),
    ("all except 2", [1, 3, 4]), ("all of them except 2", [1, 3, 4]), ("all but the left one", [2, 3, 4]),
    ("every cup except the biggest", [1, 3, 4]), ("all except 1 and 4", [2, 3]),
    ("everything but the one on the right", [1, 2, 3]),
    ("I'll take 2", [2]), ("yes, the left one", [1]), ("sure, number 1", [1]), ("go with 3", [3]),
    ("the one closest to the middle", [3]), ("the one nearest the left edge", [1]), ("1 + 3", [1, 3]),
    ("the first and the last", [1, 4]), ("the left and right ones", [1, 4]), ("two and three", [2, 3]),
    ("none of these", "cancel"), ("no thanks", "cancel"), ("nah, forget it", "cancel"), ("stop", "cancel"),
    ("cancel", "cancel"), ("never mind", "cancel"), ("none", "cancel"), ("none of them", "cancel"),
    ("neither", "cancel"), ("forget it", "cancel"), ("no", "cancel"), ("nope", "cancel"), ("Cancel.", "cancel"),
])
def test_answers(text, expected):
    assert picks(text) == expected


def test_remove_verb_with_a_plain_choice_is_an_answer():
    assert picks("remove the left one") == [1]
    assert picks("delete number 2") == [2]
    assert picks("remove all of them except the biggest") == [1, 3, 4]


@pytest.mark.parametrize(("text", "why"), [
    ("number 7", "no number 7"), (7, "no number 7"), (0, "no number 0"), ("the fifth", "no number 5"),
    ("number 1, the right one", "different ones"), ("all except 1, 2, 3 and 4", "none"),
    ("both", "there are 4 of them"), ("all three", "there are 4 of them"),
    ("the second from the right and fifth", "no number 5"),
])
def test_answers_that_name_no_candidate_say_why(text, why):
    result = picks(text)
    assert result[0] == "unclear" and why in result[1]


@pytest.mark.parametrize("text", ["banana", "the purple saucer", "the left saucer", "one", "the other one",
                                  "hmm", "1 or 3", "1" * 5000, "number " + "9" * 5000, "the one next to it", ""])
def test_words_the_grammar_cannot_read_are_unclear(text):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "unclear" and reading.why and len(reading.why) < 200


def test_not_one_of_two_picks_the_other_and_of_four_asks_which():
    two = FOUR[:2]
    assert picks("not the left one", two) == [2]
    assert picks("not the left one", FOUR) == ("unclear", "that leaves 2 and 3 and 4; which of those")


def test_all_means_every_match_even_those_not_shown():
    shown = FOUR[:2]
    every = [*FOUR, (300, 10, 340, 40), (400, 300, 480, 380)]
    assert picks("all", shown, matches=every) == [1, 2, 3, 4, 5, 6]
    assert picks("all except 2", shown, matches=every) == [1, 3, 4, 5, 6]
    assert picks("all but the right one", shown, matches=every) == [1, 2, 3, 5, 6]   # the rightmost of all
    assert picks("2", shown, matches=every) == [2]


def test_want_asks_for_that_many():
    assert picks("1 and 3", want=2) == [1, 3]
    assert picks("the two on the left", want=2) == [1, 2]
    assert picks("all", want=2) == [1, 2, 3, 4]                          # "all" is always an answer
    assert picks("2", want=2)[0] == "unclear" and "about 2" in picks("2", want=2)[1]


def test_colours_and_shades_compare_each_box_in_lab():
    rgb = {FOUR[0]: "red", FOUR[1]: "blue", FOUR[2]: "white", FOUR[3]: "#202020"}

    def colour_of(box):
        lab = rgb_to_lab(np.array(parse_color(rgb[tuple(int(v) for v in box)]), dtype=np.uint8))
        return tuple(float(v) for v in lab)

    assert picks("the red one", colour_of=colour_of) == [1]
    assert picks("the blue cup", colour_of=colour_of) == [2]
    assert picks("the dark blue one", colour_of=colour_of) == [2]
    assert picks("the dark one", colour_of=colour_of) == [4]
    assert picks("the white one", colour_of=colour_of) == [3]
    assert picks("all except the red one", colour_of=colour_of) == [2, 3, 4]
    assert picks("the red one", FOUR[:2], colour_of=colour_of) == [1]
    assert picks("the green one", colour_of=colour_of)[0] == "unclear"    # none looks green
    assert picks("the red one on the right", colour_of=colour_of)[0] == "unclear"   # they disagree
    assert picks("the red one")[0] == "unclear"                            # no image, no colours


def test_the_kind_asked_about_reads_in_simple_plural_forms():
    assert picks("the left glass", phrase="wine glass") == [1]
    assert picks("the berries on the right", phrase="berry") == [4]
    assert read_reply("the left cup", phrase="saucer").kind == "unclear"
    assert picks("the left light", phrase="light") == [1]                 # the kind, not a shade


# -- an instruction or a move instead of an answer -----------------------------------------------


@pytest.mark.parametrize("text", [
    "actually, make the saucer blue instead", "remove the car", "forget it, make it autumn",
    "make the left one red", "paint it green", "put a hat on the cat", "replace the cup with a vase",
    "actually make the table white", "what is in this picture?", "instead, remove the saucer",
    "change the background to a beach", "add a bird next to the rocket", "make it look like a painting",
    "actually I want the table removed", "the saucer should be blue", "let's not, remove the table instead",
    "no wait, I want the whole picture in black and white", "never mind that, make the sky purple",
])
def test_a_new_instruction_is_not_an_answer(text):
    assert read_reply(text, phrase="cup", action="remove").kind == "instruction"


def test_the_asking_steps_own_words_answer_it():
    reading = read_reply("make the left one red", phrase="cup", action="recolor", content="red")
    assert reading.kind == "answer"
    assert resolve(reading.answer, FOUR, image_size=SIZE).boxes == (tuple(map(float, FOUR[0])),)
    assert read_reply("paint the right cup dark red", phrase="cup", action="recolor", content="dark red").kind \
        == "answer"
    assert read_reply("make the left one blue", phrase="cup", action="recolor", content="red").kind == "instruction"
    assert read_reply("make the left one bigger", phrase="cup", action="recolor", content="red").kind == "instruction"
    reading = read_reply("make the red one blue", phrase="cup", action="recolor", content="blue")
    assert reading.kind == "answer" and reading.answer.items[0].colour == "red"


@pytest.mark.parametrize("text", ["never mind, make the sky blue", "no wait, remove the table instead",
                                  "cancel that and make it autumn", "hey, can you add a hat to the cat"])
def test_a_cancel_word_before_an_instruction_is_still_an_instruction(text):
    assert read_reply(text, phrase="cup", action="remove").kind == "instruction"


def test_a_verb_for_another_action_is_a_new_instruction():
    assert read_reply("paint the left one", phrase="cup", action="remove").kind == "instruction"
    assert read_reply("remove the left one", phrase="cup", action="remove").kind == "answer"


@pytest.mark.parametrize(("text", "move"), [("undo", Move("undo", 1)), ("undo that", Move("undo", 1)),
                                           ("go back to the original", Move("revert", 0)),
                                           ("revert to 2", Move("revert", 2))])
def test_a_move_while_asked_is_a_move(text, move):
    assert read_reply(text, phrase="cup").move == move


def test_unclear_words_after_actually_say_how_to_give_a_new_instruction():
    reading = read_reply("actually the saucer", phrase="cup")
    assert reading.kind == "unclear" and "say the whole instruction" in reading.why


def test_no_message_makes_the_reader_raise():
    import random

    vocab = ["the", "left", "right", "one", "2", "second", "from", "all", "except", "but", "not", "and", ",",
             "-", "to", "last", "cup", "red", "light", "blue", "no", "cancel", "make", "remove", "undo", "two",
             "top", "number", "#", "first", "or", "both", "actually", "what", "is", "9" * 20, "\u202e", "é"]
    rng = random.Random(0)
    for _ in range(3000):
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9)))
        read_move(text)
        reading = read_reply(text, phrase="cup", action=rng.choice([None, "remove", "recolor"]))
        if reading.answer is not None:
            for boxes in (FOUR, FOUR[:1], [(5, 5, 5, 5), (5, 5, 5, 5)]):
                out = resolve(reading.answer, boxes, matches=FOUR + [(1, 1, 2, 2)], want=rng.choice([None, 2]),
                              image_size=SIZE, colour_of=lambda box: (50.0, 0.0, 0.0))
                assert out.kind in ("pick", "all", "cancel", "unclear")
                assert out.kind != "unclear" or out.why


# -- ordinary phrasings, and negations that must never run ------------------------------------------


@pytest.mark.parametrize(("text", "move"), [
    ("undo undo", Move("undo", 2)), ("undo, undo, undo", Move("undo", 3)), ("redo redo", Move("redo", 2)),
    ("go back twice", Move("undo", 2)), ("undo it all", Move("revert", 0)), ("revert back", Move("undo", 1)),
    ("undo once more", Move("undo", 1)), ("undo one more time", Move("undo", 1)), ("one more undo", Move("undo", 1)),
    ("another undo", Move("undo", 1)), ("undo what you just did", Move("undo", 1)),
    ("go back to version #3", Move("revert", 3)), ("revert to number 2", Move("revert", 2)),
    ("no, undo", Move("undo", 1)), ("nope, undo that", Move("undo", 1)), ("UNDO!!", Move("undo", 1)),
    ("could you please undo the last two?", Move("undo", 2)),
])
def test_more_ordinary_moves(text, move):
    assert read_move(text) == move


@pytest.mark.parametrize("text", [
    "don't undo", "do not undo", "dont undo that", "no undo", "not undo", "never undo", "don't redo",
    "don't go back", "do not go back to version 3", "don't revert", "don't start over", "don't reset",
    "please don't undo that", "no don't undo", "oh no undo that", "undo, no wait, redo",
])
def test_a_negated_move_is_never_a_move(text):
    assert read_move(text) is None
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind != "move" and reading.kind != "instruction" and reading.answer is None


@pytest.mark.parametrize("text", ["don't undo", "no undo", "do not remove the left one", "never paint it",
                                  "don't cancel", "don't go back", "no cancel", "don't stop"])
def test_a_negated_command_while_asked_says_nothing_was_done(text):
    reading = read_reply(text, phrase="cup", action="remove")
    assert reading.kind == "unclear" and "nothing was done" in reading.why


THREE = [(10, 10, 40, 40), (60, 10, 100, 50), (120, 10, 140, 30)]


@pytest.mark.parametrize(("text", "expected"), [
    ("one and three", [1, 3]), ("one, two", [1, 2]), ("the last two", [2, 3]), ("last 2", [2, 3]),
    ("the left one, no wait, the right one", [3]), ("left, no, right", [3]), ("1, sorry 2", [2]),
    ("the first one, I mean the second", [2]), ("all of em", [1, 2, 3]), ("neither cup", "cancel"),
    ("none of the cups", "cancel"), ("nvm", "cancel"), ("don't bother", "cancel"), ("do not", "cancel"),
    ("forget about it", "cancel"), ("no thank you", "cancel"), ("don't do it", "cancel"), ("no, cancel", "cancel"),
])
def test_more_ordinary_answers(text, expected):
    assert picks(text, THREE) == expected


@pytest.mark.parametrize("text", ["-1", "- 2", "the last four", "1 or 3", "either", "whichever", "yes", "one",
                                  "the cup", "lfet", "no, not that one", "the other one", "left, no",
                                  "I don't mind", "I don't care", "don't know", "no preference", "1 and 2, no 3",
                                  "left no right"])
def test_answers_that_must_not_pick(text):
    reading = read_reply(text, phrase="cup", action="remove")
    if reading.kind == "answer":
        out = resolve(reading.answer, THREE, image_size=SIZE)
        assert out.kind == "unclear" and out.why
    else:
        assert reading.kind == "unclear" and reading.why


SIDE_BY_SIDE = [(10, 20, 50, 60), (95, 15, 140, 65)]    # same height (centre y 40); the right one is bigger


@pytest.mark.parametrize(("text", "expected"), [
    ("the two of them", [1, 2]), ("two of the cups", [1, 2]), ("uhh the right one", [2]), ("errm, left", [1]),
    ("yup 2", [2]), ("i'd say the right one", [2]), ("the left one thank you very much", [1]),
    ("the bigger one", [2]), ("the left one", [1]),
])
def test_ordinary_answers_between_two(text, expected):
    assert picks(text, SIDE_BY_SIDE) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("the top one", "about as high"), ("the lower one", "about as low"),
    ("the middle one", "about as near the middle"), ("1/2", "\"or\""),
    ("the three of them", "there are 2 of them, not 3"),
])
def test_a_tie_or_an_open_choice_between_two_is_unclear(text, why):
    reading = read_reply(text, phrase="cup", action="remove")
    got = reading.why if reading.kind == "unclear" else resolve(reading.answer, SIDE_BY_SIDE, image_size=(150, 100)).why
    assert why in got


def test_boxes_of_about_the_same_size_are_no_biggest():
    same = [(10, 10, 50, 50), (100, 10, 141, 50)]
    assert "about the same size" in picks("the biggest", same)[1]
    assert picks("the biggest", [(10, 10, 50, 50), (100, 10, 150, 50)]) == [2]


@pytest.mark.parametrize(("text", "expected"), [
    ("both red", [1, 2]), ("all of them red", [1, 2]), ("the left one red", [1]), ("the right one, red", [2]),
    ("both blue", "unclear"), ("all the red ones", "unclear"),
])
def test_an_answer_may_repeat_what_was_asked(text, expected):
    """Asked which cup to make red: "both red" is both; "both blue" may be all or some, so it is unclear."""
    reading = read_reply(text, phrase="cup", action="recolor", content="red")
    if expected == "unclear":
        assert reading.kind == "unclear" and "all of them or only some" in reading.why
        return
    out = resolve(reading.answer, SIDE_BY_SIDE, image_size=SIZE)
    assert [SIDE_BY_SIDE.index(tuple(int(v) for v in b)) + 1 for b in out.boxes] == expected


@pytest.mark.parametrize("text", ["the non-red cup", "the other cup", "the cups other than not the left one",
                                  "the cup that is not red"])
def test_a_negated_or_relative_noun_phrase_is_no_kind_to_detect(text):
    """A detector asked for "non-red cup" finds red cups: such words go to the planner, never to the detector."""
    from agent.graph.phrases import parse_referent

    assert parse_referent(text) is None


@pytest.mark.parametrize(("text", "query"), [
    ("show history", "history"), ("history", "history"), ("can you show me the history, please?", "history"),
    ("list the versions", "history"), ("show the edit history", "history"), ("what edits are there", "history"),
    ("what did you change?", None), ("what changed", None),                  # the planner says what it looks like
    ("which version is this?", "current"), ("what version am I on", "current"), ("where am i", "current"),
    ("show me version 2", None), ("undo", None), ("remove the history book", None), ("show me the cup", None),
    ("don't show the history", None), ("what is the cup made of", None), ("tree", None),
])
def test_questions_about_the_versions_are_read_without_a_model(text, query):
    from agent.graph.queries import read_query

    assert read_query(text) == query
