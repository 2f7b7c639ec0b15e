"""The offline rule grammar: ordinary phrasings of each edit form read into the expected plan; the rest is None."""

from __future__ import annotations

import pytest

from agent.graph.grammar import read_plan
from agent.graph.unread import unread_reason

CUP = {"phrase": "cup"}

# (user words, expected steps as dumped without defaults)
READS = [
    # remove
    ("remove the cup", [{"action": "remove", "referent": CUP}]),
    ("Please remove the cup.", [{"action": "remove", "referent": CUP}]),
    ("delete the cup", [{"action": "remove", "referent": CUP}]),
    ("erase the cup from the picture", [{"action": "remove", "referent": CUP}]),
    ("get rid of the cup", [{"action": "remove", "referent": CUP}]),
    ("take the cup out", [{"action": "remove", "referent": CUP}]),
    ("OK, now remove the cup please", [{"action": "remove", "referent": CUP}]),
    ("could you remove the cup?", [{"action": "remove", "referent": CUP}]),
    # an instruction that replaces an open question starts with words people say when changing their mind
    ("actually, remove the cup instead", [{"action": "remove", "referent": CUP}]),
    ("no, remove the cup", [{"action": "remove", "referent": CUP}]),
    ("wait, remove the cup", [{"action": "remove", "referent": CUP}]),
    ("oh and remove the cup", [{"action": "remove", "referent": CUP}]),
    ("hmm, on second thought remove the cup", [{"action": "remove", "referent": CUP}]),
    ("forget it, make it autumn", [{"action": "global", "content": "make it autumn"}]),
    ("remove the cup and the spoon", [{"action": "remove", "referent": CUP},
                                      {"action": "remove", "referent": {"phrase": "spoon"}}]),
    # replace
    ("replace the cup with a tall vase", [{"action": "replace", "referent": CUP, "content": "a tall vase"}]),
    ("swap the cup for a teapot", [{"action": "replace", "referent": CUP, "content": "a teapot"}]),
    ("swap out the cup for a glass", [{"action": "replace", "referent": CUP, "content": "a glass"}]),
    ("turn the cup into a vase", [{"action": "replace", "referent": CUP, "content": "a vase"}]),
    ("change the cup into a vase", [{"action": "replace", "referent": CUP, "content": "a vase"}]),
    ("change the cup to a vase", [{"action": "replace", "referent": CUP, "content": "a vase"}]),
    ("make the cup a vase", [{"action": "replace", "referent": CUP, "content": "a vase"}]),
    # recolor
    ("make the cup red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("make the sofa blue", [{"action": "recolor", "referent": {"phrase": "sofa"}, "content": "blue"}]),
    ("colour the cup red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("color the cup in red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("paint the cup white", [{"action": "recolor", "referent": CUP, "content": "white"}]),
    ("recolor the cup to green", [{"action": "recolor", "referent": CUP, "content": "green"}]),
    ("recolour the cup dark blue", [{"action": "recolor", "referent": CUP, "content": "dark blue"}]),
    ("turn the cup blue", [{"action": "recolor", "referent": CUP, "content": "blue"}]),
    ("change the cup to red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("change the colour of the cup to red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("change the cup's color to red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("make the cup look red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("make the cup a deep red", [{"action": "recolor", "referent": CUP, "content": "deep red"}]),
    ("make the cup red and white striped",
     [{"action": "recolor", "referent": CUP, "content": "red and white striped"}]),
    ("make the cup blue-green", [{"action": "recolor", "referent": CUP, "content": "blue-green"}]),
    ("make the cup #1e90ff", [{"action": "recolor", "referent": CUP, "content": "#1e90ff"}]),
    ("make it red", [{"action": "recolor", "referent": {"last_edited": True}, "content": "red"}]),
    ("make that blue", [{"action": "recolor", "referent": {"last_edited": True}, "content": "blue"}]),
    ("i want the cup to be red", [{"action": "recolor", "referent": CUP, "content": "red"}]),
    ("the cup should be blue", [{"action": "recolor", "referent": CUP, "content": "blue"}]),
    ("make the left cup and the right cup blue",
     [{"action": "recolor", "referent": {"phrase": "cup", "selector": "leftmost"}, "content": "blue"},
      {"action": "recolor", "referent": {"phrase": "cup", "selector": "rightmost"}, "content": "blue"}]),
    ("make the cup disappear", [{"action": "remove", "referent": CUP}]),
    ("make the saucer blue-green and the plate dark navy",
     [{"action": "recolor", "referent": {"phrase": "saucer"}, "content": "blue-green"},
      {"action": "recolor", "referent": {"phrase": "plate"}, "content": "dark navy"}]),
    ("make the cup and the saucer light blue",
     [{"action": "recolor", "referent": CUP, "content": "light blue"},
      {"action": "recolor", "referent": {"phrase": "saucer"}, "content": "light blue"}]),
    # background
    ("put the cat on a beach background",
     [{"action": "background", "referent": {"phrase": "cat"}, "content": "a beach"}]),
    ("put the cat on a beach", [{"action": "background", "referent": {"phrase": "cat"}, "content": "a beach"}]),
    ("change the background behind the cat to a beach",
     [{"action": "background", "referent": {"phrase": "cat"}, "content": "a beach"}]),
    ("give the cat a snowy mountain background",
     [{"action": "background", "referent": {"phrase": "cat"}, "content": "a snowy mountain"}]),
    ("replace the background with a forest",
     [{"action": "replace", "referent": {"phrase": "background"}, "content": "a forest"}]),
    ("change the background to blue",
     [{"action": "recolor", "referent": {"phrase": "background"}, "content": "blue"}]),
    # global
    ("make it a watercolour", [{"action": "global", "content": "make it a watercolour"}]),
    ("make it autumn", [{"action": "global", "content": "make it autumn"}]),
    ("make it night", [{"action": "global", "content": "make it night"}]),
    ("make it look like an oil painting", [{"action": "global", "content": "make it look like an oil painting"}]),
    ("in the style of van gogh", [{"action": "global", "content": "in the style of van gogh"}]),
    ("make the picture in the style of monet",
     [{"action": "global", "content": "make the picture in the style of monet"}]),
    ("turn the photo into a pencil sketch", [{"action": "global", "content": "turn the photo into a pencil sketch"}]),
    ("make the image black and white", [{"action": "global", "content": "make the image black and white"}]),
    ("apply a sepia filter", [{"action": "global", "content": "apply a sepia filter"}]),
    # add
    ("add a small bird next to the rocket",
     [{"action": "add", "referent": {"phrase": "rocket"}, "content": "a small bird", "place": "next_to"}]),
    ("add a tree to the left of the house",
     [{"action": "add", "referent": {"phrase": "house"}, "content": "a tree", "place": "left_of"}]),
    ("add a hat on the man", [{"action": "add", "referent": {"phrase": "man"}, "content": "a hat", "place": "on"}]),
    ("put a hat on the cat", [{"action": "add", "referent": {"phrase": "cat"}, "content": "a hat", "place": "on"}]),
    ("give the cat a hat", [{"action": "add", "referent": {"phrase": "cat"}, "content": "a hat", "place": "on"}]),
    ("put sunglasses on the man",
     [{"action": "add", "referent": {"phrase": "man"}, "content": "sunglasses", "place": "on"}]),
    ("add a lamp behind the sofa",
     [{"action": "add", "referent": {"phrase": "sofa"}, "content": "a lamp", "place": "behind"}]),
    # compounds
    ("remove the cup and make the table white",
     [{"action": "remove", "referent": CUP}, {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"}]),
    ("remove the cup, then make the table white",
     [{"action": "remove", "referent": CUP}, {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"}]),
    ("make the cup red and the saucer blue",
     [{"action": "recolor", "referent": CUP, "content": "red"},
      {"action": "recolor", "referent": {"phrase": "saucer"}, "content": "blue"}]),
    ("make it autumn; remove the cup", [{"action": "global", "content": "make it autumn"},
                                        {"action": "remove", "referent": CUP}]),
]

# (user words, expected referent) through "remove ..."
REFERENTS = [
    ("the man on the left", {"phrase": "man", "selector": "leftmost"}),
    ("the man on the far right", {"phrase": "man", "selector": "rightmost"}),
    ("the left cup", {"phrase": "cup", "selector": "leftmost"}),
    ("the leftmost cup", {"phrase": "cup", "selector": "leftmost"}),
    ("the cup in the middle", {"phrase": "cup", "selector": "center"}),
    ("the top cup", {"phrase": "cup", "selector": "topmost"}),
    ("the second cup from the left", {"phrase": "cup", "selector": "nth_from_left", "n": 2}),
    ("the 2nd cup from the right", {"phrase": "cup", "selector": "nth_from_right", "n": 2}),
    ("the third cup", {"phrase": "cup", "selector": "nth_from_left", "n": 3}),
    ("the biggest dog", {"phrase": "dog", "selector": "largest"}),
    ("the smallest dog", {"phrase": "dog", "selector": "smallest"}),
    ("all the cups", {"phrase": "cup", "selector": "all"}),
    ("every cup", {"phrase": "cup", "selector": "all"}),
    ("both cups", {"phrase": "cup", "count": 2}),
    ("both of the dogs", {"phrase": "dog", "count": 2}),
    ("the three cups", {"phrase": "cup", "count": 3}),
    ("the two cups on the left", {"phrase": "cup", "selector": "leftmost", "count": 2}),
    ("all the cups except the one on the left",
     {"phrase": "cup", "selector": "all", "exclude": [{"selector": "leftmost"}]}),
    ("all the cups except the left one", {"phrase": "cup", "selector": "all", "exclude": [{"selector": "leftmost"}]}),
    ("all the glasses but the red one", {"phrase": "glass", "selector": "all", "exclude": [{"attributes": ["red"]}]}),
    ("all the cups except the biggest", {"phrase": "cup", "selector": "all", "exclude": [{"selector": "largest"}]}),
    ("the cups except the second from the left",
     {"phrase": "cup", "selector": "all", "exclude": [{"selector": "nth_from_left", "n": 2}]}),
    ("all the cups except the two on the right",
     {"phrase": "cup", "selector": "all", "exclude": [{"selector": "rightmost", "count": 2}]}),
    ("the red cup", {"phrase": "cup", "attributes": ["red"]}),
    ("the dark blue car", {"phrase": "car", "attributes": ["dark blue"]}),
    ("the guy at the far right in the black top", {"phrase": "guy", "attributes": ["black top"],
                                                    "selector": "rightmost"}),
    ("the man with the hat", {"phrase": "man", "attributes": ["hat"]}),
    ("the cup left of the plate", {"phrase": "cup", "relation": "left_of", "anchor": {"phrase": "plate"}}),
    ("the cup to the right of the plate", {"phrase": "cup", "relation": "right_of", "anchor": {"phrase": "plate"}}),
    ("the dog on the sofa", {"phrase": "dog", "relation": "on", "anchor": {"phrase": "sofa"}}),
    ("the dog next to the tree", {"phrase": "dog", "relation": "next_to", "anchor": {"phrase": "tree"}}),
    ("the lamp behind the big sofa", {"phrase": "lamp", "relation": "behind", "anchor": {"phrase": "big sofa"}}),
    ("the cup under the left shelf",
     {"phrase": "cup", "relation": "below", "anchor": {"phrase": "shelf", "selector": "leftmost"}}),
    ("it", {"last_edited": True}),
    ("that", {"last_edited": True}),
    ("the same one", {"last_edited": True}),
]

NOT_READ = [
    "", "   ", "the cup", "hello", "thanks!", "undo", "undo the last two", "go back to the original", "2",
    "the left one", "no, the left one", "all", "cancel", "what colour is the cup?", "is the cup red?",
    "remove", "remove the", "remove it and", "replace the cup", "replace the cup with", "make it", "make it better",
    "make it bigger", "make the sky stormy", "make the cup", "red", "paint it", "add a bird", "add a bird next to",
    "put the cup next to the plate", "remove all the cups except 2", "remove all the cups on the left",
    "remove the second", "delete everything", "make the cup red and", "remove the cup and dance",
    "remove the cup from the left", "x" * 2000, "put the cat on the sofa", "delete the cup in the back", "remove the \u202ecup", "swap the cup",
]


@pytest.mark.parametrize(("text", "steps"), READS, ids=[t for t, _ in READS])
def test_each_form_reads_into_its_plan(text, steps):
    plan = read_plan(text)
    assert plan is not None, text
    assert [s.model_dump(exclude_defaults=True) for s in plan.steps] == steps
    assert "grammar" in plan.reasoning


@pytest.mark.parametrize(("words", "referent"), REFERENTS, ids=[w for w, _ in REFERENTS])
def test_referent_phrases_fill_the_schema(words, referent):
    plan = read_plan(f"remove {words}")
    assert plan is not None, words
    assert [s.model_dump(exclude_defaults=True) for s in plan.steps] == [{"action": "remove", "referent": referent}]


@pytest.mark.parametrize("text", NOT_READ)
def test_what_it_cannot_read_is_none_never_a_guess(text):
    assert read_plan(text) is None


def test_colours_that_are_not_plain_stay_the_users_words():
    """Patterns and compound colours are kept whole for the recolour tool to judge (never cut to one word)."""
    for colour in ("red and white striped", "blue-green", "dark navy", "light grey with white polka dots"):
        plan = read_plan(f"make the cup {colour}")
        assert plan is not None and plan.steps[0].content == colour


def test_a_long_compound_stops_at_the_step_limit():
    assert read_plan(", ".join(["remove the cup"] * 8)) is not None
    assert read_plan(", ".join(["remove the cup"] * 9)) is None


def test_vague_content_is_not_guessed():
    for text in ("swap the cup for something nicer, whatever", "replace the cup with something else",
                 "make the cup a better color", "turn the cup into anything"):
        assert read_plan(text) is None, text


# ------------------------------------------------------------------ first-run phrasings (regressions)

SAUCER = {"phrase": "saucer"}
# (user words, expected steps): politeness, typos, case, corrections, "nothing", counts, several sentences
FIRST_RUN = [
    ("pls remove teh cup", [{"action": "remove", "referent": CUP}]),
    ("rmeove the cup", [{"action": "remove", "referent": CUP}]),
    ("REMOVE THE CUP!!", [{"action": "remove", "referent": CUP}]),
    ("could you maybe get rid of the cup?", [{"action": "remove", "referent": CUP}]),
    ("thank you, now remove the cup", [{"action": "remove", "referent": CUP}]),
    ("hello remove the cup", [{"action": "remove", "referent": CUP}]),
    ("no, remove the cup", [{"action": "remove", "referent": CUP}]),
    ("remove the cup pls", [{"action": "remove", "referent": CUP}]),     # not a "cup pls"
    ("get rid of the cup asap", [{"action": "remove", "referent": CUP}]),
    ("remove the cup :)", [{"action": "remove", "referent": CUP}]),
    ("remove the cup \U0001f642", [{"action": "remove", "referent": CUP}]),
    ("Hey! Remove the cup please", [{"action": "remove", "referent": CUP}]),
    ("remove the cup!!! thanks :)", [{"action": "remove", "referent": CUP}]),
    ("can u remove the cup?", [{"action": "remove", "referent": CUP}]),
    ("would it be possible to remove the cup?", [{"action": "remove", "referent": CUP}]),
    # "nothing" as the new content is a remove
    ("replace the cup with nothing", [{"action": "remove", "referent": CUP}]),
    ("swap the cup for nothing", [{"action": "remove", "referent": CUP}]),
    ("replace the cup with empty space", [{"action": "remove", "referent": CUP}]),
    ("replace the cup with the background", [{"action": "remove", "referent": CUP}]),
    ("replace the cup and the saucer with nothing", [{"action": "remove", "referent": CUP},
                                                     {"action": "remove", "referent": SAUCER}]),
    # a change of mind: the correction wins
    ("make it a watercolour, no wait, a sketch", [{"action": "global", "content": "make it a sketch"}]),
    ("make it a watercolour no wait a sketch", [{"action": "global", "content": "make it a sketch"}]),
    ("make it a watercolour, no wait, a sketch, no, an oil painting",
     [{"action": "global", "content": "make it an oil painting"}]),
    ("make it autumn, no, winter", [{"action": "global", "content": "make it winter"}]),
    ("make it black & white", [{"action": "global", "content": "make it black & white"}]),
    ("make the cup red, no, blue", [{"action": "recolor", "referent": CUP, "content": "blue"}]),
    ("make the cup red, actually blue", [{"action": "recolor", "referent": CUP, "content": "blue"}]),
    ("make the cup red i mean blue", [{"action": "recolor", "referent": CUP, "content": "blue"}]),
    ("make the cup and the saucer red, no, blue", [{"action": "recolor", "referent": CUP, "content": "blue"},
                                                   {"action": "recolor", "referent": SAUCER, "content": "blue"}]),
    ("remove the cup, no, the saucer", [{"action": "remove", "referent": SAUCER}]),
    ("replace the cup with a vase, no, a teapot", [{"action": "replace", "referent": CUP, "content": "a teapot"}]),
    ("replace the cup with a vase, no wait, make it a teapot",
     [{"action": "replace", "referent": CUP, "content": "a teapot"}]),
    ("remove the cup and make the table white, no, blue",
     [{"action": "remove", "referent": CUP}, {"action": "recolor", "referent": {"phrase": "table"}, "content": "blue"}]),
    # counts and plurals
    ("remove two cups", [{"action": "remove", "referent": {"phrase": "cup", "count": 2}}]),
    ("remove 2 cups", [{"action": "remove", "referent": {"phrase": "cup", "count": 2}}]),
    ("remove the cups", [{"action": "remove", "referent": {"phrase": "cup", "selector": "all"}}]),
    ("the cups should be red", [{"action": "recolor", "referent": {"phrase": "cup", "selector": "all"},
                                 "content": "red"}]),
    ("remove the glasses", [{"action": "remove", "referent": {"phrase": "glasses"}}]),
    ("remove the canvas", [{"action": "remove", "referent": {"phrase": "canvas"}}]),
    ("remove the boxes", [{"action": "remove", "referent": {"phrase": "box", "selector": "all"}}]),
    ("remove the cup completely", [{"action": "remove", "referent": CUP}]),
    ("make the cup red, the saucer blue and the table white",
     [{"action": "recolor", "referent": CUP, "content": "red"}, {"action": "recolor", "referent": SAUCER, "content": "blue"},
      {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"}]),
    # several sentences or lines
    ("make the cup red. remove the saucer",
     [{"action": "recolor", "referent": CUP, "content": "red"}, {"action": "remove", "referent": SAUCER}]),
    ("make the cup red\nremove the saucer",
     [{"action": "recolor", "referent": CUP, "content": "red"}, {"action": "remove", "referent": SAUCER}]),
    ("remove the cup, make the table white and the saucer blue",
     [{"action": "remove", "referent": CUP}, {"action": "recolor", "referent": {"phrase": "table"}, "content": "white"},
      {"action": "recolor", "referent": SAUCER, "content": "blue"}]),
]

# words that must not be read (no edit runs), with what the reply then says (None: the general sentence)
UNREAD = [
    ("no remove the cup", 'says not to remove the cup ("no, remove the cup" with the comma'),
    ("don't remove the cup", 'says not to remove the cup ("remove the cup" does it)'),
    ("do not make it red", "says not to make it red"),
    ("hi", "is a greeting"),
    ("thanks", "asks for no edit"),
    ("no thanks", "asks for no edit"),
    ("help", "asks what it can do"),
    ("what can you do?", "asks what it can do"),
    ("can you see a cup?", "not questions"),
    ("what is in the picture?", "not questions"),
    ("\U0001f642", "no words"),
    ("a" * 5000, "5000 characters long"),
    ("crop it", "no tool here can crop"),
    ("rotate 90 degrees", "no tool here can rotate"),
    ("make it bigger", "no tool here can make things bigger"),
    ("enhance", "no tool here can enhance"),
    ("move the cup left", "no tool here can move"),
    ("remove every cup but one", "which to keep"),
    ("make the cup red, no, the left one", "change of mind"),
    ("add nothing next to the cup", None),
    ("make the cup a colour", None),
    ("add a bird", 'say "add a bird next to the ..."'),
    ("asdf", None),
    ("remove the cup twice", None),                                   # never a "cup twice"
    ("把杯子变成红色", "it reads English words only"),                   # words, not "no words"
    ("احذف الكوب", "it reads English words only"),
    ("🙂 !!", "there are no words in it"),
]


@pytest.mark.parametrize(("text", "steps"), FIRST_RUN, ids=[t for t, _ in FIRST_RUN])
def test_first_run_phrasings_read_into_what_was_meant(text, steps):
    plan = read_plan(text)
    assert plan is not None, text
    assert [s.model_dump(exclude_defaults=True) for s in plan.steps] == steps


@pytest.mark.parametrize(("text", "says"), UNREAD, ids=[t[:40] for t, _ in UNREAD])
def test_what_is_not_read_gets_its_own_reason(text, says):
    assert read_plan(text) is None
    why = unread_reason(text, read_plan)
    assert why == says if says is None else says in why


@pytest.mark.slow
def test_through_the_editor_the_reply_says_what_the_pixels_show(tmp_path, coffee, tiny_profile):
    """On the tiny profile (random-weights planner): "replace the cup with nothing" removes the cup and says so,
    pixels outside its mask kept; "no remove the cup" changes nothing and says why; a correction runs only
    the corrected edit."""
    import numpy as np

    from agent.editor import Editor
    from tests.agent_fakes import FixedDetections, det

    dets = {"cup": [det((10, 20, 50, 60), 0.8)], "saucer": [det((60, 30, 120, 80), 0.9)]}
    with Editor.open(coffee.resize((150, 100)), profile=tiny_profile, session_dir=tmp_path / "s",
                     toolkit=FixedDetections(tiny_profile, dets)) as editor:
        original = np.asarray(editor.current_image).copy()
        reply = editor.send("no remove the cup")
        assert reply.version is None and editor.current_version == 0 and "says not to remove the cup" in reply.text
        assert np.array_equal(np.asarray(editor.current_image), original)

        reply = editor.send("replace the cup with nothing")
        assert reply.version == 1 and "Removed the cup." in reply.text and "nothing" not in reply.text
        after, region = np.asarray(editor.current_image), editor.version_mask(1)
        assert (after != original).any(axis=-1)[region].any()
        assert np.array_equal(after[~region], original[~region])

        reply = editor.send("make the saucer red, no wait, blue")
        assert reply.version == 2 and "Made the saucer blue." in reply.text and "red" not in reply.text


@pytest.mark.parametrize(("text", "steps"), [
    ("remove the cup and saucer", [("remove", "cup", ""), ("remove", "saucer", "")]),
    ("make the cup and saucer blue", [("recolor", "cup", "blue"), ("recolor", "saucer", "blue")]),
    ("remove my cup & spoon", [("remove", "cup", ""), ("remove", "spoon", "")]),
    ("make the table wooden", [("recolor", "table", "wooden")]),
    ("make the table dark wooden", [("recolor", "table", "dark wooden")]),
    ("turn the sofa leopard print", [("recolor", "sofa", "leopard print")]),
    ("make the wooden table red", [("recolor", "wooden table", "red")]),
    ("replace the cup with a glass", [("replace", "cup", "a glass")]),        # a glass is a thing, not a look
])
def test_a_shared_the_is_two_things_and_a_material_is_a_look(text, steps):
    """"the cup and saucer" shares its "the" (two things; "the cup and dance" stays unread); "make the table
    wooden" is a look after "make X" (a diffusion recolour, said so by the edit), as the README lists."""
    plan = read_plan(text)
    assert plan is not None
    assert [(s.action, s.referent.phrase, s.content) for s in plan.steps] == steps


@pytest.mark.parametrize("text", ["remove the cup and dance", "remove the cup and then", "remove the cup and stuff",
                                  "remove the cup and quickly"])
def test_the_cup_and_a_word_that_is_no_thing_is_not_read(text):
    assert read_plan(text) is None
