"""A reply is a promise: what it announces is what the pixels and the history show (hostile readings
of ordinary sessions on the tiny models, with pinned planner and verifier replies)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.editor import Editor
from agent.graph.nodes.commit import VISIBLE_DELTA_E
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.color import parse_color, rgb_to_lab

SIZE = (150, 100)
CUP, PATCH = (10, 20, 50, 60), (110, 10, 145, 40)


def _plain(rgb: tuple[int, int, int], seed: int = 0) -> Image.Image:
    """A picture of one colour with a little texture (every mask the tiny SAM draws is that colour)."""
    noise = np.random.default_rng(seed).integers(-4, 5, (SIZE[1], SIZE[0], 3))
    return Image.fromarray(np.clip(np.asarray(rgb) + noise, 0, 255).astype(np.uint8))


def _editor(tmp_path, image, profile, *replies, verify=None) -> Editor:
    kit = FixedDetections(profile, {"cup": [det(CUP)], "patch": [det(PATCH)]})
    return Editor.open(image, profile=profile, session_dir=tmp_path / "s", planner=QueuePlanner().push(*replies),
                       toolkit=kit, verify=verify)


def _recolor(phrase: str, colour: str) -> dict:
    return {"action": "recolor", "referent": {"phrase": phrase}, "content": colour}


def _hue_and_chroma(lab: np.ndarray) -> tuple[float, float]:
    a, b = float(lab[..., 1].mean()), float(lab[..., 2].mean())
    return float(np.degrees(np.arctan2(b, a)) % 360), float(np.hypot(a, b))


@pytest.mark.parametrize(("grey", "colour"), [(245, "red"), (12, "yellow"), (240, "navy"), (235, "orange")])
def test_made_the_cup_a_colour_means_its_pixels_show_that_colour(tmp_path, tiny_profile, grey, colour):
    """"Made the cup red." on a white cup: the colour shift keeps the cup's lightness where the colour can
    show at it, and moves it where it cannot (red on white, yellow on black); its hue is never bent by
    clipping (white + red used to come out peach)."""
    with _editor(tmp_path, _plain((grey, grey, grey)), tiny_profile, plan(_recolor("cup", colour))) as editor:
        reply = editor.send(f"make the cup {colour}")
        assert reply.version == 1 and reply.text.startswith(f"Made the cup {colour}.")
        mask = np.asarray(editor.version_mask(1), dtype=bool)
        got = _hue_and_chroma(rgb_to_lab(np.asarray(editor.current_image)[mask]))
    want = _hue_and_chroma(rgb_to_lab(np.asarray([parse_color(colour)], dtype=np.uint8)))
    assert abs((got[0] - want[0] + 180) % 360 - 180) < 10, (got, want)
    assert got[1] > 0.6 * want[1], (got, want)


def test_a_recolour_to_the_colour_it_has_claims_nothing_and_makes_no_version(tmp_path, tiny_profile):
    red = _plain((255, 0, 0))
    with _editor(tmp_path, red, tiny_profile, plan(_recolor("patch", "red"))) as editor:
        reply = editor.send("make the patch red")
        assert reply.version is None and editor.current_version == 0 and len(editor.history) == 1
        assert np.array_equal(np.asarray(editor.current_image), np.asarray(red))
        assert "Made" not in reply.text and "already is red" in reply.text


@pytest.mark.slow
def test_a_step_that_changed_nothing_is_not_claimed_beside_one_that_did(tmp_path, tiny_profile):
    red = _plain((255, 0, 0))
    steps = plan(_recolor("patch", "red"), {"action": "remove", "referent": {"phrase": "cup"}})
    with _editor(tmp_path, red, tiny_profile, steps) as editor:
        reply = editor.send("make the patch red and remove the cup")
        assert reply.version == 1
        delta = np.linalg.norm(rgb_to_lab(np.asarray(editor.current_image)) - rgb_to_lab(np.asarray(red)), axis=-1)
        patch = delta[PATCH[1]:PATCH[3], PATCH[0]:PATCH[2]]
        assert patch.max() < VISIBLE_DELTA_E and delta.max() > 10        # the patch looks as it did; the cup went
        assert "Made the patch red" not in reply.text and "Removed the cup." in reply.text


@pytest.mark.slow
def test_an_edit_the_check_rejects_twice_is_said_as_tried_not_done(tmp_path, tiny_profile, coffee):
    replies = (plan({"action": "replace", "referent": {"phrase": "cup"}, "content": "a teapot"}), "no", "no")
    with _editor(tmp_path, coffee.resize(SIZE), tiny_profile, *replies, verify=True) as editor:
        reply = editor.send("replace the cup with a teapot")
        record = editor.history[1].steps[0]
        assert reply.version == 1 and record["verified"] is False and record["attempt"] == 1
        assert reply.text.startswith("Tried to replace the cup with a teapot.")
        assert "Replaced the cup" not in reply.text and "The check says this may not show" in reply.text


def test_a_turn_whose_version_cannot_be_saved_says_its_edit_was_not_kept(tmp_path, tiny_profile, coffee, monkeypatch):
    from tools.errors import ImageSaveError

    with _editor(tmp_path, coffee.resize(SIZE), tiny_profile, plan(_recolor("cup", "red"))) as editor:
        before = np.asarray(editor.current_image).copy()

        def full(draft):
            raise ImageSaveError("no space left on the session's disk")

        monkeypatch.setattr(editor.store, "promote_draft", full)
        reply = editor.send("make the cup red")
        assert reply.version is None and editor.current_version == 0 and len(editor.history) == 1
        assert np.array_equal(np.asarray(editor.current_image), before)
        assert reply.text.startswith("The edit could not be saved: no space left on the session's disk.")
        assert reply.text.endswith('So this message\'s edit ("Made the cup red.") was not kept.')
        assert "before it" not in reply.text


@pytest.mark.parametrize("verdicts", [("no", "no"), ("maybe",)])
def test_a_doubted_step_that_changed_nothing_offers_no_undo(tmp_path, tiny_profile, verdicts):
    """"say undo to take it back" after a turn that made no version would undo an earlier edit."""
    red = _plain((255, 0, 0))
    with _editor(tmp_path, red, tiny_profile, plan(_recolor("patch", "red")), *verdicts, verify=True) as editor:
        reply = editor.send("make the patch red")
        assert reply.version is None and len(editor.history) == 1
        assert "already is red" in reply.text and "undo" not in reply.text and "check" not in reply.text


def test_both_cups_made_red_are_each_red_when_they_were_different_colours(tmp_path, tiny_profile):
    """One shift for the two cups' pixels together left a blue cup purple and a white one peach."""
    picture = np.asarray(_plain((235, 235, 235))).copy()
    picture[:, :75] = np.asarray(_plain((40, 60, 200)))[:, :75]           # the left cup blue, the right one white
    kit_dets = {"cup": [det(CUP), det((95, 15, 140, 65))]}
    kit = FixedDetections(tiny_profile, kit_dets)
    step = {"action": "recolor", "referent": {"phrase": "cup", "selector": "all"}, "content": "red"}
    with Editor.open(Image.fromarray(picture), profile=tiny_profile, session_dir=tmp_path / "s",
                     planner=QueuePlanner().push(plan(step)), toolkit=kit) as editor:
        reply = editor.send("make both cups red")
        assert reply.version == 1 and reply.text.startswith("Made both cups red.")
        mask = np.asarray(editor.version_mask(1), dtype=bool)
        after = np.asarray(editor.current_image)
    want = _hue_and_chroma(rgb_to_lab(np.asarray([parse_color("red")], dtype=np.uint8)))
    for x0, x1 in ((0, 75), (75, SIZE[0])):
        cup = mask.copy()
        cup[:, :x0] = cup[:, x1:] = False
        got = _hue_and_chroma(rgb_to_lab(after[cup]))
        assert abs((got[0] - want[0] + 180) % 360 - 180) < 10 and got[1] > 0.6 * want[1], (x0, got, want)


@pytest.mark.slow
def test_a_doubted_step_of_several_says_undo_takes_back_them_all(tmp_path, tiny_profile, coffee):
    steps = plan(_recolor("cup", "red"), {"action": "remove", "referent": {"phrase": "patch"}})
    image = coffee.resize(SIZE)
    with _editor(tmp_path, image, tiny_profile, steps, "no", "no", "yes", verify=True) as editor:
        reply = editor.send("make the cup red and remove the patch")
        assert reply.version == 1 and [s["action"] for s in editor.history[1].steps] == ["recolor", "remove"]
        assert "take back all of this message's edits" in reply.text and "take it back" not in reply.text
        editor.undo()                                                     # one undo: both edits gone, as said
        assert editor.current_version == 0 and np.array_equal(np.asarray(editor.current_image), np.asarray(image))
