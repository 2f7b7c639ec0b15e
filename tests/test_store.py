"""The session folder: content-addressed images and masks, durable writes, one writer, damaged files, hygiene."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from agent.session.errors import SessionDamagedError, SessionLockedError, SessionReadOnlyError
from agent.session.store import SessionStore, content_id, is_session
from tools.errors import ImageSaveError, InvalidInputError


@pytest.fixture
def small(coffee):
    return coffee.resize((96, 64))


@pytest.fixture
def store(tmp_path, small):
    s = SessionStore.create(tmp_path / "s", small)
    yield s
    s.close()


def test_create_writes_original_version_zero_and_history(store, small):
    root = store.root
    assert is_session(root) and (root / "original.png").is_file()
    v0 = store.history.current
    store.flush()
    with Image.open(store.image_path(v0.image)) as stored:
        assert stored.format == "PNG" and content_id(stored.convert("RGB")) == v0.image
    assert content_id(small) == v0.image and len(v0.image) == 64
    assert np.array_equal(np.asarray(store.version_image(0)), np.asarray(small))
    assert json.loads((root / "history.json").read_text())["head"] == 0


def test_a_version_is_on_disk_as_raw_pixels_at_once_and_as_a_png_later(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small, background=False)       # nothing runs behind our back
    store._writer.background = True                                          # noqa: SLF001 - hold the PNG job
    store._writer.submit = lambda label, run: held.append(run)               # noqa: SLF001
    held: list = []
    edited = Image.fromarray(np.asarray(small)[::-1].copy())
    a = store.put_image(edited)
    raw = store.root / "versions" / f"{a}.ppm"
    assert raw.is_file() and not (store.root / "versions" / f"{a}.png").exists()
    with Image.open(raw) as im:                                              # a plain PPM any viewer reads
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(edited))
    store._decoded.clear()                                                   # noqa: SLF001 - read from disk
    assert np.array_equal(np.asarray(store.load_image(a)), np.asarray(edited))
    for run in held:
        run()
    assert (store.root / "versions" / f"{a}.png").is_file() and not raw.exists()
    store.close()


def test_images_round_trip_bit_identically(store, small):
    edited = Image.fromarray(np.asarray(small)[::-1].copy())
    a = store.put_image(edited)
    assert store.put_image(edited) == a                        # same pixels, same id, one file
    store.flush()
    store._decoded.clear()                                     # noqa: SLF001 - read from disk
    assert np.array_equal(np.asarray(store.load_image(a)), np.asarray(edited))
    assert len(list((store.root / "versions").glob("*.png"))) == 2
    assert list((store.root / "versions").glob("*.ppm")) == []


def test_masks_round_trip_as_bool(store):
    mask = np.zeros((64, 96), bool)
    mask[10:20, 30:50] = True
    m = store.put_mask(mask)
    assert store.mask_path(m).is_file()                        # on disk when put_mask returns
    store._masks.clear()                                       # noqa: SLF001
    back = store.load_mask(m)
    assert back.dtype == bool and np.array_equal(back, mask)


def test_drafts_are_promoted_then_cleared(store, small):
    d = store.put_draft(small.rotate(90))
    assert store.promote_draft(d) == d and store.image_path(d).is_file()
    store.persist_drafts()
    assert list((store.root / "drafts").iterdir())
    store.clear_drafts()
    assert list((store.root / "drafts").iterdir()) == []


def test_history_is_written_atomically_with_a_backup_and_reopened(store, small):
    v1 = store.history.commit(store.put_image(small.rotate(180)), instruction="turn it")
    store.save_history()
    store.history.undo()
    store.save_history()
    root = store.root
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]         # no temp files left behind
    assert json.loads((root / "history.json.bak").read_text())["head"] == 1   # the one before the last save
    store.close()
    again = SessionStore.open(root)
    assert again.history.head == 0 and again.history[1] == v1
    again.close()


class Crash(BaseException):
    """Stands in for the process dying (nothing may catch it)."""


def test_a_failed_or_interrupted_history_write_leaves_the_old_file_whole(store, small, monkeypatch):
    store.history.commit(store.put_image(small.rotate(180)), instruction="turn it")
    store.save_history()
    store.flush()                              # the background PNG is made before fsync starts failing
    path = store.root / "history.json"
    saved = path.read_bytes()
    store.history.undo()

    def die(fd):
        raise Crash()                          # the process dies after the new bytes were written, before the swap

    monkeypatch.setattr(os, "fsync", die)
    with pytest.raises(Crash):
        store.save_history()
    monkeypatch.undo()
    assert path.read_bytes() == saved and json.loads(saved)["head"] == 1

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ImageSaveError, match="history.json.*No space left"):
        store.save_history()
    monkeypatch.undo()
    assert path.read_bytes() == saved
    root = store.root
    (root / ".history.json.abc123.tmp").write_bytes(b"half")            # what a killed writer leaves
    store.close()
    again = SessionStore.open(root)
    assert again.history.head == 1 and not (root / ".history.json.abc123.tmp").exists()
    again.close()


def test_a_missing_image_off_the_current_branch_is_reported_and_of_the_head_opens_its_parent(store, small):
    for angle in (90, 180, 270):
        store.history.commit(store.put_image(small.rotate(angle)), instruction=f"turn {angle}")
    store.history.revert(1)
    store.save_history()
    store.flush()
    root, hist = store.root, store.history
    store.close()
    store.image_path(hist[2].image).unlink()
    again = SessionStore.open(root)
    assert again.missing == [2] and again.history.latest == 3                  # nothing is dropped
    assert np.array_equal(np.asarray(again.version_image()), np.asarray(small.rotate(90)))
    with pytest.raises(SessionDamagedError, match="missing"):
        again.version_image(2)
    again.close()
    store.image_path(hist[1].image).unlink()                                  # now the current version's own
    again = SessionStore.open(root)
    assert again.history.head == 0 and again.history.latest == 3 and again.missing == [1, 2]
    assert again.repairs == ["The image of version 1, the current one, is missing from versions/; the session "
                             "opened at version 0, made before it (put the file back and revert to 1 to see it)."]
    again.close()
    (root / "original.png").unlink()
    store.image_path(hist[0].image).unlink()                                  # no version on the way has one
    with pytest.raises(SessionDamagedError) as raised:
        SessionStore.open(root)
    assert "\n" not in str(raised.value)


def test_ids_that_are_not_hashes_never_become_paths(store):
    for bad in ("../../../tmp/evil", "/etc/passwd", "a" * 63, "A" * 64 + "/x"):
        with pytest.raises(InvalidInputError):
            store.image_path(bad)
        with pytest.raises(InvalidInputError):
            store.load_mask(bad)


def test_create_refuses_a_folder_with_files_and_open_refuses_a_non_session(tmp_path, small):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        SessionStore.create(tmp_path / "busy", small)
    with pytest.raises(InvalidInputError, match="not a chatedit session"):
        SessionStore.open(tmp_path / "busy")


@pytest.mark.parametrize("content", ["{not json", "[]", "null", '{"format": 2, "head": 0, "versions": {}}',
                                     '{"format": 2, "head": 0, "versions": [1, 2, 3]}', '{"format": 2, "head": 1e400}',
                                     "[" * 100_000, '{"format": 2, "head": 0, "versions": [' + "{" * 5000 + "]}",
                                     '\x00\xff garbage'])
def test_any_damaged_history_reopens_with_a_one_line_note_and_is_kept(store, content):
    root = store.root
    store.close()
    (root / "history.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    again = SessionStore.open(root)
    assert again.history.latest == 0 and len(again.repairs) == 1
    note = again.repairs[0]
    assert "\n" not in note and note.startswith("history.json was damaged") and "history.json.damaged" in note
    assert (root / "history.json.damaged").read_text(encoding="utf-8", errors="surrogateescape") == content
    again.close()
    (root / "history.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    (root / "original.png").unlink()
    (root / "history.json.bak").unlink(missing_ok=True)
    for path in (root / "versions").iterdir():
        path.unlink()
    with pytest.raises(SessionDamagedError) as raised:                     # nothing left to read back
        SessionStore.open(root)
    message = str(raised.value)
    assert "\n" not in message and "history.json" in message and "damaged" in message


def test_the_backup_is_read_back_when_the_history_is_damaged(store, small):
    store.history.commit(store.put_image(small.rotate(90)), instruction="turn")
    store.save_history()
    store.save_history()
    root = store.root
    store.close()
    (root / "history.json").write_text("[]")
    again = SessionStore.open(root)
    assert again.history.latest == 1 and again.history[1].instruction == "turn"
    assert "read back from history.json.bak" in again.repairs[0]
    again.close()


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize("replace_with", ["bomb", "other pixels", "garbage", "wrong size"])
def test_a_version_file_that_is_not_its_pixels_is_a_damaged_session_error(store, small, replace_with):
    a = store.put_image(small.rotate(90))
    store.flush()
    path = store.image_path(a)
    data = {"bomb": _png_header(30000, 30000), "garbage": b"not an image at all",
            "other pixels": None, "wrong size": None}[replace_with]
    if replace_with == "other pixels":
        small.rotate(180).save(path)
    elif replace_with == "wrong size":
        small.resize((10, 10)).save(path)
    else:
        path.write_bytes(data)
    store._decoded.clear()                                                    # noqa: SLF001 - read from disk
    with pytest.raises(SessionDamagedError) as raised:
        store.load_image(a)
    assert "\n" not in str(raised.value) and path.name in str(raised.value)


def test_checkpointer_is_sqlite_in_the_folder_a_damaged_one_set_aside_and_a_foreign_one_refused(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    saver = store.checkpointer()
    assert type(saver).__name__ == "SqliteSaver" and store.checkpoints_path.is_file()
    root = store.root
    store.close()
    (root / "checkpoints.sqlite").write_bytes(b"junk " * 1000)
    for path in root.glob("checkpoints.sqlite-*"):
        path.unlink()
    again = SessionStore.open(root)
    assert type(again.checkpointer()).__name__ == "SqliteSaver"               # a new one, the damaged one kept
    assert again.repairs and "moved aside to checkpoints.sqlite.damaged" in again.repairs[0]
    assert (root / "checkpoints.sqlite.damaged").read_bytes() == b"junk " * 1000
    again.close()
    (root / "checkpoints.sqlite").unlink()
    conn = sqlite3.connect(root / "checkpoints.sqlite")
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    again = SessionStore.open(root)
    with pytest.raises(SessionDamagedError, match="not chatedit's.*invoices"):
        again.checkpointer()
    again.close()


def test_one_writer_a_second_opener_is_told_who_holds_it_and_may_read(store, small):
    root = store.root
    with pytest.raises(SessionLockedError) as raised:
        SessionStore.open(root)
    message = str(raised.value)
    assert f"pid {os.getpid()}" in message and "read-only" in message and "\n" not in message
    viewer = SessionStore.open(root, read_only=True)
    assert viewer.history.head == 0 and np.array_equal(np.asarray(viewer.version_image()), np.asarray(small))
    with pytest.raises(SessionReadOnlyError):
        viewer.put_image(small.rotate(90))
    with pytest.raises(SessionReadOnlyError):
        viewer.save_history()
    viewer.close()
    store.close()
    again = SessionStore.open(root)                                          # once closed, anyone may open it
    again.close()


def test_opening_reports_files_that_belong_to_no_version_and_collect_removes_them(store, small):
    a = store.put_image(small.rotate(90))                                    # written, never committed
    store.flush()
    stray_mask = store.put_mask(np.ones((64, 96), bool))
    root = store.root
    store.close()
    again = SessionStore.open(root)
    names = sorted(p.name for p in again.find_strays())
    assert names == sorted([f"{a}.png", f"{stray_mask}.png"])
    assert (root / "versions" / f"{a}.png").exists()                          # reported, not deleted
    assert again.collect()[0] == 2
    assert not (root / "versions" / f"{a}.png").exists() and again.history.latest == 0
    again.close()
