"""A session's masks and reference images: stored once by content, and a missing, unreadable, resized or
swapped file read back as a one-line SessionDamagedError naming the file and what to do."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.session.errors import SessionDamagedError
from agent.session.store import SessionStore, content_id


@pytest.fixture
def store(tmp_path, coffee):
    s = SessionStore.create(tmp_path / "s", coffee.resize((96, 64)))
    yield s
    s.close()


def _mask(store: SessionStore, top: int) -> str:
    mask = np.zeros((64, 96), bool)
    mask[top:top + 10, 30:50] = True
    return store.put_mask(mask)


def _reload(store: SessionStore) -> None:
    store._masks.clear()                                       # noqa: SLF001 - read from disk, not the cache


def test_references_and_question_images_are_stored_once_by_their_pixels(store, coffee):
    picture = coffee.resize((40, 30)).convert("RGBA")           # kept as RGB
    ref = store.put_reference(picture)
    assert ref == content_id(picture.convert("RGB")) == store.put_reference(picture.convert("RGB"))
    assert len(list((store.root / "references").iterdir())) == 1
    assert np.array_equal(np.asarray(store.load_reference(ref)), np.asarray(picture.convert("RGB")))
    asked = store.put_question_image(picture)
    assert asked == ref and store.question_path(asked).is_file()
    assert store.question_path(asked) != store.reference_path(ref)                   # each kind in its own folder


@pytest.mark.parametrize("damage", ["missing", "garbage", "resized", "swapped"])
def test_a_damaged_mask_is_one_line_naming_the_file(store, damage):
    key, other = _mask(store, 10), _mask(store, 30)
    path = store.mask_path(key)
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    elif damage == "resized":
        Image.new("1", (20, 20)).save(path)
    else:
        path.write_bytes(store.mask_path(other).read_bytes())
    _reload(store)
    with pytest.raises(SessionDamagedError) as raised:
        store.load_mask(key)
    said = str(raised.value)
    assert "\n" not in said and str(path) in said and "revert to another version" in said
    if damage == "resized":
        assert "20x20, not 96x64" in said
    if damage == "swapped":
        assert "does not hold what its name says" in said
    assert np.array_equal(store.load_mask(other)[30:40, 30:50], np.ones((10, 20), bool))   # the others still read


@pytest.mark.parametrize("damage", ["missing", "garbage", "swapped"])
def test_a_damaged_reference_is_one_line_naming_the_file(store, coffee, damage):
    ref = store.put_reference(coffee.resize((40, 30)))
    other = store.put_reference(coffee.resize((30, 40)))
    path = store.reference_path(ref)
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not a picture")
    else:
        path.write_bytes(store.reference_path(other).read_bytes())
    with pytest.raises(SessionDamagedError) as raised:
        store.load_reference(ref)
    said = str(raised.value)
    assert "\n" not in said and str(path) in said and "give the reference again" in said
    assert store.load_reference(other).size == (30, 40)
