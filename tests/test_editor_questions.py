"""The public Editor API in conversation: questions and answers, moves and instructions in words, a question
interrupted by a move or a new instruction, and a planner asked what an answer means."""

from __future__ import annotations

import pytest

from agent.editor import Candidate, Editor, Question
from tests.agent_fakes import FixedDetections, QueuePlanner, plan
from tests.editor_helpers import DETS, LEFT, RIGHT, SIZE, Opener, recolor


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    """Open (or reopen) an editor on a small coffee photo with fixed detections and a queue planner."""
    opener = Opener(tmp_path, coffee, tiny_profile)
    yield opener
    opener.close_all()


def test_question_answer_and_reopen_with_the_question_pending(make):
    editor = make(recolor("cup", "red"))
    reply = editor.send("make the cup red")
    q = reply.question
    assert isinstance(q, Question) and q.image_path.is_file() and reply.version is None
    assert q.candidates == (Candidate(1, tuple(map(float, LEFT)), "cup", 0.8),
                            Candidate(2, tuple(map(float, RIGHT)), "cup", pytest.approx(0.78)))
    assert editor.pending_question == q
    root = editor.session_dir
    editor.close()

    again = make(session=root)                                # a new process: same folder
    assert again.pending_question == q
    assert [r for r, _ in again.conversation] == ["user", "assistant"]
    reply = again.send("the right one")                       # send while asked = the answer
    assert reply.version == 1 and again.pending_question is None
    assert again.history[1].steps[0]["box"] == list(map(float, RIGHT))


@pytest.mark.parametrize("bad", [None, 3.7, True, {"x": 1}, ["1"], 10**30])
def test_an_answer_that_is_not_a_string_or_an_int_keeps_the_question_open(make, bad):
    editor = make(recolor("cup", "red"))
    q = editor.send("make the cup red").question
    reply = editor.answer(bad)
    assert reply.error == "not an answer" and reply.question == q and reply.version is None
    assert "\n" not in reply.text and len(reply.text) < 200 and "still open" in reply.text
    assert editor.pending_question == q                       # not even the one retry was used up
    assert editor.answer("the right one").version == 1


def test_a_huge_numeric_answer_is_unclear_and_the_question_stays_open(make):
    editor = make(recolor("cup", "red"))
    editor.send("make the cup red")
    for huge in ("1" * 5000, "9" * 5000, "number " + "1" * 5000):
        reply = editor.answer(huge)
        assert reply.error is None and reply.question is not None and "couldn't tell" in reply.text
        assert len(reply.text) < 500 and editor.pending_question is not None   # the answer is not echoed whole
    assert editor.answer("2").version == 1                    # the question survived: this answer counts
    said = [text for role, text in editor.conversation if role == "user"]
    assert said[1:4] == ["1" * 5000, "9" * 5000, "number " + "1" * 5000]    # what was typed is kept whole


class RandomPlanner(QueuePlanner):
    """A queue planner that says it has random weights (as the tiny profile's LLaVA does)."""

    random_weights: bool = True


def _planned_by(editor: Editor) -> dict:
    return editor.graph.get_state(editor._turns.config).values.get("planned_by")


def test_moves_in_words_run_without_the_planner_and_log_what_was_said(make):
    editor = make(recolor("cup", "red", selector="leftmost"), recolor("table", "blue"))
    editor.send("make the left cup red")
    editor.send("make the table blue")
    planner = editor._planner
    reply = editor.send("undo the last two")
    assert editor.current_version == 0 and "Undid 2 edits" in reply.text and planner.calls == 2
    assert _planned_by(editor) == {"kind": "commands"}
    assert editor.send("redo").text.startswith("Redid 1 edit") and editor.current_version == 1
    assert editor.send("go back to the original").version is None and editor.current_version == 0
    assert editor.send("revert to 2").text == "Went forward to version 2." and editor.current_version == 2
    assert planner.calls == 2                                   # no move asked the planner
    said = [text for role, text in editor.conversation if role == "user"]
    assert said[-4:] == ["undo the last two", "redo", "go back to the original", "revert to 2"]
    editor.undo()
    assert _planned_by(editor) == {"kind": "direct"} and editor.conversation[-2] == ("user", "/undo 1")


def test_answers_in_words_kind_position_and_correction(make):
    editor = make(recolor("cup", "red"), recolor("cup", "blue"))
    assert editor.send("make the cup red").question is not None
    reply = editor.send("the left cup")
    assert reply.version == 1 and editor.history[1].steps[0]["box"] == list(map(float, LEFT))
    editor.send("make the cup blue")
    reply = editor.answer("no, the right one")
    assert reply.version == 2 and editor.history[2].steps[0]["box"] == list(map(float, RIGHT))


def test_an_instruction_sent_while_asked_drops_the_question_and_runs(make):
    editor = make(recolor("cup", "red"), recolor("saucer", "blue"))
    editor.send("make the cup red")
    reply = editor.send("actually, make the saucer blue instead")
    assert reply.text.startswith("(Dropped the question about the cup.) ") and reply.version == 1
    assert editor.pending_question is None and editor.history[1].instruction == "actually, make the saucer blue instead"
    assert editor.history[1].steps[0]["box"] == list(map(float, DETS["saucer"][0].box))
    assert editor._planner.left == 0
    said = [text for role, text in editor.conversation if role == "user"]
    assert said == ["make the cup red", "actually, make the saucer blue instead"]
    assert sum(text.startswith("(Dropped the question") for _, text in editor.conversation) == 1


def test_an_answer_that_is_an_instruction_runs_as_a_new_turn(make):
    editor = make(recolor("cup", "red"), plan({"action": "remove", "referent": {"phrase": "table"}}))
    editor.send("make the cup red")
    reply = editor.answer("forget it, remove the table")
    assert "(Dropped the question about the cup.)" in reply.text and reply.version == 1
    assert editor.history[1].steps[0]["action"] == "remove" and editor.pending_question is None


def test_an_instruction_that_asks_again_hands_back_the_new_question(make):
    editor = make(recolor("cup", "red"), plan({"action": "remove", "referent": {"phrase": "cup"}}))
    editor.send("make the cup red")
    reply = editor.send("remove the cup instead")
    assert reply.question is not None and reply.text.startswith("(Dropped the question about the cup.) ")
    assert editor.answer("2").version == 1 and editor.history[1].steps[0]["action"] == "remove"


def test_a_move_while_asked_drops_the_question_and_moves(make):
    editor = make(recolor("table", "blue"), recolor("cup", "red"))
    editor.send("make the table blue")
    editor.send("make the cup red")
    reply = editor.send("undo")
    assert reply.text.startswith("(Dropped the question about the cup.) Undid 1 edit")
    assert editor.current_version == 0 and editor.pending_question is None
    assert editor.conversation[-2] == ("user", "undo")


def test_an_unclear_answer_is_put_to_a_real_planner_with_the_candidates(tmp_path, coffee, tiny_profile):
    planner = QueuePlanner().push(recolor("cup", "red"), {"pick": [2]},
                                    recolor("cup", "red"), {"instruction": True},
                                    plan({"action": "remove", "referent": {"phrase": "table"}}),
                                    recolor("cup", "red"), "no idea")
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s", planner=planner,
                     toolkit=FixedDetections(tiny_profile, DETS)) as editor:
        editor.send("make the cup red")
        reply = editor.answer("the one with the handle facing me")
        assert reply.version == 1 and editor.history[1].steps[0]["box"] == list(map(float, RIGHT))
        editor.send("make the cup red")
        reply = editor.answer("hmm, how about the table goes away")
        assert "(Dropped the question about the cup.)" in reply.text and reply.version == 2
        editor.send("make the cup red")
        reply = editor.answer("whichever")                      # the planner cannot read it either
        assert reply.question is not None and "couldn't tell" in reply.text and planner.left == 0


def test_a_planner_with_random_weights_is_not_asked_about_answers(tmp_path, coffee, tiny_profile):
    planner = RandomPlanner()                                    # the offline grammar plans; nobody reads answers
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s", planner=planner,
                     toolkit=FixedDetections(tiny_profile, DETS)) as editor:
        assert editor.send("make the cup red").question is not None
        reply = editor.answer("the one with the handle facing me")
        assert reply.question is not None and "\"handle facing me\"" in reply.text and planner.calls == 0
        assert editor.answer("the right cup").version == 1


def test_a_move_in_words_that_cannot_be_made_is_said_and_logged(make):
    editor = make(recolor("cup", "red"))
    reply = editor.send("go to version 5")
    assert reply.error and "no version 5" in reply.text and editor.current_version == 0
    assert editor.conversation[-2:] == [("user", "go to version 5"), ("assistant", reply.text)]
    editor.send("make the cup red")
    reply = editor.answer("revert to 7")
    assert "no version 7" in reply.text and "still open" in reply.text and reply.question is not None
    assert editor.pending_question is not None and editor.answer("1").version == 1


def test_the_planner_asked_about_an_answer_sees_the_numbered_picture_and_the_boxes(make):
    editor = make(recolor("cup", "red"), {"pick": [1]})
    editor.send("make the cup red")
    assert editor.answer("the chipped one").version == 1
    [*_, human] = editor._planner._calls[-1]
    kinds = [block["type"] for block in human.content]
    assert kinds == ["image", "text"] and "the chipped one" in human.content[1]["text"]
    assert "1: box [10, 20, 50, 60]" in human.content[1]["text"]


@pytest.fixture
def offline(tmp_path, coffee, tiny_profile):
    """An editor whose planner has random weights (the offline grammar plans), with a cup question open
    after one edit (version 1)."""
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s", planner=RandomPlanner(),
                     toolkit=FixedDetections(tiny_profile, DETS)) as editor:
        assert editor.send("make the table blue").version == 1
        assert editor.send("make the cup red").question is not None
        yield editor


@pytest.mark.parametrize("text", ["don't undo", "do not undo", "no undo", "please don't undo that",
                                  "don't go back to the original", "never redo", "do not remove the left one"])
def test_a_negated_command_while_asked_runs_nothing_and_keeps_the_question(offline, text):
    q = offline.pending_question
    reply = offline.send(text)
    assert reply.version is None and offline.current_version == 1 and len(offline.versions) == 2
    assert reply.question is not None and offline.pending_question.candidates == q.candidates
    assert "nothing was done" in reply.text and "Undid" not in reply.text
    assert offline.conversation[-2] == ("user", text)
    assert offline.answer("the right one").version == 2       # the question still counts


@pytest.mark.parametrize("text", ["show history", "what did you change", "bring it back", "hmm let me think"])
def test_words_the_offline_grammar_cannot_read_keep_the_question(offline, text):
    q = offline.pending_question
    reply = offline.send(text)
    assert reply.version is None and offline.current_version == 1 and reply.question is not None
    assert offline.pending_question.candidates == q.candidates and "Dropped" not in reply.text
    assert "still open" in reply.text or "couldn't tell" in reply.text
    assert ("user", text) in offline.conversation
    assert offline.answer("cancel").text.endswith("OK, cancelled. Nothing changed.")
    assert offline.pending_question is None and offline.current_version == 1


@pytest.mark.parametrize(("text", "boxes"), [("one and two", [LEFT, RIGHT]), ("left, no wait, the right one", [RIGHT]),
                                             ("both", [LEFT, RIGHT]), ("#2", [RIGHT]), ("the first", [LEFT])])
def test_ordinary_answers_pick_what_they_say(offline, text, boxes):
    reply = offline.send(text)
    assert reply.version == 2 and offline.pending_question is None
    [step] = offline.history[2].steps
    assert step["boxes"] == [list(map(float, b)) for b in boxes]
    assert ("2 cups" in reply.text) == (len(boxes) == 2)


@pytest.mark.parametrize("text", ["undo undo", "undo, undo"])
def test_a_repeated_undo_while_asked_undoes_that_many(offline, text):
    reply = offline.send(text)
    assert "Undid 1 edit (that is as far back as it goes); now at the original." in reply.text
    assert offline.current_version == 0 and offline.pending_question is None


@pytest.mark.parametrize(("text", "said"), [("redo", "There is nothing to redo."),
                                            ("redo twice", "There is nothing to redo."),
                                            ("go back to version 1", "Already at version 1."),
                                            (None, "There is nothing to redo.")])
def test_a_move_with_nothing_to_do_while_asked_keeps_the_question(offline, text, said):
    q = offline.pending_question
    reply = offline.redo() if text is None else offline.send(text)
    assert reply.text.startswith(said) and "still open" in reply.text and "Dropped" not in reply.text
    assert reply.question == q and offline.pending_question == q and reply.error is None
    assert offline.current_version == 1 and (text is None or offline.conversation[-2] == ("user", text))
    assert offline.answer("the left one").version == 2


def test_undo_at_the_original_while_asked_keeps_the_question(make):
    editor = make(recolor("cup", "red"))
    q = editor.send("make the cup red").question
    reply = editor.send("undo")
    assert reply.text == "There is nothing to undo: this is the original. The question is still open."
    assert editor.pending_question == q and editor.answer("1").version == 1


def test_an_instruction_a_real_planner_fails_to_plan_keeps_the_question(make):
    editor = make(recolor("cup", "red"), RuntimeError("the model crashed"))
    q = editor.send("make the cup red").question
    text = "actually give the whole scene a gloomy autumn mood"
    reply = editor.send(text)
    assert reply.version is None and reply.error and "was not done; the question is still open" in reply.text
    assert "Dropped" not in reply.text and reply.question == q and editor.pending_question == q
    assert editor.conversation[-2] == ("user", text)
    assert editor.answer("the right one").version == 1


@pytest.mark.parametrize("text", ["don't undo", "no undo", "please do not go back to the original", "never redo"])
def test_a_negated_move_without_a_question_runs_nothing_and_asks_no_model(make, text):
    editor = make(recolor("table", "blue"))
    editor.send("make the table blue")
    planner = editor._planner
    reply = editor.send(text)
    assert reply.text.startswith("Nothing was done: that says not to") and reply.error is None
    assert editor.current_version == 1 and planner.calls == 1 and reply.version is None
    assert editor.conversation[-2:] == [("user", text), ("assistant", reply.text)]


def test_questions_about_the_versions_are_answered_from_the_tree_without_a_model(make):
    """"show history", "list the versions", "which version is this?" are answered from the version tree (the
    planner is never asked); the answer names every version and the current one, and an open question stays."""
    editor = make(recolor("cup", "red", selector="leftmost"), recolor("table", "blue"), recolor("cup", "green"))
    editor.send("make the left cup red")
    editor.send("make the table blue")
    editor.send("undo")
    planner = editor._planner
    calls = planner.calls
    text = editor.send("can you show me the history?").text
    assert text.startswith('This is version 1, made by "make the left cup red", of 3 versions.')
    assert 'v0: the original; v1: "make the left cup red" ← current; v2: "make the table blue"' in text
    assert editor.send("which version is this").text == \
        'This is version 1, made by "make the left cup red", of 3 versions.'
    assert editor.current_version == 1 and planner.calls == calls
    asked = editor.send("make the cup green")                   # two cups: a question opens
    assert asked.question is not None
    reply = editor.send("list all the versions please")
    assert reply.text.endswith("The question is still open.") and reply.question == asked.question
    assert editor.pending_question == asked.question and planner.calls == calls + 1
    assert editor.send("the right one").version == 3            # the answer still answers it
    assert "v3: \"make the cup green\" (from v1) ← current" in editor.send("history").text
    said = [text for role, text in editor.conversation if role == "user"]
    assert "can you show me the history?" in said and "list all the versions please" in said
