"""A reply is a promise: what it announces is on disk when it returns; a full disk is a reply, never a hidden version."""

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
from agent.editor import Editor, SessionLockedError
from agent.graph.planning import MAX_IMAGE_SIDE, image_block
from agent.session.store import content_id
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

SIZE = (150, 100)
DETS = {"cup": [det((10, 20, 50, 60), 0.8), det((95, 15, 140, 65), 0.78)], "table": [det((0, 70, 150, 100), 0.9)],
        "saucer": [det((20, 30, 120, 80), 0.9)]}


def recolor(phrase: str, colour: str) -> dict:
    return {"action": "recolor", "referent": {"phrase": phrase}, "content": colour}


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    opened = []

    def _make(*replies, session=None, where=None, read_only=False) -> Editor:
        planner = QueuePlanner().push(*replies)
        toolkit = FixedDetections(tiny_profile, {k: list(v) for k, v in DETS.items()})
        source = session if session is not None else coffee.resize(SIZE)
        editor = Editor.open(source, profile=tiny_profile, session_dir=where or tmp_path / "session",
                             planner=planner, toolkit=toolkit, read_only=read_only)
        opened.append(editor)
        return editor

    yield _make
    for editor in opened:
        editor.close()


def on_disk(root) -> dict:
    return json.loads((root / "history.json").read_text())


def test_when_a_reply_returns_its_version_and_history_entry_are_on_disk(make, tmp_path):
    editor = make(plan(recolor("table", "blue")))
    root = editor.session_dir
    reply = editor.send("blue table")
    assert reply.version == 1
    copy = tmp_path / "as-a-kill-now-leaves-it"
    shutil.copytree(root, copy)                                      # no flush, no close: the folder as it is
    saved = on_disk(copy)
    assert saved["head"] == 1 and saved["versions"][1]["parent"] == 0
    image_id = saved["versions"][1]["image"]
    files = [p for p in (copy / "versions").glob(f"{image_id}.*")]
    assert files                                                     # as a PNG, or raw pixels until the PNG is made
    with Image.open(files[0]) as stored:
        assert content_id(stored.convert("RGB")) == image_id
        assert np.array_equal(np.asarray(stored.convert("RGB")), np.asarray(editor.current_image))
    assert (copy / "masks" / f"{saved['versions'][1]['mask']}.png").is_file()
    said = [json.loads(line) for line in (copy / "conversation.jsonl").read_text().splitlines()]
    assert [(m["role"], m["kind"]) for m in said] == [("user", "say"), ("assistant", "reply")]
    assert said[-1]["version"] == 1 and said[-1]["text"] == reply.text

    again = make(session=copy)
    assert again.current_version == 1 and again.opening_note is None
    assert np.array_equal(np.asarray(again.current_image), np.asarray(editor.current_image))


def test_history_paths_are_pngs_when_handed_out(make):
    editor = make(plan(recolor("saucer", "white")))
    editor.send("white saucer")
    info = editor.history[1]                                         # waits for the background PNG
    assert info.image_path.suffix == ".png" and info.parent == 0 and info.children == ()
    with Image.open(info.image_path) as stored, Image.open(info.mask_path) as mask:
        assert np.array_equal(np.asarray(stored.convert("RGB")), np.asarray(editor.current_image))
        assert (np.asarray(mask.convert("L")) > 127).any()


def test_a_version_that_cannot_be_written_is_a_reply_and_leaves_no_hidden_version(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")), plan(recolor("table", "blue")))
    root = editor.session_dir
    write = agent.session.store.atomic_write

    def full(path, data, **kwargs):
        if path.parent.name == "versions":
            raise OSError(28, "No space left on device")
        write(path, data, **kwargs)

    monkeypatch.setattr(agent.session.store, "atomic_write", full)
    reply = editor.send("blue table")
    assert reply.version is None and reply.error and "No space left on device" in reply.text
    assert "\n" not in reply.text and "Nothing changed" in reply.text
    assert editor.current_version == 0 and len(editor.history) == 1 and on_disk(root)["head"] == 0
    monkeypatch.undo()                                               # space freed
    assert editor.send("blue table").version == 1                    # the number was never taken


def test_an_undo_whose_history_cannot_be_written_stays_where_it_was(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")))
    root = editor.session_dir
    assert editor.send("blue table").version == 1
    write = agent.session.store.atomic_write

    def full(path, data, **kwargs):
        if path.name == "history.json":
            raise OSError(28, "No space left on device")
        write(path, data, **kwargs)

    monkeypatch.setattr(agent.session.store, "atomic_write", full)
    reply = editor.undo()
    assert reply.error and "No space left" in reply.text and "Still at version 1" in reply.text
    assert editor.current_version == 1 and on_disk(root)["head"] == 1
    monkeypatch.undo()
    assert editor.undo().error is None and on_disk(root)["head"] == 0


def test_a_real_full_disk_is_a_one_line_reply_and_nothing_saved_is_lost(make, small_disk, monkeypatch):
    editor = make(plan(recolor("table", "blue")), plan(recolor("saucer", "white")), plan(recolor("saucer", "white")),
                  where=small_disk.root / "session")
    root = editor.session_dir
    assert editor.send("blue table").version == 1
    editor.flush()
    before = (root / "history.json").read_bytes()
    recolour = editor.toolkit.recolor

    def fill_then_recolor(*args, **kwargs):
        result = recolour(*args, **kwargs)
        small_disk.fill()                                            # the disk fills while the edit runs
        return result

    monkeypatch.setattr(editor.toolkit, "recolor", fill_then_recolor)
    reply = editor.send("white saucer")
    assert reply.version is None and reply.error and "\n" not in reply.text
    assert "No space left" in reply.text or "disk is full" in reply.text
    assert editor.current_version == 1 and len(editor.history) == 2 and (root / "history.json").read_bytes() == before
    for call in (editor.undo, editor.redo):                           # moves on a full disk: replies too
        assert "\n" not in call().text
    small_disk.free()
    monkeypatch.undo()
    assert editor.current_version == 1
    reply = editor.send("white saucer")
    assert reply.version == 2 and reply.error is None
    root_copy = editor.session_dir
    editor.close()
    again = make(session=root_copy)
    assert again.current_version == 2 and [v.parent for v in again.history] == [None, 0, 1]


def test_a_question_after_a_draft_survives_reopening(make):
    editor = make(plan(recolor("saucer", "white"), recolor("cup", "red")))
    reply = editor.send("white saucer, then a red cup")
    assert reply.question is not None and reply.version is None
    root = editor.session_dir
    assert len(list((root / "drafts").iterdir())) == 1              # the first step's draft waits on disk
    editor.close()

    again = make(session=root)
    assert again.opening_note is None and again.pending_question is not None
    reply = again.send("the left one")
    assert reply.version == 1 and [s["action"] for s in again.history[1].steps] == ["recolor", "recolor"]
    assert list((root / "drafts").iterdir()) == []


def test_a_question_can_be_answered_after_a_crash_right_after_it_was_asked(make, tmp_path):
    editor = make(plan(recolor("saucer", "white"), recolor("cup", "red")))
    assert editor.send("white saucer, then a red cup").question is not None
    copy = tmp_path / "after-the-crash"
    shutil.copytree(editor.session_dir, copy)                        # right after the question, no close
    again = make(session=copy)
    assert again.pending_question is not None
    reply = again.answer(1)
    assert reply.version == 1 and reply.error is None and len(again.history[1].steps) == 2


def test_one_writer_a_second_editor_is_refused_and_may_open_read_only(make):
    editor = make(plan(recolor("table", "blue")))
    editor.send("blue table")
    with pytest.raises(SessionLockedError, match="already open.*read-only"):
        make(session=editor.session_dir)
    viewer = make(session=editor.session_dir, read_only=True)
    assert viewer.current_version == 1 and viewer.read_only
    reply = viewer.send("make it red")
    assert reply.error and "read-only" in reply.text and viewer.current_version == 1
    assert viewer.undo().error and editor.current_version == 1
    root = editor.session_dir
    editor.close()
    assert make(session=root).current_version == 1                   # free again once closed


def test_a_session_on_a_read_only_filesystem_opens_read_only_and_refuses_changes(make, read_only_view):
    from agent.editor import SessionReadOnlyError

    editor = make(plan(recolor("table", "blue")))
    assert editor.send("blue table").version == 1
    root = editor.session_dir
    editor.close()
    frozen = read_only_view(root)
    with pytest.raises(SessionReadOnlyError) as refused:
        make(session=frozen)
    assert "Read-only file system" in str(refused.value) and "read-only" in str(refused.value)
    assert "\n" not in str(refused.value)
    viewer = make(session=frozen, read_only=True)
    assert viewer.current_version == 1 and viewer.conversation[-1][1].endswith("(version 1)")
    assert np.array_equal(np.asarray(viewer.current_image), np.asarray(viewer.version_image(1)))
    for reply in (viewer.send("make it red"), viewer.undo(), viewer.revert(0)):
        assert reply.error and "read-only" in reply.text and "\n" not in reply.text
    assert viewer.current_version == 1


def test_two_threads_on_one_editor_lose_no_turn_and_build_on_the_current_version(make):
    editor = make(*[plan(recolor("table", c)) for c in ("red", "green", "blue", "white", "black", "grey")])
    errors: list[BaseException] = []

    def worker(colours):
        try:
            for colour in colours:
                reply = editor.send(f"{colour} table")
                assert reply.version is not None, reply
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(c,)) for c in (("a", "b", "c"), ("d", "e", "f"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    history = editor.history
    assert len(history) == 7 and [v.parent for v in history] == [None, 0, 1, 2, 3, 4, 5]   # one chain, no gaps
    said = editor.conversation
    assert [r for r, _ in said].count("user") == 6 and [r for r, _ in said].count("assistant") == 6


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


def test_a_png_that_cannot_be_made_leaves_the_raw_pixels_and_reopening_makes_it(make, monkeypatch):
    editor = make(plan(recolor("table", "blue")))
    encode = agent.session.store.png_bytes

    def broken(image):
        if image.mode == "RGB":                                      # a version's PNG (masks are 1-bit)
            raise OSError(28, "No space left on device")
        return encode(image)

    monkeypatch.setattr(agent.session.store, "png_bytes", broken)
    assert editor.send("blue table").version == 1
    editor.flush()
    image_id = editor.store.history[1].image
    root = editor.session_dir
    assert (root / "versions" / f"{image_id}.ppm").is_file() and editor.store._writer.failures  # noqa: SLF001
    monkeypatch.undo()
    editor.close()
    again = make(session=root)
    again.flush()
    assert (root / "versions" / f"{image_id}.png").is_file() and not (root / "versions" / f"{image_id}.ppm").exists()
    assert np.array_equal(np.asarray(again.current_image), np.asarray(editor.current_image))


def test_a_writer_job_that_dies_of_a_base_exception_never_hangs_flush(monkeypatch):
    from agent.session.writer import Writer

    class Crash(BaseException):
        pass

    died = threading.Event()
    monkeypatch.setattr(threading, "excepthook", lambda args: died.set())    # the thread's death, seen here
    writer, landed = Writer(background=True), []

    def die():
        raise Crash()

    writer.submit("dies", die)
    writer.submit("after", lambda: landed.append("after"))
    done = threading.Event()
    threading.Thread(target=lambda: (writer.flush(), done.set()), daemon=True).start()
    assert done.wait(10), "flush hung on a writer thread that died"
    assert landed == ["after"] and not writer.busy and died.wait(10)


def test_reopening_on_a_full_disk_is_a_one_line_error_or_opens_and_says_so(make, small_disk):
    from tools.errors import ChatEditError

    editor = make(plan(recolor("table", "blue")), where=small_disk.root / "session")
    assert editor.send("blue table").version == 1
    root = editor.session_dir
    editor.close()
    for path in root.glob("checkpoints.sqlite*"):                    # it must be made again, on a full disk
        path.unlink()
    small_disk.fill()
    try:
        again = make(session=root)
    except ChatEditError as e:
        assert "\n" not in str(e) and ("space" in str(e) or "full" in str(e)), str(e)
    else:
        assert again.current_version == 1 and "\n" not in again.undo().text
        again.close()
    small_disk.free()
    assert make(session=root).current_version in (0, 1)
