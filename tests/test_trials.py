"""Hand trials turned into tests: what broke when the product was used as a user and a hostile environment would.

A served planner that fails in the middle of a question (a real server on localhost: it lists its model, so a
probe finds it up, but its chat endpoint fails, as when it is killed between the probe and the request); a
reference given as a picture; a damaged file whose name new pixels share; the TUI's replies that come with a
question; a damaged recorded reference; a run killed before its transcript.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.editor import Editor
from agent.served import served_planner
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tests.openai_server import Served, closed_port

LEFT, RIGHT = (60, 80, 200, 240), (380, 60, 540, 230)


@pytest.fixture(scope="module")
def server():
    with Served() as served:
        yield served


@pytest.fixture
def asked(tmp_path, coffee, tiny_profile):
    """``asked(url)``: an Editor on a served planner at ``url`` with "which cup?" pending."""
    opened: list[Editor] = []

    def _open(url: str) -> Editor:
        toolkit = FixedDetections(tiny_profile, {"cup": [det(LEFT, 0.8), det(RIGHT, 0.78)]})
        planner = served_planner(url, model="m", timeout_s=2.0, retries=1, backoff_s=0.05)
        editor = Editor.open(coffee, profile=tiny_profile, session_dir=tmp_path / f"s{len(opened)}",
                             planner=planner, toolkit=toolkit)
        opened.append(editor)
        assert editor.send("make the cup red").question is not None      # the offline grammar plans it, and asks
        return editor

    yield _open
    for editor in opened:
        editor.close()


@pytest.mark.parametrize("down", ["refused", "http 500"])
def test_an_answer_only_the_planner_could_read_says_the_planner_failed(server, asked, down):
    server.fake.reset()
    url = server.url if down == "http 500" else f"http://127.0.0.1:{closed_port()}/v1"
    editor = asked(url)
    server.fake.mode = "fail"
    reply = editor.answer("the one with the chip in it")
    assert reply.text.startswith(f"The planner at {url} ") and "\n" not in reply.text
    assert "the question is still open" in reply.text and reply.version is None and reply.error
    assert reply.question is not None and editor.pending_question is not None and editor.current_version == 0
    assert ("user", "the one with the chip in it") in editor.conversation
    assert editor.answer(1).version == 1                                     # and it can still be answered


@pytest.mark.slow
def test_a_reference_given_as_a_picture_is_named_in_plain_words(tmp_path, coffee, tiny_profile):
    toolkit = FixedDetections(tiny_profile, {"cup": [det(LEFT, 0.8)]}, engine="flux2-klein")
    planner = QueuePlanner().push(plan({"action": "replace", "referent": {"phrase": "cup"}, "content": "a hat"}))
    with Editor.open(coffee.resize((300, 200)), profile=tiny_profile, session_dir=tmp_path / "s", planner=planner,
                     toolkit=toolkit) as editor:
        reply = editor.send("replace the cup with a hat", reference=coffee.crop((0, 0, 64, 48)))
    assert reply.version == 1 and "It follows your reference image (64x48)." in reply.text
    assert "image an image" not in reply.text


def test_a_version_whose_pixels_match_a_damaged_file_is_written_again(tmp_path, coffee, tiny_profile):
    red = plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "red"})
    toolkit = FixedDetections(tiny_profile, {"cup": [det((10, 20, 50, 60), 0.9)]})
    root = tmp_path / "s"
    with Editor.open(coffee.resize((150, 100)), profile=tiny_profile, session_dir=root,
                     planner=QueuePlanner().push(red, red), toolkit=toolkit) as editor:
        assert editor.send("make the cup red").version == 1
        editor.flush()
        first = editor.store.image_path(editor.store.history[1].image)
        first.write_bytes(first.read_bytes()[:200])                  # a bad disk took the end of v1's file
        editor.revert(0)
        again = editor.send("make the cup red")                      # the same pixels: the same name as v1
        assert again.version == 2 and editor.store.history[2].image == editor.store.history[1].image
        pixels = np.asarray(editor.current_image)
    with Editor.open(root, profile=tiny_profile, planner=QueuePlanner(), toolkit=toolkit) as reopened:
        assert np.array_equal(np.asarray(reopened.version_image(2)), pixels)   # what the reply announced is on disk


@pytest.mark.slow
def test_the_tui_shows_what_a_reply_says_besides_its_question(tmp_path):
    from tui_pilot import chat_texts, drive, settle, type_line

    async def script(app, pilot):
        await type_line(pilot, "make the cup red")  # planned by the grammar; tiny DINO: many cups
        await settle(app, pilot)
        assert app.editor.pending_question is not None
        await pilot.press("escape")                                  # answer later
        await type_line(pilot, "revert to 99")
        await settle(app, pilot)
        said = chat_texts(app)
        assert any(t.startswith("There is no version 99") and "The question is still open" in t for t in said), said
        assert any(t.startswith("(Planned by the offline grammar") for t in said), said
        assert app.editor.pending_question is not None

    drive(script, tmp_path / "s")


@pytest.mark.slow
def test_a_damaged_recorded_reference_is_a_one_line_error_before_a_replay(tmp_path, chelsea):
    from agent.scripted.runner import play
    from agent.scripted.script import script_from_file, script_from_transcript
    from agent.scripted.session_file import load_session_file
    from tools.errors import InvalidInputError

    chelsea.crop((100, 20, 300, 180)).save(tmp_path / "hat.png")
    (tmp_path / "hat.yaml").write_text("image: coffee\nprofile: tiny\nturns:\n  - user: replace this with a straw hat\n"
                                       "    reference: hat.png\n    box: [200, 150, 320, 260]\n")
    record = play(script_from_file(load_session_file(tmp_path / "hat.yaml")), tmp_path / "out")
    kept = tmp_path / "out" / record.turns[0].reference
    kept.write_bytes(kept.read_bytes()[:300])                      # the copy in the transcript's folder is cut short
    with pytest.raises(InvalidInputError) as e:
        script_from_transcript(tmp_path / "out" / "transcript.json")
    assert f"the reference image {kept} recorded for turn" in str(e.value) and "damaged" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_a_run_killed_before_its_transcript_can_be_run_again_into_the_same_out(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from agent.scripted.runner import EXIT_OK, run_main

    session = tmp_path / "s.yaml"
    session.write_text("image: coffee\nturns:\n  - user: remove the cup\n    box: [200, 150, 320, 260]\n  - undo: 1\n")
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "agent.scripted.runner", str(session), "--out", str(out),
                            "--profile", "tiny"], cwd=Path(__file__).resolve().parents[1],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "session" / "history.json").is_file():      # the session is open: kill it there
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(30)
    assert not (out / "transcript.json").exists()
    assert run_main([str(session), "--out", str(out), "--profile", "tiny"]) == EXIT_OK
    assert (out / "transcript.json").is_file()


def test_a_reference_given_again_replaces_its_damaged_copy(tmp_path, coffee, chelsea, tiny_profile):
    hat = chelsea.crop((100, 20, 300, 180))
    toolkit = FixedDetections(tiny_profile, {"cup": [det((10, 20, 50, 60), 0.9)]})
    replace = plan({"action": "replace", "referent": {"phrase": "cup"}, "content": "a hat"})
    with Editor.open(coffee.resize((150, 100)), profile=tiny_profile, session_dir=tmp_path / "s",
                     planner=QueuePlanner().push(replace, replace), toolkit=toolkit) as editor:
        assert editor.send("replace the cup with a hat", reference=hat).version == 1
        kept = next((tmp_path / "s" / "references").iterdir())
        kept.write_bytes(kept.read_bytes()[:300])                    # a bad disk took the end of the copy
        assert editor.send("replace the cup with a hat", reference=hat).version == 2
        assert editor.store.load_reference(kept.stem).size == hat.size   # v2's reference is whole again


def test_a_new_instruction_the_served_planner_then_fails_to_plan_keeps_the_question(server, asked):
    """The server lists its models (the probe passes) but fails the plan: the question stays open."""
    server.fake.reset()
    editor = asked(server.url)
    question = editor.pending_question
    server.fake.mode = "fail"
    reply = editor.send("actually give the whole scene a gloomy autumn mood")
    assert reply.version is None and reply.error and "\n" not in reply.text
    assert "was not done; the question is still open" in reply.text and "Dropped" not in reply.text
    assert reply.question == question and editor.pending_question == question and editor.current_version == 0
    assert editor.answer(1).version == 1                                     # and it can still be answered


def test_a_new_instruction_the_served_planner_plans_drops_the_question_and_keeps_its_replies(server, asked):
    server.fake.reset()
    editor = asked(server.url)
    plan = {"reasoning": "The user wants the whole scene gloomy and autumnal.",
            "steps": [{"action": "global", "content": "a gloomy autumn mood"}]}
    server.fake.push(plan)
    reply = editor.send("actually give the whole scene a gloomy autumn mood")
    assert reply.text.startswith("(Dropped the question about the cup.)") and reply.version == 1, reply.text
    assert editor.pending_question is None and reply.planned_by["kind"] == "planner"
    assert [json.loads(r)["steps"] for r in reply.planner_replies] == [plan["steps"]]
