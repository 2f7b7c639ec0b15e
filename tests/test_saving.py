"""Saving off the reply's path: versions land in the background, in order, and are never lost quietly."""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

import agent.session.store
from agent.editor import Editor
from agent.graph.planning import MAX_IMAGE_SIDE, image_block
from agent.session.store import SessionStore, content_id
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.errors import ImageSaveError

SIZE = (150, 100)
DETS = {"cup": [det((10, 20, 50, 60), 0.8), det((95, 15, 140, 65), 0.78)], "table": [det((0, 70, 150, 100), 0.9)],
        "saucer": [det((20, 30, 120, 80), 0.9)]}


def recolor(phrase: str, colour: str) -> dict:
    return {"action": "recolor", "referent": {"phrase": phrase}, "content": colour}


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    opened = []

    def _make(*replies, session=None) -> Editor:
        planner = QueuePlanner().push(*replies)
        toolkit = FixedDetections(tiny_profile, {k: list(v) for k, v in DETS.items()})
        source = session if session is not None else coffee.resize(SIZE)
        editor = Editor.open(source, profile=tiny_profile, session_dir=None if session else tmp_path / "session",
                             planner=planner, toolkit=toolkit)
        opened.append(editor)
        return editor

    yield _make
    for editor in opened:
        try:
            editor.close()
        except ImageSaveError:
            pass


def head_on_disk(root) -> int:
    return json.loads((root / "history.json").read_text())["head"]


def test_the_reply_does_not_wait_for_the_versions_png_and_files_land_in_order(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")))
    root = editor.session_dir
    gate = threading.Event()
    encode = agent.session.store.png_bytes

    def slow(image):                         # the version's PNG waits until the test lets it go
        if image.mode == "RGB":
            assert gate.wait(30), "the test never opened the gate"
        return encode(image)

    monkeypatch.setattr(agent.session.store, "png_bytes", slow)
    reply = editor.send("blue table")
    assert reply.version == 1 and editor.current_version == 1          # replied while the PNG is not written
    new = editor.store.history[1].image
    assert not (root / "versions" / f"{new}.png").exists()
    assert head_on_disk(root) == 0                                   # history.json never names a missing image
    edited = np.asarray(editor.current_image)                        # served from memory meanwhile
    mask = editor.version_mask(1)
    assert mask is not None and mask.any() and np.array_equal(np.asarray(editor.version_image(1)), edited)
    gate.set()
    editor.flush()
    assert head_on_disk(root) == 1
    with Image.open(root / "versions" / f"{new}.png") as stored:
        assert np.array_equal(np.asarray(stored.convert("RGB")), edited)
        assert content_id(stored.convert("RGB")) == new
    assert editor.history[1].image_path.is_file() and editor.history[1].mask_path.is_file()


def test_history_paths_exist_when_handed_out(make):
    editor = make(plan(recolor("saucer", "white")))
    editor.send("white saucer")
    info = editor.history[1]                                         # waits for the files to land
    with Image.open(info.image_path) as stored, Image.open(info.mask_path) as mask:
        assert np.array_equal(np.asarray(stored.convert("RGB")), np.asarray(editor.current_image))
        assert (np.asarray(mask.convert("L")) > 127).any()


def test_a_version_that_cannot_be_written_is_kept_and_saved_once_the_disk_is_fixed(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")), plan(recolor("saucer", "white")))
    root = editor.session_dir
    write = agent.session.store._atomic_write                                # noqa: SLF001

    def full(path, data):
        if path.parent.name == "versions":
            raise ImageSaveError(f"could not write {path}: No space left on device; check the folder's "
                                 "permissions and free space")
        write(path, data)

    monkeypatch.setattr(agent.session.store, "_atomic_write", full)
    assert editor.send("blue table").version == 1
    edited = np.asarray(editor.current_image)
    for reply in (editor.send("white saucer"), editor.undo()):
        assert reply.error and "No space left on device" in reply.error and "\n" not in reply.text
        assert "kept in memory" in reply.text and reply.version is None
    assert editor.current_version == 1 and head_on_disk(root) == 0  # nothing else ran; the old file is whole
    assert np.array_equal(np.asarray(editor.current_image), edited)
    with pytest.raises(ImageSaveError, match="not saved yet"):
        editor.flush()

    monkeypatch.setattr(agent.session.store, "_atomic_write", write)         # space freed
    assert editor.undo().error is None and editor.current_version == 0
    assert editor.redo().error is None and head_on_disk(root) == 1
    with Image.open(editor.history[1].image_path) as stored:
        assert np.array_equal(np.asarray(stored.convert("RGB")), edited)
    assert editor.send("white saucer").version == 2


def test_closing_with_an_unwritable_version_says_so(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")))

    def refuse(path, data):
        raise ImageSaveError(f"could not write {path}: Permission denied")

    monkeypatch.setattr(agent.session.store, "_atomic_write", refuse)
    assert editor.send("blue table").version == 1
    with pytest.raises(ImageSaveError, match="Permission denied"):
        editor.close()
    assert editor.store._conn is None                                # noqa: SLF001 - closed all the same


def test_reopening_a_folder_still_open_here_sees_its_last_edit(make):
    editor = make(plan(recolor("table", "blue")))
    editor.send("blue table")
    again = make(session=editor.session_dir)                         # no close in between
    assert again.current_version == 1
    assert np.array_equal(np.asarray(again.current_image), np.asarray(editor.current_image))


def test_a_stop_before_the_version_landed_is_said_on_reopen(make, tmp_path, monkeypatch):
    editor = make(plan(recolor("table", "blue")))
    root = editor.session_dir
    gate = threading.Event()
    encode = agent.session.store.png_bytes
    monkeypatch.setattr(agent.session.store, "png_bytes", lambda image: (gate.wait(30), encode(image))[1])
    assert editor.send("blue table").version == 1
    copy = tmp_path / "after-the-crash"
    shutil.copytree(root, copy)                                      # the folder as a process dying now leaves it
    gate.set()
    monkeypatch.undo()

    again = make(session=copy)
    assert again.current_version == 0 and len(again.history) == 1
    said = again.conversation[-1][1]
    assert "version 1" in said and "lost" in said and "version 0" in said
    again._planner.push(plan(recolor("table", "blue")))              # noqa: SLF001
    assert again.send("blue table").version == 1


def test_a_question_after_a_draft_survives_reopening(make):
    editor = make(plan(recolor("saucer", "white"), recolor("cup", "red")))
    reply = editor.send("white saucer, then a red cup")
    assert reply.question is not None and reply.version is None
    root = editor.session_dir
    assert len(list((root / "drafts").glob("*.png"))) == 1          # the first step's draft waits on disk
    editor.close()

    again = make(session=root)
    reply = again.send("the left one")
    assert reply.version == 1 and [s["action"] for s in again.history[1].steps] == ["recolor", "recolor"]
    assert list((root / "drafts").iterdir()) == []


def test_the_planner_gets_the_sessions_png_as_it_is_or_a_shrunk_jpeg(coffee):
    small = coffee.resize(SIZE)
    data = agent.session.store.png_bytes(small)
    block = image_block(small, png=data)
    assert block["mime_type"] == "image/png" and base64.b64decode(block["base64"]) == data
    fresh = image_block(small)
    with Image.open(io.BytesIO(base64.b64decode(fresh["base64"]))) as sent:
        assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(small))      # lossless when small
    big = coffee.resize((4000, 3000))
    block = image_block(big, png=b"ignored: too large to send as it is")
    with Image.open(io.BytesIO(base64.b64decode(block["base64"]))) as sent:
        assert block["mime_type"] == "image/jpeg" and sent.format == "JPEG"
        assert max(sent.size) == MAX_IMAGE_SIDE and sent.size == (1536, 1152)


def test_a_plain_store_writes_at_once(tmp_path, coffee):
    store = SessionStore.create(tmp_path / "s", coffee.resize(SIZE))
    image_id = store.put_image(coffee.resize(SIZE).rotate(90))
    assert store.image_path(image_id).is_file() and not store.writing


def test_the_verifier_gets_jpegs_of_both_images(coffee):
    from agent.graph.planning import verify_result

    seen = []

    class Judge:
        def invoke(self, messages, **kwargs):
            seen.extend(b for b in messages[0].content if b["type"] == "image")
            return "yes"

    small = coffee.resize(SIZE)
    assert verify_result(Judge(), before=small, after=small.rotate(180), step="turn it") is True
    assert [b["mime_type"] for b in seen] == ["image/jpeg", "image/jpeg"]
    with Image.open(io.BytesIO(base64.b64decode(seen[1]["base64"]))) as sent:
        assert sent.size == SIZE
        error = np.abs(np.asarray(sent.convert("RGB"), float) - np.asarray(small.rotate(180), float)).mean()
        assert error < 3                                   # quality 95: the same picture to a judge


def test_the_writer_never_strands_a_job_submitted_as_its_thread_ends(monkeypatch):
    import sys

    from agent.session.writer import Writer

    monkeypatch.setattr(sys, "getswitchinterval", sys.getswitchinterval)
    sys.setswitchinterval(1e-6)                       # thread switches everywhere, the gap included
    try:
        for _ in range(2000):
            writer, landed = Writer(background=True), []
            writer.submit("a", lambda: landed.append("a"))
            writer.submit("b", lambda: landed.append("b"))
            writer.flush()
            assert landed == ["a", "b"] and not writer.busy
    finally:
        sys.setswitchinterval(0.005)


def test_an_interrupted_retry_is_retried_by_the_next_flush():
    from agent.session.writer import Writer

    writer, landed, attempts = Writer(background=True), [], []

    def image():
        attempts.append(1)
        if len(attempts) == 1:
            raise ImageSaveError("disk full")
        if len(attempts) == 2:
            raise KeyboardInterrupt
        landed.append("image")

    writer.submit("the image", image)
    writer.submit("the history", lambda: landed.append("history"))
    with pytest.raises(KeyboardInterrupt):
        writer.flush()                                 # the retry after "disk full" is interrupted
    assert writer.busy and landed == []
    writer.flush()
    assert landed == ["image", "history"] and not writer.busy and writer.error is None


def test_a_lost_edit_over_a_redo_branch_is_said_on_reopen(make, tmp_path, monkeypatch):
    editor = make(plan(recolor("table", "blue")), plan(recolor("saucer", "white")), plan(recolor("table", "green")))
    assert editor.send("blue table").version == 1
    assert editor.send("white saucer").version == 2
    editor.undo(2)
    gate = threading.Event()
    encode = agent.session.store.png_bytes
    monkeypatch.setattr(agent.session.store, "png_bytes", lambda image: (gate.wait(30), encode(image))[1])
    assert editor.send("green table").version == 1                   # a new version 1; the old 1 and 2 go
    copy = tmp_path / "after-the-crash"
    shutil.copytree(editor.session_dir, copy)
    gate.set()
    monkeypatch.undo()

    again = make(session=copy)
    assert again.current_version == 0 and len(again.history) == 3    # the old redo branch, as on disk
    said = again.conversation[-1][1]
    assert "version 1" in said and "lost" in said


def test_a_question_asked_after_a_draft_can_be_answered_after_a_crash(make, tmp_path, monkeypatch):
    import time

    editor = make(plan(recolor("saucer", "white"), recolor("cup", "red")))
    encode = agent.session.store.png_bytes

    def slow_masks(image):
        if image.mode == "L":
            time.sleep(0.3)
        return encode(image)

    monkeypatch.setattr(agent.session.store, "png_bytes", slow_masks)
    assert editor.send("white saucer, then a red cup").question is not None
    copy = tmp_path / "after-the-crash"
    shutil.copytree(editor.session_dir, copy)                        # right after the question, no close
    monkeypatch.undo()

    again = make(session=copy)
    assert again.pending_question is not None
    reply = again.answer(1)
    assert reply.version == 1 and reply.error is None and len(again.history[1].steps) == 2


def test_an_undo_whose_history_cannot_be_written_says_so_and_is_saved_later(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")))
    root = editor.session_dir
    assert editor.send("blue table").version == 1
    editor.flush()
    write = agent.session.store._atomic_write                                # noqa: SLF001

    def full(path, data):
        if path.name == "history.json":
            raise ImageSaveError(f"could not write {path}: No space left on device")
        write(path, data)

    monkeypatch.setattr(agent.session.store, "_atomic_write", full)
    reply = editor.undo()
    assert editor.current_version == 0 and head_on_disk(root) == 1
    assert reply.error and "could not be saved" in reply.text and "\n" not in reply.text
    assert editor.redo().error                                       # still unsaved: nothing else runs
    monkeypatch.setattr(agent.session.store, "_atomic_write", write)
    assert editor.redo().error is None and editor.current_version == 1 and head_on_disk(root) == 1
    editor.undo()
    assert head_on_disk(root) == 0
