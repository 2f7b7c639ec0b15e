"""The scripted-session runner: file validation with line numbers, checks, pinned planner, outputs, replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image

from agent.scripted.checks import Outcome, check
from agent.scripted.runner import EXIT_BAD_FILE, EXIT_FAILED, EXIT_OK, run_main
from agent.scripted.scripted_planner import ReplayExhausted, ScriptedPlanner
from agent.scripted.session_file import SessionFileError, parse_text
from agent.scripted.transcript import read_json

PLAN_ASK = '{reasoning: vague, steps: [{action: ask, content: "What should change?"}]}'


def parse(text: str, base: Path | None = None):
    return parse_text(text, where="sessions/x.yaml", base=base or Path("."))


def error_of(text: str, base: Path | None = None) -> str:
    with pytest.raises(SessionFileError) as info:
        parse(text, base)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the file ----------------------------------------------------------------------------------

def test_a_valid_file_parses_with_turn_lines_and_pinned_replies():
    sf = parse("image: coffee\nseed: 3\nturns:\n  - user: make it better\n    plan: " + PLAN_ASK + "\n"
               "  - answer: 2\n  - undo: 1\n    expect: {version: 0}\n")
    assert [t.kind for t in sf.spec.turns] == ["user", "answer", "undo"]
    assert sf.turn_lines == (4, 6, 7)
    assert sf.spec.seed == 3 and sf.image_path.name == "coffee.png"
    [reply] = sf.spec.turns[0].pinned_replies()
    assert json.loads(reply)["steps"][0] == {"action": "ask", "content": "What should change?"}
    assert sf.spec.turns[2].expect.version == 0


def test_verdicts_are_pinned_after_the_plan_and_verify_reaches_the_script():
    from agent.scripted.script import script_from_file

    sf = parse("image: coffee\nverify: true\nturns:\n  - user: make it better\n    plan: " + PLAN_ASK + "\n"
               "    verdicts: [\"no\", \"maybe?\"]\n")
    replies = sf.spec.turns[0].pinned_replies()
    assert len(replies) == 3 and replies[1:] == ["no", "maybe?"] and json.loads(replies[0])["steps"]
    assert sf.spec.verify is True and script_from_file(sf).verify is True
    assert script_from_file(parse("image: coffee\nturns:\n  - user: hi\n")).verify is None


def test_an_unknown_key_names_the_line_the_turn_and_a_suggestion():
    text = "image: coffee\nturns:\n  - user: hi\n  - answer: 2\n    expct: {asked: true}\n"
    assert error_of(text) == ("sessions/x.yaml line 5: unknown key 'expct' in turn 2 (did you mean 'expect'?)")


@pytest.mark.parametrize(("text", "line", "words"), [
    ("image: coffee\nturns:\n  - user: [unclosed\n", 4, "YAML syntax error"),
    ("image: nowhere.png\nturns:\n  - user: hi\n", 1, "image 'nowhere.png' is neither a file"),
    ("image: coffee\nturns:\n  - user: hi\n    expect: {version: two}\n", 4, "turn 1's expect.version"),
    ("image: coffee\nturns:\n  - user: hi\n  - user: no\n", 4, "quote it"),
    ("image: coffee\nturns:\n  - user: hi\n    undo: 1\n", 3, "exactly one of user, answer, undo, redo, revert"),
    ("image: coffee\nturns:\n  - undo: 1\n    plan: {reasoning: r, steps: [{action: undo}]}\n", 3,
     "runs without the planner"),
    ("image: coffee\nturns:\n  - user: hi\n    plan: {reasoning: r, steps: [{action: recolr}]}\n", 4,
     "turn 1's plan.steps[0].action"),
    ("image: coffee\nimage: chelsea\nturns: []\n", 2, "duplicate key 'image'"),
    ("image: coffee\nturns: []\n", 2, "turns is empty; give at least one turn"),
    ("turns:\n  - user: hi\n", 1, "the session needs 'image'"),
    ("", 1, "the file is empty"),
    ("- just a list\n", 1, "must be a mapping"),
    ("image: coffee\nturns:\n  - user: hi\n    verdicts: [\"no\"]\n", 3, "verdicts follow a plan"),
    ("image: coffee\nturns:\n  - user: hi\n    plan: " + PLAN_ASK + "\n    verdicts: [no]\n", 5, "quote it"),
    ("image: coffee\nverify: maybe\nturns:\n  - user: hi\n", 2, "verify"),
])
def test_bad_files_name_the_line(text, line, words):
    message = error_of(text)
    assert message.startswith(f"sessions/x.yaml line {line}: "), message
    assert words in message


def test_an_image_path_is_relative_to_the_session_file(tmp_path, coffee):
    (tmp_path / "pics").mkdir()
    coffee.resize((64, 48)).save(tmp_path / "pics" / "cup.png")
    sf = parse("image: pics/cup.png\nturns:\n  - undo: 1\n", base=tmp_path)
    assert sf.image_path == (tmp_path / "pics" / "cup.png").resolve()


def test_run_main_exits_2_with_the_line_for_a_bad_file(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("image: coffee\nturns:\n  - user: hi\n    expct: {edited: true}\n")
    assert run_main([str(path), "--out", str(tmp_path / "out")]) == EXIT_BAD_FILE
    err = capsys.readouterr().err.strip()
    assert err == f"{path} line 4: unknown key 'expct' in turn 1 (did you mean 'expect'?)"
    assert not (tmp_path / "out").exists()


def test_run_main_refuses_an_out_folder_holding_other_files(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("image: coffee\nturns:\n  - undo: 1\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    assert run_main([str(path), "--out", str(tmp_path / "out"), "--profile", "tiny"]) == EXIT_BAD_FILE
    assert "holds other files" in capsys.readouterr().err
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


# -- checks ------------------------------------------------------------------------------------

def _outcome(before: np.ndarray, after: np.ndarray, **kw) -> Outcome:
    base = {"new_version": None, "version": 0, "asked": None, "reply": "", "error": None, "mask": None}
    return Outcome(before=Image.fromarray(before), after=Image.fromarray(after), **{**base, **kw})


def test_checks_report_each_failed_expectation():
    img = np.zeros((8, 8, 3), np.uint8)
    changed = img.copy()
    changed[0, 0] = 255
    mask = np.zeros((8, 8), bool)
    mask[4:, 4:] = True
    out = _outcome(img, changed, new_version=2, version=2, mask=mask, reply="Done.")
    assert check({"version": 2, "edited": True}, out) == []
    assert check({"version": 1}, out) == ["expected version 1, got 2"]
    assert check({"unchanged": True}, out) == ["expected unchanged: yes, got changed (1 pixels changed)"]
    assert check({"within_mask": True}, out) == ["expected the change within the edit mask, got 1 changed pixels "
                                                 "outside it"]
    assert check({"asked": True, "candidates": 3}, out) == ["expected asked: yes, got no question",
                                                            "expected 3 candidates, got no question"]
    assert check({"reply_contains": "done"}, out) == []
    mask[0, 0] = True
    assert check({"within_mask": True}, _outcome(img, changed, new_version=2, version=2, mask=mask)) == []
    assert check({"unchanged": True, "edited": False}, _outcome(img, img.copy())) == []


# -- the pinned planner ------------------------------------------------------------------------

def test_scripted_planner_uses_pinned_replies_then_the_live_model():
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    loads = []

    def live():
        loads.append(1)
        return GenericFakeChatModel(messages=iter(["live reply"]))

    planner = ScriptedPlanner(live=live)
    planner.pin(["first", "second"], turn="turn 1")
    assert planner.invoke([HumanMessage("x")]).content == "first"
    assert planner.take_log() == (["first"], 1)
    assert not planner.loaded
    planner.pin([], turn="turn 2")
    assert planner.invoke([HumanMessage("x")]).content == "live reply"
    assert planner.take_log() == (["live reply"], 0) and loads == [1]


def test_scripted_planner_without_a_live_model_refuses_to_guess():
    planner = ScriptedPlanner()
    planner.pin([], turn="turn 4")
    with pytest.raises(ReplayExhausted, match="turn 4"):
        planner.invoke([HumanMessage("x")])


class _Constrained(BaseChatModel):
    """A live planner that decodes to the schema it is given: without one it rambles (as an unconstrained
    small model does), with one it answers a valid plan."""

    supports_json_schema: bool = True
    schemas: list = []

    @property
    def _llm_type(self) -> str:
        return "constrained-fake"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        schema = kwargs.get("json_schema")
        self.schemas.append(schema)
        text = ('{"reasoning": "a style change", "steps": [{"action": "global", "content": "make it autumn"}]}'
                if schema is not None else "Sure! I would make it look like autumn.")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def test_the_scripted_planner_reports_the_live_models_constraint_and_pins_stay_as_they_are():
    from agent.graph.planning import decoding_schema, make_plan

    loads = []
    planner = ScriptedPlanner(live=lambda: loads.append(1) or _Constrained(schemas=[]))
    planner.pin(["not json at all", '{"reasoning": "r", "steps": [{"action": "undo"}]}'])
    assert planner.supports_json_schema is False and loads == []     # pinned: nothing loaded to know
    outcome = make_plan(planner, image=None, digest="", text="undo that")
    assert outcome.replies == ("not json at all", '{"reasoning": "r", "steps": [{"action": "undo"}]}')
    planner.pin([])
    assert planner.supports_json_schema is True and loads == [1]     # unpinned: the live model's own answer
    outcome = make_plan(planner, image=None, digest="", text="make it autumn")
    assert outcome.plan is not None and planner._live().schemas == [decoding_schema()]
    known = ScriptedPlanner(live=lambda: loads.append(2) or _Constrained(schemas=[]), live_constrains=True)
    known.pin(['{"reasoning": "r", "steps": [{"action": "undo"}]}'])
    assert known.supports_json_schema is True and loads == [1]       # told by the runner: never loaded to know


def test_an_unpinned_turn_of_a_scripted_session_is_decoded_with_the_schema_like_editor_send(tmp_path, coffee):
    from agent.editor import Editor
    from agent.graph.planning import decoding_schema

    live = _Constrained(schemas=[])
    planner = ScriptedPlanner(live=lambda: live, live_random=False)
    editor = Editor.open(coffee.resize((96, 64)), profile="tiny", session_dir=tmp_path / "s", planner=planner)
    try:
        planner.pin([], turn="turn 1")
        reply = editor.send("please do the autumn thing we talked about")
    finally:
        editor.close()
    assert reply.version == 1, reply.text
    assert live.schemas and live.schemas[0] == decoding_schema()
    assert reply.planned_by["model"] == "_Constrained"          # the live model planned it, not the script


def test_provenance_of_a_scripted_turn_names_pinned_replies_or_the_live_model():
    planner = ScriptedPlanner(live=lambda: _Constrained(schemas=[]))
    planner.pin(["pinned"])
    planner.invoke([HumanMessage("x")])
    assert planner.model_name == "pinned replies" and planner.endpoint is None
    planner.invoke([HumanMessage("x")])                           # the pins ran out: the live model answers
    assert planner.model_name == "_Constrained"
    planner.pin(["again"])
    assert planner.model_name == "pinned replies"                 # per turn


def test_the_runner_knows_the_live_planner_constrains_without_loading_it():
    from agent.planner import LlavaChatModel
    from agent.scripted.runner import _live_constrains

    assert _live_constrains() is True and _live_constrains() == LlavaChatModel.model_fields[
        "supports_json_schema"].default


# -- a whole run, and its replay (tiny models) -----------------------------------------------------

SESSION = """\
image: coffee
description: one question answered, then an edit, then history moves
seed: 5
turns:
  - user: make the cup red
    plan:
      reasoning: Recolour the cup red; the user does not say which.
      steps:
        - action: recolor
          referent: {phrase: cup}
          content: red
    expect: {asked: true, edited: false, unchanged: true, version: 0}
  - answer: 1
    expect: {edited: true, version: 1, within_mask: true}
  - user: make it look like a watercolour
    plan: {reasoning: style, steps: [{action: global, content: make it look like a watercolour}]}
    expect: {edited: true, version: 2}
  - undo: 1
    expect: {version: 1, reply_contains: undid}
"""


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    image = Image.open(__import__("tools.samples", fromlist=["x"]).sample_path("coffee")).convert("RGB")
    image.resize((192, 128)).save(root / "small.png")
    path = root / "s.yaml"
    path.write_text(SESSION.replace("image: coffee", "image: small.png"))
    code = run_main([str(path), "--profile", "tiny", "--out", str(root / "out")])
    return root, path, code


def test_a_run_writes_transcripts_versions_masks_and_a_contact_sheet(played):
    root, _, code = played
    out = root / "out"
    assert code == EXIT_OK
    record = read_json(out / "transcript.json")
    assert record.passed and record.profile == "tiny" and record.seed == 5
    assert [t.kind for t in record.turns] == ["user", "answer", "user", "undo"]
    assert record.turns[0].question is not None and (out / record.turns[0].question["image"]).is_file()
    assert [(v.number, v.turn) for v in record.versions] == [(0, 0), (1, 2), (2, 3)]
    for v in record.versions[1:]:
        assert (out / v.image).is_file() and v.mask and (out / v.mask).is_file() and v.seed is not None
        assert v.instruction
    assert record.turns[0].planner_replies and record.turns[0].pinned == 1
    assert all(t.seconds >= 0 for t in record.turns) and record.timings["total_s"] > 0
    md = (out / "transcript.md").read_text()
    for link in [record.original, *(v.image for v in record.versions), "contact_sheet.png"]:
        assert f"]({link})" in md
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.width > 3 * 100   # three versions side by side


def test_a_failed_expectation_exits_1_naming_the_turn(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("image: coffee\nturns:\n  - undo: 1\n  - user: make it better\n"
                    f"    plan: {PLAN_ASK}\n    expect: {{version: 2}}\n")
    assert run_main([str(path), "--profile", "tiny", "--out", str(tmp_path / "out")]) == EXIT_FAILED
    assert 'turn 2 ("make it better"): expected version 2, got 0' in capsys.readouterr().err
    assert not read_json(tmp_path / "out" / "transcript.json").passed


def test_replay_reproduces_the_same_versions(played, tmp_path):
    root, _, _ = played
    recorded = read_json(root / "out" / "transcript.json")
    assert run_main(["--replay", str(root / "out" / "transcript.json"), "--out", str(tmp_path / "r")]) == EXIT_OK
    replayed = read_json(tmp_path / "r" / "transcript.json")
    assert replayed.replay_of == str(root / "out" / "transcript.json")
    assert [v.sha256 for v in replayed.versions] == [v.sha256 for v in recorded.versions]
    assert [t.planner_replies for t in replayed.turns] == [t.planner_replies for t in recorded.turns]


def test_replay_reports_a_version_that_differs_from_the_recording(played, tmp_path, capsys):
    root, _, _ = played
    data = json.loads((root / "out" / "transcript.json").read_text())
    data["versions"][1]["sha256"] = "0" * 64
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "versions").mkdir()
    (rec / "versions" / "v00-original.png").write_bytes((root / "out" / data["original"]).read_bytes())
    (rec / "transcript.json").write_text(json.dumps(data))
    assert run_main(["--replay", str(rec / "transcript.json"), "--out", str(tmp_path / "r")]) == EXIT_FAILED
    assert 'turn 2 ("answer 1"): the replay made a different image than the recording' in capsys.readouterr().err


def test_contact_sheet_titles_mark_the_current_version_and_where_a_branch_starts():
    from agent.scripted.runner import _title
    from agent.scripted.transcript import VersionRecord

    def v(number, turn, parent):
        return VersionRecord(number=number, turn=turn, parent=parent, instruction="x", image="i.png", sha256="s")

    assert _title(v(0, 0, None), 3) == "v0 · original"
    assert _title(v(1, 1, 0), 3) == "v1 · turn 1"
    assert _title(v(2, 2, 1), 3) == "v2 · turn 2"
    assert _title(v(3, 5, 1), 3) == "v3 · turn 5 · from v1 · current"       # made after an undo: a branch


# -- an --out that cannot be made ----------------------------------------------------------------

def _session(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("image: coffee\nturns:\n  - undo: 1\n")
    return path


def test_an_out_under_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = _session(tmp_path)
    blocker = tmp_path / "hostname"
    blocker.write_text("not a folder")
    out = blocker / "x"
    assert run_main([str(path), "--out", str(out), "--profile", "tiny"]) == EXIT_BAD_FILE
    err = capsys.readouterr().err
    assert err == f"{path}: --out {out} cannot be created: {blocker} is not a folder; choose another folder\n"


@pytest.mark.parametrize(("out", "words"), [
    ("bad\x00name", "--out 'bad\\x00name' cannot be created: the path holds a NUL byte; choose another folder"),
    ("x" * 300, "cannot be created: the path or a name in it is too long; choose another folder"),
    ("/".join(["d" * 200] * 30), "cannot be created: the path or a name in it is too long; choose another folder"),
], ids=["NUL byte", "name too long", "path too long"])
def test_an_out_with_an_impossible_name_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, out, words):
    path = _session(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_main([str(path), "--out", out, "--profile", "tiny"]) == EXIT_BAD_FILE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{path}: --out ") and words in err, err


@pytest.mark.parametrize(("error", "words"), [
    (PermissionError(13, "Permission denied"), "permission denied"),
    (OSError(28, "No space left on device"), "no space left on the device"),
    (OSError(30, "Read-only file system"), "the file system is read-only"),
], ids=["permission", "no space", "read-only"])
def test_an_out_the_system_refuses_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, error, words):
    path = _session(tmp_path)

    def refuse(self, *args, **kwargs):
        error.filename = str(self)
        raise error

    monkeypatch.setattr(Path, "mkdir", refuse)
    out = tmp_path / "out"
    assert run_main([str(path), "--out", str(out), "--profile", "tiny"]) == EXIT_BAD_FILE
    err = capsys.readouterr().err
    assert err == f"{path}: --out {out} cannot be created: {words} ({out / 'versions'}); choose another folder\n"


def test_a_write_that_fails_mid_run_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    import agent.scripted.runner as runner

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "contact_sheet.png"))

    monkeypatch.setattr(runner, "contact_sheet", full)
    path = _session(tmp_path)
    assert run_main([str(path), "--out", str(tmp_path / "out"), "--profile", "tiny"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (f"{path}: could not run: [Errno 28] No space left on device: "
                   f"'{tmp_path / 'out' / 'contact_sheet.png'}'\n")


def test_a_transcript_keeps_whether_edits_were_verified_and_older_ones_read_as_unknown(played):
    from agent.scripted.transcript import SessionRecord

    root, _, _ = played
    data = json.loads((root / "out" / "transcript.json").read_text())
    assert data["verify"] is None                               # the file did not say: the profile's setting
    assert SessionRecord.from_json({**data, "verify": True}).verify is True
    data.pop("verify")
    assert SessionRecord.from_json(data).verify is None         # a transcript from before the key


def test_a_transcript_records_the_quality_and_engine_it_ran_with(played):
    from agent.scripted.transcript import SessionRecord
    from tools.profiles import TINY

    root, _, _ = played
    data = json.loads((root / "out" / "transcript.json").read_text())
    assert (data["quality"], data["engine"]) == (TINY.quality, "sd")
    for key in ("quality", "engine"):
        data.pop(key)
    assert SessionRecord.from_json(data).quality == ""        # a transcript from before the keys still reads


def test_the_summary_gives_no_rate_when_no_session_could_run():
    """A run whose every session could not run (a missing image...) took no time worth a rate: no
    "93604136 sessions per minute"; played sessions count, those that could not run do not."""
    from agent.scripted.summary import RunSummary, SessionSummary, markdown

    failed = SessionSummary(name="a", source="a.yaml", out="a", status="error", exit=3, error="no such image")
    none_ran = RunSummary(backend="serial", workers=1, seconds=1e-6, sessions=[failed])
    assert none_ran.totals["sessions_per_minute"] is None
    assert "per minute" not in markdown(none_ran)
    played = SessionSummary(name="b", source="b.yaml", out="b", status="passed", exit=0)
    run = RunSummary(backend="serial", workers=1, seconds=30.0, sessions=[failed, played])
    assert run.totals["sessions_per_minute"] == 2.0
    assert "(2 sessions per minute)" in markdown(run)
