"""The served planner against a real OpenAI-compatible HTTP server on localhost (FastAPI + uvicorn).

The server's replies are scripted; everything else is real: langchain-openai's client and its HTTP
requests, the agent's graph, and the tiny profile's models editing the photo. No test talks to
anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import pickle

import numpy as np
import pytest
from PIL import Image

from agent.editor import Editor
from agent.graph.planning import VERDICT_SCHEMA, decoding_schema
from agent.served import (
    PlannerServerError,
    ServedPlanner,
    ServerSettings,
    check_url,
    from_settings,
    served_planner,
    settings_from,
)
from tests.agent_fakes import FixedDetections, det, plan
from tests.openai_server import Served, closed_port
from tools.errors import InvalidInputError

LEFT, RIGHT = (60, 80, 200, 240), (380, 60, 540, 230)
RECOLOR = plan({"action": "recolor", "referent": {"phrase": "cup", "box": [60, 80, 200, 240]}, "content": "red"})
VAGUE = "make it better somehow"
"""Words the offline grammar cannot read: with the server down, only the one-line reply answers them."""


@pytest.fixture(scope="module")
def server():
    with Served() as served:
        yield served


@pytest.fixture
def fake(server):
    server.fake.reset()
    return server.fake


@pytest.fixture
def open_editor(tmp_path, coffee, tiny_profile):
    """``open_editor(planner, **profile_changes)``: an Editor on the coffee photo with the tiny models."""
    opened: list[Editor] = []

    def _open(planner, image=None, **changes) -> Editor:
        profile = dataclasses.replace(tiny_profile, **changes)
        toolkit = FixedDetections(profile, {"cup": [det(LEFT, 0.8), det(RIGHT, 0.78)]})
        editor = Editor.open(coffee if image is None else image, profile=profile,
                             session_dir=tmp_path / f"s{len(opened)}", planner=planner, toolkit=toolkit)
        opened.append(editor)
        return editor

    yield _open
    for editor in opened:
        editor.close()


def quick(url: str, **kwargs) -> ServedPlanner:
    """A served planner with the test suite's short timeout and backoff."""
    return served_planner(url, **{"timeout_s": 1.0, "retries": 1, "backoff_s": 0.05, **kwargs})


def images_of(body: dict) -> list[Image.Image]:
    """The images a chat request carries (data URLs only; anything else fails the test)."""
    found = []
    for message in body["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "image_url":
                url = block["image_url"]["url"]
                assert url.startswith("data:image/"), url[:40]
                found.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    return found


def history_of(editor: Editor) -> dict:
    return json.loads((editor.session_dir / "history.json").read_text())


# -- a working server -------------------------------------------------------------------------------


def test_served_plans_drive_real_edits_with_the_schema_and_a_planner_sized_image(fake, server, open_editor, coffee):
    fake.push(RECOLOR, '"yes"')
    editor = open_editor(quick(server.url), planner_image="frame", verify=True)
    reply = editor.send("make the left cup red")
    assert reply.version == 1 and reply.error is None, reply.text
    plan_request, verdict_request = fake.requests
    assert plan_request["model"] == "served-llava" and fake.model_lists == 1      # the only model, asked once
    assert plan_request["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "reply", "schema": decoding_schema(), "strict": True}}
    [sent] = images_of(plan_request)
    assert max(sent.size) == 384 and sent.size == (384, 256)                    # one 384² view, not 600x400
    assert verdict_request["response_format"]["json_schema"]["schema"] == VERDICT_SCHEMA
    assert [im.size for im in images_of(verdict_request)] == [(384, 256)] * 2     # before and after, same size
    assert verdict_request["model"] == "served-llava"
    version = history_of(editor)["versions"][1]
    assert version["planned_by"] == {"kind": "planner", "class": "ServedPlanner", "model": "served-llava",
                                     "endpoint": server.url}
    assert version["steps"][0]["verified"] is True and version["models"]["planner"] == "served-llava"
    before, after = np.asarray(coffee.convert("RGB")), np.asarray(editor.current_image)
    changed = np.any(before != after, axis=-1)
    mask = editor.version_mask(1)
    assert changed.any() and not changed[~mask].any()                             # only inside the edit's mask


def test_a_named_model_is_used_as_given_and_the_anyres_side_caps_a_large_photo(fake, server, open_editor, coffee):
    fake.models = ["one", "two"]
    fake.push(RECOLOR)
    editor = open_editor(quick(server.url, model="two"), image=coffee.resize((1800, 1200)))
    editor.send("make the left cup red")
    assert fake.requests[0]["model"] == "two" and fake.model_lists == 0
    assert images_of(fake.requests[0])[0].size == (1152, 768)                   # the anyres grid's side


def test_the_first_listed_model_is_taken_when_several_are_served(fake, server):
    fake.models = ["first", "second"]
    fake.push('{"ok": true}')
    planner = quick(server.url)
    assert planner.invoke("hello").content == '{"ok": true}'
    assert planner.model_name == "first" and fake.requests[0]["model"] == "first"
    assert planner.label.startswith("first @ 127.0.0.1:")


# -- a server that fails: one line, nothing lost ------------------------------------------------------


def assert_nothing_lost(editor: Editor, reply, said: str) -> None:
    assert reply.version is None and editor.current_version == 0 and len(editor.history) == 1
    assert "\n" not in reply.text and reply.text.endswith("Nothing changed.")
    assert editor.conversation[-2:] == [("user", said), ("assistant", reply.text)]
    assert len(history_of(editor)["versions"]) == 1                              # on disk too


def test_a_closed_port_is_one_line_that_says_to_start_it(open_editor):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    editor = open_editor(quick(url, model="m"))
    reply = editor.send(VAGUE)
    assert reply.text == (f"The planner at {url} is not reachable (connection refused, 2 tries); start it "
                          "(see README 'Serving the planner') or run without a served planner (no --planner, "
                          "no $CHATEDIT_PLANNER_URL). Nothing changed.")
    assert_nothing_lost(editor, reply, VAGUE)


def test_http_500s_are_retried_then_said(fake, server, open_editor):
    fake.mode = "fail"
    editor = open_editor(quick(server.url, model="m"))
    reply = editor.send(VAGUE)
    assert len(fake.requests) == 2                                              # the first try and one retry
    assert reply.text.startswith(f"The planner at {server.url} failed (HTTP 500: the engine fell over, 2 tries); "
                                 "see its log and restart it")
    assert_nothing_lost(editor, reply, VAGUE)


def test_a_slow_server_is_not_waited_for_twice(fake, server, open_editor):
    fake.mode, fake.delay_s = "slow", 1.5
    editor = open_editor(quick(server.url, model="m", timeout_s=0.3))
    reply = editor.send(VAGUE)
    assert len(fake.requests) == 1
    assert reply.text.startswith(f"The planner at {server.url} did not answer within 0.3 s; check its load")
    assert_nothing_lost(editor, reply, VAGUE)


def test_a_body_that_is_not_a_chat_reply_is_said(fake, server, open_editor):
    fake.mode = "html"
    editor = open_editor(quick(server.url, model="m"))
    reply = editor.send(VAGUE)
    assert "answered with something that is not a chat reply" in reply.text and "ending in /v1" in reply.text
    assert_nothing_lost(editor, reply, VAGUE)


def test_a_server_that_trickles_its_answer_is_cut_at_the_timeout_in_all(fake, server, open_editor):
    """Every byte comes well within the read timeout, the whole answer would take a minute: httpx alone waits."""
    import time

    fake.mode, fake.delay_s = "trickle", 0.15
    fake.push(RECOLOR)
    editor = open_editor(quick(server.url, model="m", timeout_s=1.0))
    start = time.monotonic()
    reply = editor.send(VAGUE)
    assert time.monotonic() - start < 5 and len(fake.requests) == 1             # a timeout is not retried
    assert reply.text.startswith(f"The planner at {server.url} did not answer within 1 s; check its load")
    assert_nothing_lost(editor, reply, VAGUE)


def test_an_answer_too_large_to_be_a_reply_is_refused_as_it_arrives(fake, server, open_editor, monkeypatch):
    import agent.served

    monkeypatch.setattr(agent.served, "MAX_ANSWER_BYTES", 50_000)
    fake.push("x" * 60_000)
    editor = open_editor(quick(server.url, model="m"))
    reply = editor.send(VAGUE)
    assert len(fake.requests) == 1                                               # not retried
    assert reply.text == (f"The planner at {server.url} answered with more than 0.05 MB, not a chat reply; see its "
                          "log, or give --planner the server's OpenAI-compatible address. Nothing changed.")
    assert_nothing_lost(editor, reply, VAGUE)


def test_no_choices_and_a_cut_off_reply_are_one_line_each(fake, server, open_editor):
    fake.mode = "no-choices"
    editor = open_editor(quick(server.url, model="m"))
    reply = editor.send(VAGUE)
    assert reply.text == (f"The planner at {server.url} answered with no reply (an empty list of choices); see its "
                          "log, or serve the planner with vLLM or Ollama's /v1. Nothing changed.")
    assert_nothing_lost(editor, reply, VAGUE)
    fake.mode = "length"
    fake.push(json.dumps(RECOLOR)[:30])
    reply = editor.send(VAGUE)
    assert reply.text == (f"The planner at {server.url} cut its reply off at the token limit before the plan was "
                          "complete; give it a larger max_tokens, or serve a model that answers in fewer tokens. "
                          "Nothing changed.")
    assert_nothing_lost(editor, reply, VAGUE)


@pytest.mark.parametrize("replies", [("no plan here", "still none"),
                                     ({"reasoning": "x", "steps": [{"action": "fly"}]}, "{not json")])
def test_garbage_plans_are_re_asked_once_then_said(fake, server, open_editor, replies):
    fake.push(*replies)
    editor = open_editor(quick(server.url, model="m"))
    reply = editor.send("make the left cup red")
    assert len(fake.requests) == 2
    repair = fake.requests[1]["messages"][-1]["content"]
    assert isinstance(repair, str) and repair                                    # the re-ask says what was wrong
    assert "no valid plan after a retry" in reply.text and "\n" not in reply.text
    assert reply.version is None and editor.current_version == 0
    assert editor.conversation[-1] == ("assistant", reply.text)


def test_a_wrong_address_is_said_with_the_right_form(server, open_editor):
    url = server.url.removesuffix("/v1")
    editor = open_editor(quick(url, model="m"))
    reply = editor.send(VAGUE)
    assert reply.text.startswith(f"The planner at {url} answered HTTP 404: Not Found (model m); give --planner its "
                                 "OpenAI-compatible address (ending in /v1)")
    assert_nothing_lost(editor, reply, VAGUE)


def test_a_server_listing_no_models_is_said(fake, server, open_editor):
    fake.models = []
    editor = open_editor(quick(server.url))
    reply = editor.send(VAGUE)
    assert f"The planner at {server.url} lists no models" in reply.text and "--planner-model" in reply.text
    assert fake.requests == []
    assert_nothing_lost(editor, reply, VAGUE)


def test_the_grammar_still_plans_what_it_reads_and_says_why(open_editor):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    editor = open_editor(quick(url, model="m", retries=0))
    reply = editor.send("make the left cup red")
    assert reply.version == 1 and reply.planned_by == {"kind": "grammar"}
    assert reply.text.startswith(f"(Planned by the offline grammar: the planner at {url} is not reachable "
                                 "(connection refused); start it")


def test_a_pending_question_survives_a_server_that_is_down(open_editor):
    editor = open_editor(quick(f"http://127.0.0.1:{closed_port()}/v1", model="m", retries=0))
    asked = editor.send("make the cup red")                                     # the grammar plans it, and asks
    assert asked.question is not None and len(asked.question.candidates) == 2
    reply = editor.answer("the one with the chip in it")                          # only a planner could read this
    assert reply.question is not None and editor.pending_question is not None and reply.version is None
    assert editor.current_version == 0 and ("user", "the one with the chip in it") in editor.conversation


def test_a_new_instruction_while_the_server_is_down_keeps_the_question(open_editor):
    editor = open_editor(quick(f"http://127.0.0.1:{closed_port()}/v1", model="m", retries=0))
    asked = editor.send("make the cup red")
    assert asked.question is not None
    reply = editor.send("actually, give the whole scene a gloomy autumn mood")   # an instruction only a planner reads
    assert "not reachable" in reply.text and "the question is still open" in reply.text
    assert reply.question is not None and editor.pending_question is not None and reply.version is None
    assert editor.answer(1).version == 1                                          # and it can still be answered
    grammar = editor.send("make the cup red")                                       # the grammar reads: asked again
    assert grammar.question is not None
    moved_on = editor.send("actually, make the saucer blue")                        # read offline: the question goes
    assert moved_on.text.startswith("(Dropped the question") and editor.pending_question is None


# -- settings -------------------------------------------------------------------------------------


def test_settings_come_from_flags_then_the_environment(monkeypatch):
    monkeypatch.delenv("CHATEDIT_PLANNER_URL", raising=False)
    monkeypatch.delenv("CHATEDIT_PLANNER_MODEL", raising=False)
    assert from_settings(None) is None
    monkeypatch.setenv("CHATEDIT_PLANNER_URL", "http://gpu-box:8000/v1/")
    monkeypatch.setenv("CHATEDIT_PLANNER_MODEL", "llava-ov")
    monkeypatch.setenv("CHATEDIT_PLANNER_TIMEOUT", "12.5")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    planner = from_settings(None)
    assert planner.endpoint == "http://gpu-box:8000/v1" and planner.model_name == "llava-ov"
    assert planner.request_timeout == 12.5 and planner.openai_api_key.get_secret_value() == "not-needed"
    settings = settings_from(None)
    assert settings == ServerSettings("http://gpu-box:8000/v1", "llava-ov", 12.5)
    assert pickle.loads(pickle.dumps(settings)) == settings                       # it travels to worker processes
    given = from_settings("https://other:9000/v1", "m2")
    assert given.endpoint == "https://other:9000/v1" and given.model_name == "m2"
    monkeypatch.setenv("CHATEDIT_PLANNER_TIMEOUT", "soon")
    with pytest.raises(InvalidInputError, match="CHATEDIT_PLANNER_TIMEOUT must be a number"):
        from_settings(None)


@pytest.mark.parametrize("bad", ["localhost:8000", "ftp://host/v1", "http://", "http://host:99999/v1", ""])
def test_a_bad_url_is_one_line(bad):
    with pytest.raises(InvalidInputError, match="planner URL"):
        check_url(bad)


def test_editor_open_takes_a_url_and_sizes_images_by_the_profile(open_editor, server):
    editor = open_editor(server.url, planner_image="frame")
    assert isinstance(editor.planner, ServedPlanner) and editor.planner.image_side == 384
    assert editor.planner.endpoint == server.url


def test_server_errors_are_connection_errors_the_agent_recognises():
    from agent.graph.planning import is_unreachable

    error = PlannerServerError("http://h:1/v1", "is not reachable (connection refused)")
    assert is_unreachable(error) and str(error).endswith("(no --planner, no $CHATEDIT_PLANNER_URL).")


# -- the command lines and the TUI ------------------------------------------------------------------


def test_chatedit_takes_planner_flags_and_refuses_a_bad_url_in_one_line(monkeypatch, capsys):
    import tui

    monkeypatch.delenv("CHATEDIT_PLANNER_URL", raising=False)
    parser = tui.build_parser()
    args = parser.parse_args(["coffee", "--planner", "http://gpu-box:8000/v1", "--planner-model", "llava-ov"])
    planner = tui.served_planner_from(args, parser)
    assert isinstance(planner, ServedPlanner) and planner.label == "llava-ov @ gpu-box:8000"
    assert tui.served_planner_from(parser.parse_args(["coffee"]), parser) is None
    with pytest.raises(SystemExit):
        tui.served_planner_from(parser.parse_args(["--planner", "gpu-box:8000"]), parser)
    assert "the planner URL must look like http://host:8000/v1, got 'gpu-box:8000'" in capsys.readouterr().err


def test_chatedit_run_plays_unpinned_turns_on_the_served_planner(fake, server, tmp_path, capsys):
    from agent.scripted.runner import run_main

    session = tmp_path / "served.yaml"
    session.write_text("image: coffee\nprofile: tiny\nturns:\n  - user: make the left cup red\n"
                       "    expect: {edited: true, version: 1, within_mask: true}\n")
    fake.push(RECOLOR)
    assert run_main([str(session), "--out", str(tmp_path / "out"), "--planner", server.url]) == 0, \
        capsys.readouterr().err
    transcript = json.loads((tmp_path / "out" / "transcript.json").read_text())
    assert transcript["turns"][0]["planner_replies"] == [json.dumps(RECOLOR)]
    assert fake.requests[0]["response_format"]["json_schema"]["strict"] is True
    history = json.loads((tmp_path / "out" / "session" / "history.json").read_text())
    assert history["versions"][1]["planned_by"] == {"kind": "planner", "class": "ScriptedPlanner",
                                                    "model": "served-llava", "endpoint": server.url}
    assert run_main([str(session), "--out", str(tmp_path / "bad"), "--planner", "gpu-box"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "chatedit run: the planner URL must look like http://host:8000/v1, got 'gpu-box'"


@pytest.mark.slow
def test_worker_processes_take_the_served_planner_along(fake, server, tmp_path, capsys):
    from agent.scripted.runner import run_main

    files = []
    for name in ("one", "two"):
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text("image: coffee\nprofile: tiny\nturns:\n  - user: make the left cup red\n"
                             "    expect: {edited: true, version: 1}\n")
    fake.push(RECOLOR, RECOLOR)
    code = run_main([*map(str, files), "--out", str(tmp_path / "out"), "--jobs", "2", "--planner", server.url])
    assert code == 0, capsys.readouterr().err
    assert len(fake.requests) == 2 and all(r["model"] == "served-llava" for r in fake.requests)
    for name in ("one", "two"):
        history = json.loads((tmp_path / "out" / name / "session" / "history.json").read_text())
        assert history["versions"][1]["planned_by"]["endpoint"] == server.url


async def _settle(app, pilot) -> None:
    await pilot.pause()
    for _ in range(6000):
        if not app.busy:
            break
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")
def test_the_tui_names_the_served_planner_and_says_when_it_is_down(fake, server, tmp_path):
    import asyncio

    import tui
    from tools.samples import sample_path

    fake.push(RECOLOR)

    async def go(planner, session: str, turn: bool) -> tuple[list[str], str, str]:
        app = tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=tmp_path / session, planner=planner,
                              image_mode="halfcell")
        async with app.run_test(size=(200, 40)) as pilot:
            await _settle(app, pilot)
            before = str(app.query_one(tui.StatusLine).render())
            if turn:
                await pilot.press(*"make the left cup red")
                await pilot.press("enter")
                await _settle(app, pilot)
            chat = [m.source_text for m in app.query(".message")]
            return chat, before, str(app.query_one(tui.StatusLine).render())

    chat, before, after = asyncio.run(go(quick(server.url), "up", True))
    where = server.url.removeprefix("http://").removesuffix("/v1")
    assert f"planner {where} ·" in before and f"planner served-llava @ {where} ·" in after
    assert not any("not reachable" in m for m in chat) and any("(version 1)" in m for m in chat)
    down = f"http://127.0.0.1:{closed_port()}/v1"
    chat, before, _ = asyncio.run(go(quick(down, model="m"), "down", False))
    assert any(f"The planner at {down} is not reachable (connection refused); start it" in m for m in chat)
    assert "planner m @ 127.0.0.1:" in before


def test_the_served_benchmark_runs_and_reports_every_row(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_served.py"
    spec = importlib.util.spec_from_file_location("bench_served", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--size", "640x480", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "plain ChatOpenAI, whole photo" in out and out.count("ServedPlanner") == 2
