"""The session folder: content-addressed images and masks, atomic history, the SQLite checkpointer."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from agent.session.store import SessionStore, content_id, is_session
from tools.errors import ImageSaveError, InvalidInputError


@pytest.fixture
def small(coffee):
    return coffee.resize((96, 64))


def test_create_writes_original_version_zero_and_history(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    root = store.root
    assert is_session(root) and (root / "original.png").is_file()
    v0 = store.history.current
    with Image.open(store.image_path(v0.image)) as stored:
        assert content_id(stored.convert("RGB")) == v0.image    # named by the hash of its pixels
    assert content_id(small) == v0.image and len(v0.image) == 64
    assert np.array_equal(np.asarray(store.version_image(0)), np.asarray(small))
    assert json.loads((root / "history.json").read_text())["head"] == 0


def test_images_round_trip_bit_identically(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    edited = Image.fromarray(np.asarray(small)[::-1].copy())
    a = store.put_image(edited)
    assert store.put_image(edited) == a                        # same pixels, same id, one file
    assert np.array_equal(np.asarray(store.load_image(a)), np.asarray(edited))
    assert len(list((store.root / "versions").glob("*.png"))) == 2


def test_masks_round_trip_as_bool(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    mask = np.zeros((64, 96), bool)
    mask[10:20, 30:50] = True
    m = store.put_mask(mask)
    back = store.load_mask(m)
    assert back.dtype == bool and np.array_equal(back, mask)


def test_drafts_are_promoted_then_cleared(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    d = store.put_draft(small.rotate(90))
    assert store.promote_draft(d) == d and store.image_path(d).is_file()
    store.clear_drafts()
    assert list((store.root / "drafts").iterdir()) == []


def test_history_is_written_atomically_and_reopened(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    v1 = store.history.commit(store.put_image(small.rotate(180)), instruction="turn it")
    store.save_history()
    store.history.undo()
    store.save_history()
    assert not [p for p in store.root.iterdir() if p.name.endswith(".tmp")]   # no temp files left behind
    again = SessionStore.open(store.root)
    assert again.history.head == 0 and again.history[1] == v1


class Crash(BaseException):
    """Stands in for the process dying (nothing may catch it)."""


def test_a_failed_or_interrupted_history_write_leaves_the_old_file_whole(tmp_path, small, monkeypatch):
    store = SessionStore.create(tmp_path / "s", small)
    store.history.commit(store.put_image(small.rotate(180)), instruction="turn it")
    store.save_history()
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
    assert SessionStore.open(store.root).history.head == 1

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ImageSaveError, match="history.json"):
        store.save_history()
    monkeypatch.undo()
    assert path.read_bytes() == saved
    temps = [p for p in store.root.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1                     # only the dead process's temp file; the failed write cleaned up
    assert SessionStore.open(store.root).history.head == 1


def test_missing_images_on_the_redo_branch_drop_that_branch_on_reopen(tmp_path, small, caplog):
    store = SessionStore.create(tmp_path / "s", small)
    for angle in (90, 180, 270):
        store.history.commit(store.put_image(small.rotate(angle)), instruction=f"turn {angle}")
    store.history.revert(1)
    store.save_history()
    saved = (store.root / "history.json").read_bytes()
    kept = store.history.versions[:2]
    store.image_path(store.history[2].image).unlink()       # version 3's image is still there

    with caplog.at_level(logging.WARNING, logger="agent.session.store"):
        again = SessionStore.open(store.root)
    assert again.history.head == 1 and again.history.versions == kept      # versions 0 and 1 untouched
    assert "[2]" in caplog.text and "redo" in caplog.text
    assert (store.root / "history.json").read_bytes() == saved           # opening rewrites nothing
    assert np.array_equal(np.asarray(again.version_image()), np.asarray(small.rotate(90)))

    store.image_path(kept[1].image).unlink()                 # now the current version itself is gone
    with pytest.raises(InvalidInputError, match=r"versions \[1, 2\]") as raised:
        SessionStore.open(store.root)
    assert "\n" not in str(raised.value)


def test_ids_that_are_not_hashes_never_become_paths(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
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


def test_damaged_history_is_a_clear_error(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    (store.root / "history.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="damaged"):
        SessionStore.open(store.root)


def test_checkpointer_is_sqlite_in_the_folder(tmp_path, small):
    store = SessionStore.create(tmp_path / "s", small)
    saver = store.checkpointer()
    assert type(saver).__name__ == "SqliteSaver"
    saver.setup()
    assert store.checkpoints_path.is_file()
    store.close()
