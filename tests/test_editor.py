"""The public Editor API: sessions on disk, turns, undo/redo/revert, reopening, exports, failures and crashes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agent.editor import Editor, Reply, VersionInfo
from tests.agent_fakes import FixedDetections, QueuePlanner, plan
from tests.editor_helpers import DETS, SIZE, Opener, pixels, recolor


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    """Open (or reopen) an editor on a small coffee photo with fixed detections and a queue planner."""
    opener = Opener(tmp_path, coffee, tiny_profile)
    yield opener
    opener.close_all()


def test_open_makes_a_session_folder(make, coffee):
    editor = make()
    root = editor.session_dir
    assert (root / "original.png").is_file() and (root / "history.json").is_file()
    assert editor.current_version == 0
    assert np.array_equal(pixels(editor), np.asarray(coffee.resize(SIZE)))
    [v0] = editor.history
    assert isinstance(v0, VersionInfo) and v0.number == 0 and v0.image_path.is_file() and v0.mask_path is None
    assert editor.profile.name == "tiny" and editor.pending_question is None


def test_open_an_image_file_by_path(tmp_path, tiny_profile, coffee):
    path = tmp_path / "photo.png"
    coffee.resize(SIZE).save(path)
    with Editor.open(path, profile=tiny_profile, session_dir=tmp_path / "s", planner=QueuePlanner(),
                     toolkit=FixedDetections(tiny_profile, {})) as editor:
        assert editor.current_image.size == SIZE


def test_compound_turn_makes_one_version_listing_both_steps(make):
    editor = make(plan({"action": "recolor", "referent": {"phrase": "saucer"}, "content": "white"},
                       {"action": "recolor", "referent": {"phrase": "table"}, "content": "blue"}))
    reply = editor.send("make the saucer white and the table blue")
    assert isinstance(reply, Reply) and reply.version == 1 and reply.error is None and reply.question is None
    assert reply.plan is not None and len(reply.plan.steps) == 2 and len(reply.planner_replies) == 1
    info = editor.history[1]
    assert [s["action"] for s in info.steps] == ["recolor", "recolor"]
    assert info.instruction == "make the saucer white and the table blue"
    assert info.mask_path is not None and info.mask_path.is_file() and info.image_path.is_file()
    assert info.models["grounding"] == "tiny/grounding-dino" and info.created


def test_undo_redo_revert_are_bit_identical_and_an_edit_after_undo_branches(make):
    editor = make(recolor("saucer", "white"), recolor("table", "blue"), recolor("saucer", "green"))
    original = pixels(editor)
    editor.send("white saucer")
    one = pixels(editor)
    editor.send("blue table")
    two = pixels(editor)
    assert not np.array_equal(one, two)

    assert editor.undo().text.startswith("Undid 1 edit") and editor.current_version == 1
    assert np.array_equal(pixels(editor), one)
    editor.redo()
    assert np.array_equal(pixels(editor), two)
    editor.revert(0)
    assert np.array_equal(pixels(editor), original) and editor.current_version == 0
    assert "nothing to undo" in editor.undo().text
    editor.redo(2)
    assert np.array_equal(pixels(editor), two)
    editor.undo(2)
    assert np.array_equal(pixels(editor), original)
    assert editor.revert(5).error                             # no such version: a reply, not an exception

    editor.redo()
    reply = editor.send("green saucer")                       # an edit at version 1 branches; version 2 is kept
    assert reply.version == 3 and len(editor.history) == 4
    assert "Started a new branch from v1; v2 is kept" in reply.text
    assert [(v.number, v.parent, v.children) for v in editor.history] == [(0, None, (1,)), (1, 0, (2, 3)),
                                                                          (2, 1, ()), (3, 1, ())]
    assert "green" in editor.history[3].instruction and "nothing to redo" in editor.redo().text.lower()
    assert editor.revert(2).text == "Switched to version 2, on another branch (made from v1)."
    assert np.array_equal(pixels(editor), two)                # the dropped-looking branch is all there

    root = editor.session_dir
    editor.close()
    again = make(session=root)                                # the tree survives reopening
    assert again.current_version == 2 and len(again.history) == 4
    from PIL import Image

    with Image.open(again.history[2].image_path) as stored:
        assert np.array_equal(pixels(again), np.asarray(stored.convert("RGB")))
    again.undo(2)
    assert np.array_equal(pixels(again), original)
    assert again.redo().text == "Redid 1 edit; now at version 1." and again.redo().text.endswith("version 2.")
    again.undo(2)
    head = json.loads((root / "history.json").read_text())["head"]
    assert head == 0


def test_direct_history_calls_never_ask_the_planner(make):
    editor = make()
    editor.undo()
    editor.redo()
    editor.revert(0)
    assert editor._planner.calls == 0                         # noqa: SLF001 - the queue would raise if asked


def test_direct_history_calls_refuse_bad_arguments_with_a_reply(make):
    editor = make(recolor("saucer", "white"))
    editor.send("white saucer")
    for call, arg in [("undo", "2"), ("undo", 0), ("redo", 1.5), ("redo", True), ("revert", None),
                      ("revert", True), ("revert", -1), ("revert", 10**30), ("revert", 10**5000)]:
        reply = getattr(editor, call)(arg)
        assert reply.error and "\n" not in reply.text and len(reply.text) < 200, (call, arg, reply)
        assert editor.current_version == 1 and type(editor.current_version) is int, (call, arg)
    assert editor.revert(0).error is None and editor.current_version == 0
    assert editor.undo(10**30).error is None and editor.redo(10**30).error is None and editor.current_version == 1


def test_a_revert_to_an_unbounded_version_is_an_invalid_plan_not_a_crash(make):
    huge = plan({"action": "revert", "version": 10**30})
    editor = make(huge, huge, recolor("saucer", "white"))
    reply = editor.send("go to version 10^30")
    assert reply.error and "version" in reply.error and "Nothing changed" in reply.text
    assert "64-bit" not in reply.text and editor.current_version == 0
    assert editor.send("white saucer").version == 1          # the checkpoint still works


def test_bad_planner_output_and_a_crashing_planner_are_replies(make):
    editor = make("not json at all", "{still not json")
    reply = editor.send("do the thing")
    assert reply.error and reply.version is None and editor.current_version == 0
    reply = editor.send("again")                              # the queue is empty: the model raises
    assert reply.error and reply.version is None
    assert editor.send("   ").text.startswith("Say what to change")
    assert editor.answer("2").error == "no open question"


def test_an_unexpected_tool_failure_is_a_reply_and_the_session_goes_on(make, monkeypatch):
    editor = make(recolor("saucer", "white"), recolor("saucer", "white"))

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(editor.toolkit, "recolor", boom)
    reply = editor.send("white saucer")
    assert reply.error and "out of memory" in reply.text and editor.current_version == 0
    monkeypatch.undo()
    assert editor.send("white saucer").version == 1


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: nothing may catch it)."""


def test_a_crash_mid_edit_loses_only_the_edit_in_flight(make, monkeypatch):
    editor = make(recolor("saucer", "white"))
    editor.send("white saucer")
    root = editor.session_dir
    editor._planner.push(recolor("table", "blue"))           # noqa: SLF001

    def die(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(editor.toolkit, "recolor", die)
    with pytest.raises(Crash):
        editor.send("blue table")
    editor.close()

    again = make(recolor("table", "blue"), session=root)
    assert again.current_version == 1 and len(again.history) == 2
    assert list((root / "drafts").iterdir()) == []
    assert again.conversation[-1][1] == "The session stopped before \"blue table\" was done; nothing changed."
    assert again.send("blue table").version == 2


def test_a_crash_after_history_json_is_saved_says_the_edit_was_saved(make, monkeypatch):
    editor = make(recolor("saucer", "white"))
    root = editor.session_dir
    save = editor.store.save_history

    def save_then_die():
        save()
        raise Crash()                                         # history.json holds version 1; the checkpoint not

    monkeypatch.setattr(editor.store, "save_history", save_then_die)
    with pytest.raises(Crash):
        editor.send("white saucer")
    editor.close()

    again = make(session=root)
    assert again.current_version == 1 and again.history[1].instruction == "white saucer"
    said = again.conversation[-1][1]
    assert "saved as version 1" in said and "lost" not in said and "nothing changed" not in said.lower()
    assert again.pending_question is None and list((root / "drafts").iterdir()) == []


def test_the_checkpoint_holds_no_image_data(make):
    editor = make(plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "red"},
                       {"action": "recolor", "referent": {"phrase": "table"}, "content": "blue"}))
    editor.send("red cup and blue table")
    assert editor.answer("the left one").version == 1
    config = {"configurable": {"thread_id": "session"}}
    values = editor.graph.get_state(config).values
    plain = (str, int, float, bool, type(None))

    def walk(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                assert isinstance(k, str), where
                walk(v, f"{where}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif hasattr(value, "model_dump"):                            # a typed model: its fields
            walk(value.model_dump(), where)
        else:
            assert isinstance(value, plain), f"{where} holds a {type(value).__name__}"
            assert not isinstance(value, str) or len(value) < 2000, f"{where} is a {len(value)}-char string"

    walk(values, "state")
    assert values["records"] and values["version"] == 1
    saver = editor.graph.checkpointer
    checkpoint = saver.get_tuple(config).checkpoint
    _, blob = saver.serde.dumps_typed(checkpoint)
    assert len(blob) < 64 * 1024


def test_cancel_from_progress_stops_the_edit_with_nothing_changed(make):
    editor = make(plan({"action": "remove", "referent": {"phrase": "saucer"}}))
    stages = []

    def progress(stage, step, total):
        stages.append(stage)
        if stage == "edit":
            editor.cancel()

    editor.on_progress = progress
    reply = editor.send("remove the saucer")
    assert "Cancelled" in reply.text and reply.version is None and editor.current_version == 0
    work = [s for s in stages if not s.startswith("load ")]
    assert work[:3] == ["plan", "locate", "segment"]
    assert "load segmentation" in stages and "load inpainting" in stages      # model loads are announced


def test_captioned_global_step_runs_diffedit_and_keeps_pixels_outside_its_mask(make):
    editor = make(plan({"action": "global", "referent": {"phrase": "a cup of coffee on a table"},
                        "content": "a cup of tea on a table"}))
    before = pixels(editor)
    reply = editor.send("turn the coffee into tea")
    assert reply.version == 1 and reply.error is None, reply.text
    info = editor.history[1]
    assert info.steps[0]["action"] == "global" and info.steps[0]["operation"] == "diffedit"
    region = np.asarray(Image.open(info.mask_path).convert("L")) > 127
    assert region.shape == before.shape[:2]
    assert np.array_equal(pixels(editor)[~region], before[~region])


def test_sample_name_opens_the_bundled_photo(tmp_path, tiny_profile):
    with Editor.open("chelsea", profile=tiny_profile, session_dir=tmp_path / "s", planner=QueuePlanner(),
                     toolkit=FixedDetections(tiny_profile, {})) as editor:
        assert editor.current_image.size == (451, 300)


def test_rgba_photo_edited_in_a_session_exports_with_its_alpha(tmp_path, tiny_profile, coffee):
    rgba = coffee.resize(SIZE).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, SIZE[0], dtype=np.uint8), (SIZE[1], 1))
    rgba.putalpha(Image.fromarray(alpha))
    path = tmp_path / "cut-out.png"
    rgba.save(path)
    planner = QueuePlanner().push(recolor("cup", "green", selector="leftmost"))
    with Editor.open(path, profile=tiny_profile, session_dir=tmp_path / "s", planner=planner,
                     toolkit=FixedDetections(tiny_profile, DETS)) as editor:
        assert editor.send("make the cup green").version == 1
        out = editor.export(tmp_path / "out.png")
        region = np.asarray(Image.open(editor.history[1].mask_path).convert("L")) > 127
    exported = Image.open(out)
    assert exported.mode == "RGBA" and exported.text["chatedit:instruction"] == "make the cup green"
    got = np.asarray(exported)
    assert np.array_equal(got[..., 3], alpha)
    assert np.array_equal(got[..., :3][~region], np.asarray(rgba)[..., :3][~region])
    with Editor.open(tmp_path / "s", profile=tiny_profile, planner=QueuePlanner(),
                     toolkit=FixedDetections(tiny_profile, DETS)) as again:
        assert np.array_equal(np.asarray(Image.open(again.export(tmp_path / "v0.png", version=0)))[..., 3], alpha)


def test_the_tiny_profiles_real_llava_plans_a_turn_end_to_end(tmp_path, tiny_profile, coffee):
    """No fake anywhere: the random tiny LLaVA, constrained to the plan schema, drives the real graph.

    Left as it is, a random-weight planner is never asked (the offline grammar plans: test_first_run);
    here it is told it is real, so its constrained reply takes the planner's path.
    """
    from agent.planner import load_planner

    llava = load_planner(tiny_profile).model_copy(update={"random_weights": False})
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s", planner=llava) as editor:
        reply = editor.send("remove the cup and make the table white")
        assert reply.plan is not None, reply.text          # the constrained reply validated as a Plan
        assert len(reply.planner_replies) == 1              # first try: no repair needed
        assert reply.plan.steps and reply.plan.reasoning
        assert reply.text and "Traceback" not in reply.text and "\n" not in reply.text
        edits: list[str] = []                                 # the edits the plan should have committed
        for step in reply.plan.steps:
            if step.action == "ask":
                break                                         # an ask ends the plan
            if step.action in ("undo", "redo", "revert"):
                edits = []                                    # a history move drops the turn's edits
            elif step.action not in ("answer",):
                edits.append(step.action)
        if reply.version is not None:
            assert reply.version == 1 == editor.current_version and reply.error is None
            assert [s["action"] for s in editor.history[1].steps] == edits
            assert editor.history[1].instruction == "remove the cup and make the table white"
        else:
            assert editor.current_version == 0 and len(editor.history) == 1
            assert np.array_equal(pixels(editor), np.asarray(coffee.resize(SIZE)))
            assert not edits or "othing changed" in reply.text or "othing else changed" in reply.text, reply.text


def test_damaged_session_files_are_one_line_errors_and_a_damaged_image_is_a_reply(make, tmp_path):
    from agent.editor import SessionDamagedError

    editor = make(recolor("saucer", "white"), recolor("table", "blue"))
    assert editor.send("white saucer").version == 1
    root = editor.session_dir
    editor.flush()
    head_file = editor.history[1].image_path
    editor.close()

    head_file.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)                 # the current version's file, broken
    again = make(session=root)                                                # opens at the version before it
    assert again.current_version == 0 and "The image of version 1, the current one, is damaged" in again.opening_note
    with pytest.raises(SessionDamagedError) as raised:
        again.version_image(1)
    assert "\n" not in str(raised.value) and head_file.name in str(raised.value)
    again.revert(1)
    reply = again.send("blue table")                                          # a reply, never a raise
    assert reply.error and reply.version is None and "\n" not in reply.text
    assert again.revert(0).error is None and again.current_version == 0     # the way out still works
    again.close()

    (root / "checkpoints.sqlite").write_bytes(b"this is not a database" * 100)
    for path in root.glob("checkpoints.sqlite-*"):
        path.unlink()
    reopened = make(session=root)                                             # set aside, said in one line
    assert "checkpoints.sqlite was damaged" in reopened.opening_note and "\n" not in reopened.opening_note
    assert reopened.current_version == 0 and len(reopened.history) == 2 and reopened.conversation
