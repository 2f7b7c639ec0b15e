"""The offline grammar with a reference image: "make the cup look like this" replaces the cup guided by the
reference; through Editor.send(..., reference=) on the tiny profile, whose random planner is never asked."""

from __future__ import annotations


import numpy as np
import pytest

from agent.editor import Editor
from agent.graph.forms import REFERENCE_CONTENT
from agent.graph.grammar import read_plan
from tests.agent_fakes import FixedDetections, QueuePlanner, det

SIZE = (150, 100)
CUP = (10, 20, 50, 60)


class RandomPlanner(QueuePlanner):
    """Says it has random weights, as the tiny profile's planner does: the grammar plans; asking it fails."""

    random_weights: bool = True


@pytest.mark.parametrize(("text", "phrase", "content"), [
    ("make the cup look like this", "cup", "a cup like the one in the reference image"),
    ("make the mug like the one in the picture", "mug", "a mug like the one in the reference image"),
    ("turn the vase into this", "vase", REFERENCE_CONTENT),
    ("please make the apple look exactly like that one", "apple", "an apple like the one in the reference image"),
    ("make the cup match the reference image", "cup", "a cup like the one in the reference image"),
    ("replace the cup with the photo i sent", "cup", REFERENCE_CONTENT),
    ("change the vase into the thing in the picture", "vase", REFERENCE_CONTENT),
])
def test_reference_phrasings_replace_the_referent(text, phrase, content):
    found = read_plan(text, referenced=True)
    assert found is not None and len(found.steps) == 1
    step = found.steps[0]
    assert (step.action, step.referent.phrase, step.content) == ("replace", phrase, content)
    assert read_plan(text) is None          # without a reference "this" says nothing: not read, never guessed


def test_the_referent_keeps_its_selector_and_attributes_and_other_clauses_still_read():
    found = read_plan("make the red cup on the left look like this and remove the spoon", referenced=True)
    assert [s.action for s in found.steps] == ["replace", "remove"]
    ref = found.steps[0].referent
    assert (ref.phrase, ref.attributes, ref.selector) == ("cup", ["red"], "leftmost")
    each = read_plan("make all the cups look like this", referenced=True).steps[0]
    assert each.referent.selector == "all" and each.content == "a cup like the one in the reference image"


def test_the_whole_picture_like_the_reference_is_a_whole_picture_edit():
    step = read_plan("make the image look like this", referenced=True).steps[0]
    assert (step.action, step.content) == ("global", "make the image look like this")
    assert read_plan("make the image look like this") is None


@pytest.mark.parametrize(("text", "action"), [
    ("replace the cup with a straw hat", "replace"),              # its own words: read as without a reference
    ("make the cup red", "recolor"),
    ("make it autumn like this", "global"),
])
def test_other_forms_read_as_they_do_without_a_reference(text, action):
    with_ref = read_plan(text, referenced=True)
    assert with_ref is not None and with_ref.steps[0].action == action
    assert with_ref == read_plan(text)


@pytest.mark.parametrize("text", ["make the cup and the mug look like this",      # one reference, two things
                                  "make the sky stormy like this"])              # a look word, not a thing
def test_what_it_is_not_sure_of_is_not_a_reference_replace(text):
    found = read_plan(text, referenced=True)
    assert found is None or all(s.action != "replace" for s in found.steps)


@pytest.fixture
def editor(tmp_path, coffee, tiny_profile):
    planner = RandomPlanner()
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s", planner=planner,
                     toolkit=FixedDetections(tiny_profile, {"cup": [det(CUP)]})) as opened:
        yield opened
    assert planner.calls == 0


@pytest.mark.slow
def test_editor_send_with_a_reference_replaces_the_cup_through_the_grammar(editor, hat):
    original = np.asarray(editor.current_image)
    reply = editor.send("make the cup look like this", reference=hat)
    assert reply.version == 1 and "offline grammar" in reply.text
    step = reply.plan.steps[0]
    assert (step.action, step.referent.phrase, step.content) == ("replace", "cup",
                                                                  "a cup like the one in the reference image")
    recorded = editor.history[1].steps[0]["reference"]
    assert recorded["used"] is False                   # the tiny profile's SD inpainting takes no reference
    assert "cannot use a reference image, so the edit used only your words" in reply.text
    assert "It follows your reference image" not in reply.text
    after, region = np.asarray(editor.current_image), editor.version_mask(1)
    assert region.any() and (after != original).any(axis=-1)[region].any()
    assert np.array_equal(after[~region], original[~region])


def test_without_the_reference_the_same_words_change_nothing(editor):
    reply = editor.send("turn the cup into this")
    assert reply.version is None or reply.version == 0
    assert editor.current_version == 0 and "could not read that" in reply.text


@pytest.mark.slow
def test_a_pointed_region_takes_the_reference(editor, hat):
    reply = editor.send("make this look like that", box=CUP, reference=hat)
    assert reply.version == 1
    step = reply.plan.steps[0]
    assert step.action == "replace" and step.referent.pointed and step.content == REFERENCE_CONTENT


@pytest.mark.slow
def test_on_flux2_klein_the_grammars_replace_follows_the_reference(tmp_path, coffee, tiny_profile, hat):
    kit = FixedDetections(tiny_profile, {"vase": [det(CUP)]}, engine="flux2-klein")
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "f",
                     planner=RandomPlanner(), toolkit=kit) as editor:
        original = np.asarray(editor.current_image)
        reply = editor.send("turn the vase into this", reference=hat)
        assert reply.version == 1 and "It follows your reference image hat.png (64x48)." in reply.text
        assert editor.history[1].steps[0]["reference"]["used"] is True
        after, region = np.asarray(editor.current_image), editor.version_mask(1)
        assert np.array_equal(after[~region], original[~region])
